"""Stage 2, reconcile: from cell grids to the reconciled frames (`core.frames.Reconciled`).

`sheets` types each sheet and finds its header, `values` converts each cell, `convert` runs one converter
per sheet type (`registry`: partners, KPIs; `figures`: FX rates, targets, actuals; `plans`: commitments,
check-ins) over a shared `context`, with references resolved by `refs`; `load` is read + reconcile for a
folder."""
