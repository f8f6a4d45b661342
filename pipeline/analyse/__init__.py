"""Stage 3, analyse: pure functions from the reconciled frames to the quarter's `core.frames.Analysis`.

`kpis` (attainment, trends, disagreements), `commitments` (status, delivery, track record), `flags`,
`health`, and `analysis`, which runs them and slices one partner's view; `history` is the SQLite record
of earlier quarters the analysis compares with."""
