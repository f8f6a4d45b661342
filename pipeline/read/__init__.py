"""Stage 1, discover and read: from the input folder to cell grids (`raw.RawWorkbook`), safely.

`discover` lists the candidate files, `safety` sniffs and hardens them, `reader` reads each one in a
worker process under the per-file limits, `cache` keeps the grids of files read before."""
