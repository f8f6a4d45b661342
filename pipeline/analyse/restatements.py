"""Restated figures: past quarters whose figure in this quarter's workbooks differs from what the history
recorded when that quarter was reviewed (the evidence of the KPI_RESTATED flag, `pipeline.analyse.flags`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.core.periods import Quarter


def restatements(kpi_quarterly: pd.DataFrame, recorded: pd.DataFrame | None, quarter: Quarter, tolerance: float) -> pd.DataFrame:
    """Past quarters (before ``quarter``) whose workbook figure now differs from what history recorded by
    more than ``tolerance`` (relative). Columns partner_id, kpi_id, quarter, qindex, source, recorded, now."""
    cols = ["partner_id", "kpi_id", "quarter", "qindex", "source", "recorded", "now"]
    if recorded is None or not len(recorded):
        return pd.DataFrame(columns=cols)
    kq = kpi_quarterly[(kpi_quarterly["origin"] == "workbook") & (kpi_quarterly["qindex"] < quarter.index)]
    now = kq.melt(id_vars=["partner_id", "kpi_id", "quarter", "qindex"], value_vars=["internal", "partner"],
                  var_name="source", value_name="now").dropna(subset=["now"])
    rec = recorded[recorded["source"].isin(["internal", "partner"])].rename(columns={"value": "recorded"})
    m = now.merge(rec[["partner_id", "kpi_id", "qindex", "source", "recorded"]], on=["partner_id", "kpi_id", "qindex", "source"])
    base = m["recorded"].abs()
    gap = (m["now"] - m["recorded"]).abs()
    moved = np.where(base > 0, gap > tolerance * base, gap > 0)
    return m.loc[moved, cols].sort_values(["partner_id", "kpi_id", "qindex", "source"]).reset_index(drop=True)
