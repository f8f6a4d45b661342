"""A synthetic portfolio written as the workbooks teams send: for the benchmark and end-to-end tests.

`write_portfolio(folder, partners=200)` writes a registry, a KPI plan (KPIs + Targets, with a ``*``
default row), one internal actuals export (long layout), one partner-returned actuals workbook per
fourth partner (their own figures), and a commitments log with check-ins. Deterministic per seed.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.periods import Quarter, quarter_range

KPI_SHAPES = [  # (name, unit, direction, aggregation, base)
    ("Sourced pipeline", "currency", "higher", "sum", 400_000),
    ("Closed-won revenue", "currency", "higher", "sum", 150_000),
    ("Certified consultants", "count", "higher", "last", 25),
    ("Joint customer NPS", "score", "higher", "mean", 40),
    ("Deal registration approval time", "days", "lower", "mean", 6),
    ("Win rate", "percent", "higher", "mean", 0.3),
    ("Co-sell opportunities", "count", "higher", "sum", 30),
    ("Marketplace transactions", "count", "higher", "sum", 60),
    ("Support escalations", "count", "lower", "sum", 8),
    ("Joint webinars", "count", "higher", "sum", 3),
    ("Renewal rate", "percent", "higher", "mean", 0.88),
    ("Time to first value", "days", "lower", "mean", 40),
]
NAMES_A = ["Bright", "North", "Kestrel", "Lumen", "Silver", "Blue", "Iron", "Summit", "Harbor", "Cedar", "Nova", "Vertex"]
NAMES_B = ["wave", "star", "field", "stone", "bridge", "path", "works", "gate", "line", "point", "forge", "peak"]
NAMES_C = ["Analytics", "Systems", "Consulting", "Software", "Cloud", "Partners", "Labs", "Digital", "Solutions", "Data"]


@dataclass
class PortfolioSpec:
    partners: int
    kpis: int
    quarters: int
    commitments: int
    last_quarter: Quarter
    files: list[str]


def partner_name(i: int) -> str:
    a = NAMES_A[i % len(NAMES_A)]
    b = NAMES_B[(i // len(NAMES_A)) % len(NAMES_B)]
    c = NAMES_C[(i // (len(NAMES_A) * len(NAMES_B))) % len(NAMES_C)]
    n = i // (len(NAMES_A) * len(NAMES_B) * len(NAMES_C))
    return f"{a}{b} {c}" + (f" {n + 1}" if n else "")


def _write(path: Path, sheets: dict[str, list[list]]) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def write_portfolio(folder: Path, partners: int = 200, kpis: int = 12, quarters: int = 8, commitments: int = 10,
                    seed: int = 7, last_quarter: Quarter = Quarter(2026, 3)) -> PortfolioSpec:  # noqa: B008 - Quarter is a frozen dataclass
    rnd = random.Random(seed)
    folder = Path(folder)
    window = quarter_range(last_quarter, quarters)
    pids = [f"P{i + 1:04d}" for i in range(partners)]
    shapes = KPI_SHAPES[:kpis] if kpis <= len(KPI_SHAPES) else KPI_SHAPES + [
        (f"Custom metric {k}", "count", "higher", "sum", 100) for k in range(kpis - len(KPI_SHAPES))]
    kpi_ids = [f"K{k + 1:02d}" for k in range(len(shapes))]
    files = []

    registry = [["Partner registry (synthetic)"], [],
                ["partner_id", "partner_name", "tier", "partner_lead", "partner_lead_email", "internal_owner",
                 "internal_owner_email", "status"]]
    for i, pid in enumerate(pids):
        registry.append([pid, partner_name(i), rnd.choice(["Strategic", "Gold", "Silver"]), f"Lead {pid}",
                         f"lead.{pid.lower()}@partner{i}.example.com", f"Owner {i % 17}",
                         f"owner{i % 17}@northwind.example.org", "active"])
    _write(folder / "registry.xlsx", {"Partners": registry})
    files.append("registry.xlsx")

    kpi_rows: list[list[object]] = [["kpi_id", "kpi_name", "unit", "direction", "aggregation", "weight"]]
    for kid, (name, unit, direction, agg, _base) in zip(kpi_ids, shapes):
        kpi_rows.append([kid, name, unit, direction, agg, 2 if unit == "currency" else 1])
    target_rows: list[list[object]] = [["partner_id", "kpi_id", "period", "target"]]
    actual_rows: list[list[object]] = [["partner_id", "kpi_id", "period", "value", "source"]]
    partner_books: dict[str, list[list]] = {}
    for i, pid in enumerate(pids):
        health = rnd.random()  # low = struggling partner
        returns_own = i % 4 == 0
        for kid, (_name, unit, direction, _agg, base) in zip(kpi_ids, shapes):
            scale = base * (0.5 + rnd.random())
            trend = (health - 0.4) * 0.08
            for qi, q in enumerate(window):
                target = scale * (1 + 0.03 * qi)
                perf = 0.7 + 0.6 * health + trend * qi + rnd.gauss(0, 0.05)
                value = target * (perf if direction == "higher" else 2 - perf)
                if unit == "percent":
                    target, value = min(target, 0.99), min(max(value, 0), 1)
                if unit in ("count", "days") or unit == "score":
                    target, value = round(target, 0), round(value, 0)
                else:
                    target, value = round(target, 2), round(value, 2 if unit == "currency" else 4)
                if not (qi == len(window) - 1 and rnd.random() < 0.02):   # a few missing actuals
                    actual_rows.append([pid, kid, q.label, value, "internal"])
                if qi >= len(window) - 4:
                    target_rows.append([pid, kid, q.label, target])
                if returns_own and qi >= len(window) - 2:
                    own = value * (1 + (rnd.gauss(0, 0.05) if rnd.random() < 0.3 else 0))
                    partner_books.setdefault(pid, [["partner_id", "kpi_id", "period", "value", "source"]]).append(
                        [pid, kid, q.label, round(own, 2), "partner"])
    _write(folder / "kpi_plan.xlsx", {"KPIs": kpi_rows, "Targets": target_rows})
    _write(folder / "actuals" / "internal_actuals.xlsx", {"Actuals": actual_rows})
    files += ["kpi_plan.xlsx", "actuals/internal_actuals.xlsx"]
    for pid, rows in partner_books.items():
        rel = f"actuals/from_partners/{pid}_own_figures.xlsx"
        _write(folder / rel, {"Actuals": [[f"Figures reported by {pid}"], []] + rows})
        files.append(rel)

    q_end = last_quarter.end_date()
    crow: list[list[object]] = [["commitment_id", "partner_id", "party", "description", "owner", "due_date", "baseline_due_date",
             "status", "percent_complete", "linked_kpi_id", "last_updated", "completed_date", "note", "internal_note"]]
    checkins: list[list[object]] = [["partner_id", "date", "type", "attendees", "summary"]]
    for i, pid in enumerate(pids):
        for c in range(commitments):
            party = rnd.choice(["us", "partner", "joint"])
            baseline = q_end - dt.timedelta(days=rnd.randint(-60, 200))
            due = baseline + dt.timedelta(days=rnd.choice([0, 0, 0, 30, 60]))
            status = rnd.choice(["not_started", "in_progress", "in_progress", "done", "done", "blocked"])
            done = due - dt.timedelta(days=rnd.randint(-20, 20)) if status == "done" else None
            crow.append([f"{pid}-C{c + 1:02d}", pid, party, f"Commitment {c + 1} of {pid}: joint go-to-market step",
                         f"Owner {c % 5}", due, baseline, status, 1.0 if status == "done" else round(rnd.random(), 2),
                         rnd.choice(kpi_ids), q_end - dt.timedelta(days=rnd.randint(0, 90)), done,
                         "On the shared plan", f"INTERNAL {pid} note"])
        if i % 5:
            checkins.append([pid, q_end - dt.timedelta(days=rnd.randint(5, 80)), "QBR", "both teams", "Quarterly review"])
    _write(folder / "commitments.xlsx", {"Joint Business Plan": crow, "Check-ins": checkins})
    files.append("commitments.xlsx")
    return PortfolioSpec(partners, len(shapes), quarters, commitments, last_quarter, files)
