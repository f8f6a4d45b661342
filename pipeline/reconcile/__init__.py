"""Stage 2, reconcile: from cell grids to the reconciled frames (`core.frames.Reconciled`).

`sheets` types each sheet and finds its header, `values` converts each cell, `convert` resolves
references across sheets and files, and `load` is read + reconcile for a folder."""
