"""Stage 6, write: the files a run leaves behind. `outputs` (names, flags.csv, manifest, reconciled.xlsx
through `xlsx`), `feedback` (annotated copies of the workbooks with problems), `templates` (the blank
input workbooks), `cache` (reviews kept by what they are made from), `synthetic` (generated portfolios
for tests and the bench)."""
