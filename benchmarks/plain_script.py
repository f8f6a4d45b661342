"""The script an analyst would write: the baseline `make bench --compare` measures against.

pandas.read_excel (openpyxl) of every sheet, a scorecard per partner for the last quarter, one pyplot
chart per KPI with tight_layout, one reportlab PDF per partner. No reconciliation, flags or history.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path


def run(input_dir: Path, output_dir: Path, quarter: str) -> dict[str, float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Table

    times = {}
    t0 = time.perf_counter()
    frames: dict[str, list[pd.DataFrame]] = {}
    for path in sorted(Path(input_dir).rglob("*.xlsx")):
        for name, df in pd.read_excel(path, sheet_name=None, engine="openpyxl").items():
            if name == "Partners" or name == "Actuals":
                # the plain script knows where the title rows are: it re-reads with header=2 when needed
                if "partner_id" not in df.columns:
                    df = pd.read_excel(path, sheet_name=name, header=2, engine="openpyxl")
            frames.setdefault(name, []).append(df)
    partners = pd.concat(frames["Partners"])
    kpis = pd.concat(frames["KPIs"])
    targets = pd.concat(frames["Targets"])
    actuals = pd.concat(frames["Actuals"])
    times["read"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    actuals = actuals[actuals["source"] == "internal"]
    chart_time = 0.0
    for pid, name in zip(partners["partner_id"], partners["partner_name"]):
        a = actuals[actuals["partner_id"] == pid]
        t = targets[targets["partner_id"] == pid]
        story = [Paragraph(f"{name}: quarterly review {quarter}", getSampleStyleSheet()["Title"])]
        rows = [["KPI", "Target", "Actual", "Attainment"]]
        for kid, kname in zip(kpis["kpi_id"], kpis["kpi_name"]):
            series = a[a["kpi_id"] == kid].sort_values("period")
            tq = t[(t["kpi_id"] == kid) & (t["period"] == quarter)]["target"]
            aq = series[series["period"] == quarter]["value"]
            tv = float(tq.iloc[0]) if len(tq) else float("nan")
            av = float(aq.iloc[0]) if len(aq) else float("nan")
            rows.append([kname, f"{tv:,.0f}", f"{av:,.0f}", f"{av / tv:.0%}" if tv else ""])
            c0 = time.perf_counter()
            fig, ax = plt.subplots(figsize=(6, 2.5))
            ax.plot(series["period"], series["value"], marker="o")
            ax.set_title(kname)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=100)
            plt.close(fig)
            chart_time += time.perf_counter() - c0
            buf.seek(0)
            story.append(Image(buf, width=420, height=175))
        story.insert(1, Table(rows))
        SimpleDocTemplate(str(output_dir / f"{pid}.pdf"), pagesize=A4).build(story)
    times["charts"] = chart_time
    times["pdfs"] = time.perf_counter() - t0 - chart_time
    return times


if __name__ == "__main__":
    t = time.perf_counter()
    print(run(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]), time.perf_counter() - t)
