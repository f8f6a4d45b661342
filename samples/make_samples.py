"""Write the bundled sample drops: a fictional portfolio of Northwind Alliances' partners, as the files
the partnership team had after Q2 2026 (``drops/2026-Q2``) and after Q3 2026 (``drops/2026-Q3``), into
``pipeline/samples/drops/``: package data, so an installed wheel has them (``partner-review sample``).

Deterministic: seeded random numbers, fixed dates and fixed workbook properties. Run it from the
repository root with ``.venv/bin/python samples/make_samples.py`` and commit what it writes. The story
partner by partner is in ``samples/README.md``.
"""
from __future__ import annotations

import datetime as dt
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pipeline.core.periods import Quarter  # noqa: E402
from pipeline.write.templates import save_deterministic  # noqa: E402

DROPS_DIR = ROOT / "pipeline" / "samples" / "drops"
FIRST = Quarter(2024, 3)
DROPS = {"2026-Q2": Quarter(2026, 2), "2026-Q3": Quarter(2026, 3)}
SAVED = {"2026-Q2": dt.datetime(2026, 7, 3, 9, 0), "2026-Q3": dt.datetime(2026, 10, 2, 9, 0)}
ORG = "Northwind Alliances"
D = dt.date

# partner_id, name, tier, lead, lead e-mail, internal owner, owner e-mail, status, first quarter, last quarter
PARTNERS = [
    ("P01", "Brightwave Analytics", "Strategic", "Maya Okafor", "maya.okafor@example.com", "Jonas Weber", "jonas.weber@example.org", "active", FIRST, None),
    ("P02", "Kestrel & Vane Consulting", "Gold", "Fergus Vane", "fergus.vane@example.com", "Priya Raman", "priya.raman@example.org", "active", FIRST, None),
    ("P03", "Nordlicht Systeme GmbH", "Strategic", "Katrin Brandt", "k.brandt@example.net; partner-ops@example.net", "Jonas Weber", "jonas.weber@example.org", "active", FIRST, None),
    ("P04", "Αθηνά Data Systems", "Gold", "Δημήτρης Παπαδόπουλος", "d.papadopoulos@example.net", "Tomás Aguilar", "tomas.aguilar@example.org", "active", FIRST, None),
    ("P05", "Северный Ветер Cloud", "Silver", "Ольга Смирнова", "olga.smirnova@example.net", "Priya Raman", "priya.raman@example.org", "active", FIRST, None),
    ("P06", "Lumen Café Software", "Silver", "Zoë Lefèvre", "zoe.lefevre@example.com", "Hannah Lee", "hannah.lee@example.org", "active", FIRST, None),
    ("P07", "Añil Robotics S.L.", "Silver", "Iñaki Etxeberria", "inaki.etxeberria@example.com", "Tomás Aguilar", "tomas.aguilar@example.org", "active", Quarter(2026, 1), None),
    ("P08", "Château Vert Conseil", "Gold", "Amélie Rousseau", "amelie.rousseau@example.com", "Hannah Lee", "hannah.lee@example.org", "active", FIRST, None),
    ("P09", "Fjordline Data AS", "Silver", "Ingrid Solberg", "ingrid.solberg@example.net", "Hannah Lee", "hannah.lee@example.org", "paused", FIRST, None),
    ("P10", "Ironbridge Consulting Ltd", "Silver", "Tom Ashworth", "tom.ashworth@example.com", "Priya Raman", "priya.raman@example.org", "ended", FIRST, Quarter(2025, 4)),
]
NAME = {p[0]: p[1] for p in PARTNERS}

# kpi_id, name, unit, direction, aggregation, weight
KPIS = [
    ("pipeline", "Sourced pipeline", "currency", "higher", "sum", 1),
    ("revenue", "Closed-won revenue", "currency", "higher", "sum", 2),
    ("certified", "Certified consultants", "count", "higher", "last", 1),
    ("nps", "Joint customer NPS", "score", "higher", "mean", 1),
    ("dr_days", "Deal registration approval time", "days", "lower", "mean", 0.5),
    ("win_rate", "Win rate", "percent", "higher", "mean", 1),
]
# quarterly revenue target in the first quarter (pipeline target is three times it), certified consultants
SCALE = {"P01": (400_000, 18), "P02": (250_000, 12), "P03": (350_000, 15), "P04": (200_000, 9), "P05": (90_000, 5),
         "P06": (120_000, 6), "P07": (60_000, 3), "P08": (220_000, 10), "P09": (100_000, 5), "P10": (80_000, 4)}
DEFAULT_TARGETS = {"nps": 40, "dr_days": 5, "win_rate": 0.25}   # the '*' rows
OWN_TARGETS = {("P01", "nps"): 50}                               # overrides the '*' row
# attainment by quarter (2024-Q3 ... 2026-Q3): the story of each partner in one line
ATTAINMENT = {
    "P01": [1.04, 1.06, 1.05, 1.08, 1.10, 1.09, 1.12, 1.14, 1.17],   # thriving
    "P02": [1.05, 1.04, 1.02, 1.00, 0.97, 0.93, 0.86, 0.79, 0.71],   # slipping
    "P03": [0.98, 1.01, 0.99, 1.02, 1.00, 0.97, 1.01, 0.99, 0.98],   # steady, but disputes our figures
    "P04": [0.93, 0.95, 0.94, 0.97, 0.96, 0.98, 0.95, 0.97, 0.96],
    "P05": [0.97, 1.00, 1.02, 0.99, 1.03, 1.01, 1.04, 1.02, 1.05],   # monthly figures
    "P06": [1.00, 0.98, 1.02, 1.01, 0.99, 1.03, 1.00, 1.02, 1.01],   # wide layout
    "P07": [None] * 6 + [0.62, 0.78, 0.91],                          # new: ramping up
    "P08": [0.99, 1.00, 1.01, 0.98, 1.00, 1.02, 0.99, 1.00, 1.01],
    "P09": [0.98, 1.00, 0.97, 0.99, 0.98, 0.96, 0.95, 0.52, 0.45],   # paused in 2026-Q2
    "P10": [0.84, 0.79, 0.74, 0.70, 0.66, 0.61, None, None, None],   # ended after 2025-Q4
}
QUARTERS = [FIRST.shift(i) for i in range(9)]       # 2024-Q3 ... 2026-Q3
PLAN_QUARTERS = [FIRST.shift(i) for i in range(10)]  # the plan runs to 2026-Q4


def month_label(year: int, month: int) -> str:
    return dt.date(year, month, 1).strftime("%b %Y")


def series() -> tuple[dict, dict, dict]:
    """Targets, internal actuals and monthly figures (P05): {(pid, kpi, label): value}, from one seed."""
    rng = random.Random(20261122)
    targets, actuals, monthly = {}, {}, {}
    for pid, *_ in PARTNERS:
        rev0, cert0 = SCALE[pid]
        for i, q in enumerate(PLAN_QUARTERS):
            growth = 1.04 ** i
            targets[(pid, "revenue", q.label)] = round(rev0 * growth, -3)
            targets[(pid, "pipeline", q.label)] = round(3 * rev0 * growth, -3)
            targets[(pid, "certified", q.label)] = cert0 + i // 2
        for i, q in enumerate(QUARTERS):
            att = ATTAINMENT[pid][i]
            if att is None:
                continue
            noise = lambda w=0.04: 1 + rng.uniform(-w, w)  # noqa: E731
            vals = {
                "pipeline": round(targets[(pid, "pipeline", q.label)] * att * noise()),
                "revenue": round(targets[(pid, "revenue", q.label)] * att * noise()),
                "certified": max(1, round(targets[(pid, "certified", q.label)] * min(att, 1.15))),
                "nps": round(40 + 45 * (att - 1) + rng.uniform(-3, 3) + (8 if pid == "P01" else 0)),
                "dr_days": round(5 / att * noise(0.08), 1),
                "win_rate": round(0.25 * att * noise(0.06), 3),
            }
            for kpi, value in vals.items():
                actuals[(pid, kpi, q.label)] = value
            if pid == "P05":
                shares = [0.29, 0.33, 0.38]
                for k, (y, m) in enumerate(q.months()):
                    lab = (y, m)
                    monthly[("P05", "pipeline", lab)] = round(vals["pipeline"] * shares[k])
                    monthly[("P05", "revenue", lab)] = round(vals["revenue"] * shares[k])
                    monthly[("P05", "certified", lab)] = vals["certified"] - (2 - k) // 2
                    monthly[("P05", "nps", lab)] = vals["nps"] + (k - 1) * 2
                    monthly[("P05", "dr_days", lab)] = round(vals["dr_days"] + (1 - k) * 0.3, 1)
                    monthly[("P05", "win_rate", lab)] = round(vals["win_rate"] + (k - 1) * 0.004, 3)
    return targets, actuals, monthly


# --------------------------------------------------------------------------------------------------
# workbook helpers
def _sheet(wb, title: str, header: list[str], rows: list[list], *, formats: dict[str, str] | None = None,
           widths: dict[str, float] | None = None, top: list[list] | None = None, first=False):
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    ws = wb.active if first else wb.create_sheet()
    ws.title = title
    for line in top or []:
        ws.append(line)
    ws.append(header)
    head = ws.max_row
    for cell in ws[head]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    for idx, name in enumerate(header, start=1):
        letter = get_column_letter(idx)
        ws.column_dimensions[letter].width = (widths or {}).get(name, max(12, len(str(name)) + 2))
        fmt = (formats or {}).get(name)
        if fmt:
            for (cell,) in ws.iter_rows(min_row=head + 1, min_col=idx, max_col=idx):
                if isinstance(cell.value, (int, float, dt.date)):
                    cell.number_format = fmt
    ws.freeze_panes = ws.cell(head + 1, 1)
    return ws


def _save(wb, drop: str, path: Path, author: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_deterministic(wb, path, when=SAVED[drop], author=author)


def _new():
    from openpyxl import Workbook

    return Workbook()


FMT_KPI = {"pipeline": "#,##0", "revenue": "#,##0", "win_rate": "0.0%", "dr_days": "0.0"}


# --------------------------------------------------------------------------------------------------
# the workbooks of one drop
def write_registry(drop: str, out: Path) -> None:
    wb = _new()
    rows = [[p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]] for p in PARTNERS]
    _sheet(wb, "Partner Registry", ["Partner ID", "Partner Name", "Tier", "Partner Contact", "Partner Email",
                                    "Alliance Manager", "internal_owner_email", "Status"], rows, first=True,
           widths={"Partner Name": 28, "Partner Email": 40, "Partner Contact": 24, "internal_owner_email": 28})
    _save(wb, drop, out / "Partner Registry.xlsx", ORG)


def write_plan(drop: str, out: Path, targets: dict) -> None:
    wb = _new()
    _sheet(wb, "KPIs", ["kpi_id", "kpi_name", "unit", "direction", "aggregation", "weight"],
           [list(k) for k in KPIS], first=True, widths={"kpi_name": 34})
    rows = []
    for pid, *_, first, last in PARTNERS:
        for q in PLAN_QUARTERS:
            if q >= first and (last is None or q <= last):
                rows += [[pid, kpi, q.label, targets[(pid, kpi, q.label)]] for kpi in ("pipeline", "revenue", "certified")]
                rows += [[pid, kpi, q.label, t] for (p, kpi), t in OWN_TARGETS.items() if p == pid]
    for kpi, t in DEFAULT_TARGETS.items():
        rows += [["*", kpi, q.label, t] for q in PLAN_QUARTERS]
    _sheet(wb, "Targets", ["partner_id", "kpi_id", "period", "target"], rows, formats={"target": "#,##0.##"})
    _save(wb, drop, out / "KPI plan FY2025-FY2026.xlsx", ORG)


def write_crm_export(drop: str, out: Path, actuals: dict) -> None:
    """Our internal actuals export (long layout), every partner our CRM covers."""
    last = DROPS[drop]
    region = {"P01": "EMEA", "P02": "EMEA", "P03": "EMEA", "P04": "EMEA", "P07": "EMEA", "P08": "EMEA",
              "P09": "EMEA", "P10": "Americas"}
    rows = []
    for pid in region:
        for q in QUARTERS:
            if q > last:
                continue
            for kpi, *_ in KPIS:
                if (pid, kpi, q.label) not in actuals:
                    continue
                value, note = actuals[(pid, kpi, q.label)], None
                if drop == "2026-Q3" and (pid, kpi, q.label) == ("P08", "revenue", "2026-Q2"):
                    value, note = round(value * 1.09), "restated: late-booked deal (PO dated 2026-06-29)"
                if drop == "2026-Q3" and (pid, kpi, q.label) == ("P08", "nps", "2026-Q3"):
                    value, note = None, "survey still open"
                rows.append([pid, kpi, q.label, value, region[pid], note])
    wb = _new()
    _sheet(wb, "Actuals", ["Partner ID", "KPI ID", "Quarter", "Value", "Region", "Note"], rows, first=True,
           formats={"Value": "#,##0.###"}, widths={"Note": 46})
    stamp = SAVED[drop].date().isoformat()
    _save(wb, drop, out / "exports" / f"crm_actuals_export_{stamp}.xlsx", "CRM export")


def write_brightwave(drop: str, out: Path, actuals: dict) -> None:
    """Brightwave returns its own figures (source partner), close to ours. One file per quarter's return."""
    rng = random.Random(101)
    files = {"2026-Q2": [Quarter(2026, 1), Quarter(2026, 2)], "2026-Q3": [Quarter(2026, 3)]}
    for name, quarters in files.items():
        if DROPS[name] > DROPS[drop]:
            continue
        rows = []
        for q in quarters:
            for kpi in ("pipeline", "revenue", "certified"):
                ours = actuals[("P01", kpi, q.label)]
                theirs = ours if kpi == "certified" else round(ours * (1 + rng.uniform(-0.015, 0.015)))
                rows.append(["P01", kpi, q.label, theirs, "partner", None, None])
        wb = _new()
        _sheet(wb, "Actuals", ["partner_id", "kpi_id", "period", "value", "source", "currency", "note"], rows,
               first=True, formats={"value": "#,##0"})
        _save(wb, drop, out / "partner_returns" / f"Brightwave Analytics {name} figures.xlsx", NAME["P01"])


def write_nordlicht(drop: str, out: Path, actuals: dict) -> None:
    """Nordlicht's return: a title above the header, alias headers, and pipeline figures that disagree."""
    gap = {"2026-Q1": {"pipeline": 1.012, "revenue": 0.996, "win_rate": 1.0},
           "2026-Q2": {"pipeline": 1.14, "revenue": 1.006, "win_rate": 1.0},
           "2026-Q3": {"pipeline": 1.19, "revenue": 0.994, "win_rate": 1.0}}
    rows = []
    for q in QUARTERS:
        if q.label not in gap or q > DROPS[drop]:
            continue
        for kpi, factor in gap[q.label].items():
            ours = actuals[("P03", kpi, q.label)]
            value = round(ours * factor, 3) if kpi == "win_rate" else round(ours * factor)
            rows.append(["P03", kpi, f"Q{q.q} {q.year}", value, "partner"])
    wb = _new()
    top = [["Nordlicht Systeme GmbH – Partner-Kennzahlen 2026 (partner-reported figures)"],
           [f"Erstellt von Katrin Brandt am {SAVED[drop].date().isoformat()}"], []]
    ws = _sheet(wb, "Kennzahlen", ["Partner ID", "KPI", "Quarter", "Actual", "Source"], rows, top=top, first=True,
                formats={"Actual": "#,##0.###"})
    from openpyxl.styles import Font

    ws["A1"].font = Font(bold=True, size=14)
    _save(wb, drop, out / "partner_returns" / "Nordlicht Kennzahlen 2026.xlsx", "Katrin Brandt")


def write_lumen(drop: str, out: Path, actuals: dict) -> None:
    """Lumen Café sends one row per KPI with a column per quarter (wide layout), naming itself by name."""
    quarters = [q for q in QUARTERS if q <= DROPS[drop]]
    rows = [[NAME["P06"], kpi] + [actuals[("P06", kpi, q.label)] for q in quarters] for kpi, *_ in KPIS]
    wb = _new()
    _sheet(wb, "KPI Actuals", ["Partner", "KPI ID"] + [f"Q{q.q} {q.year}" for q in quarters], rows, first=True,
           widths={"Partner": 24})
    _save(wb, drop, out / "partner_returns" / "Lumen Cafe quarterly KPIs.xlsx", "Zoë Lefèvre")


def write_severny(drop: str, out: Path, monthly: dict) -> None:
    """Северный Ветер reports monthly: text months for the history, real dates since 2026."""
    last = DROPS[drop]
    rows = []
    for q in QUARTERS:
        if q > last:
            continue
        for y, m in q.months():
            period = dt.datetime(y, m, 1) if y >= 2026 else month_label(y, m)
            for kpi, *_ in KPIS:
                value = monthly[("P05", kpi, (y, m))]
                if drop == "2026-Q3" and (kpi, y, m) == ("revenue", 2026, 9):
                    value = f"{round(value / 1000)}k"  # typed by hand: reported, never guessed
                rows.append(["P05", kpi, period, value])
    wb = _new()
    ws = _sheet(wb, "Performance", ["Partner ID", "KPI ID", "Month", "Value"], rows, first=True,
                formats={"Value": "#,##0.###"})
    for (cell,) in ws.iter_rows(min_row=2, min_col=3, max_col=3):
        if isinstance(cell.value, dt.datetime):
            cell.number_format = "mmm yyyy"
    _save(wb, drop, out / "partner_returns" / "Severny Veter monthly figures.xlsx", "Ольга Смирнова")


# --------------------------------------------------------------------------------------------------
# the joint business plan. Per commitment: the fixed fields, then its state in each drop (None = absent).
# ref, partner, party, description, owner, baseline, linked kpi, internal note
COMMITMENTS = [
    ("BW-01", "P01", "us", "Co-fund two joint customer events in DACH", "Jonas Weber", D(2026, 5, 31), "pipeline", None),
    ("BW-02", "P01", "partner", "Certify six consultants on the joint analytics offer", "Maya Okafor", D(2026, 6, 30), "certified", None),
    ("BW-03", "P01", "joint", "Publish a joint retail reference case study", "Maya Okafor", D(2026, 9, 30), None, None),
    ("BW-04", "P01", "us", "Give Brightwave early access to the 2027 roadmap", "Jonas Weber", D(2026, 11, 30), None, "INTERNAL: roadmap NDA signed 2026-05-02"),
    ("BW-05", "P01", "partner", "Run two joint pipeline-generation webinars", "Maya Okafor", D(2026, 12, 15), "pipeline", None),
    ("KV-01", "P02", "partner", "Certify five consultants on the managed-service stack", "Fergus Vane", D(2026, 6, 30), "certified", None),
    ("KV-02", "P02", "joint", "Launch the joint managed-service offer", "Fergus Vane", D(2026, 3, 31), "revenue", "INTERNAL: exec escalation planned if it slips again"),
    ("KV-03", "P02", "us", "Provide two presales engineers for Kestrel's top five deals", "Priya Raman", D(2026, 5, 31), "win_rate", None),
    ("KV-04", "P02", "partner", "Share a named-account pipeline review every month", "Fergus Vane", D(2026, 9, 30), "pipeline", "INTERNAL: consider moving them to Silver tier"),
    ("NS-01", "P03", "joint", "Agree one definition of sourced pipeline", "Katrin Brandt", D(2026, 8, 31), "pipeline", "INTERNAL: their figures include stage-1 leads; do not accept them for MDF"),
    ("NS-02", "P03", "partner", "R&D <urgent> & review", "Katrin Brandt", D(2026, 12, 31), None, None),
    ("NS-03", "P03", "us", "Fund a joint proof-of-concept lab in Munich", "Jonas Weber", D(2026, 6, 30), None, None),
    ("AT-01", "P04", "us", "Translate the joint offer collateral into Greek", "Tomás Aguilar", D(2026, 10, 31), None, None),
    ("AT-02", "P04", "us", "Nominate Αθηνά for the partner-of-the-year award", "Tomás Aguilar", D(2026, 11, 30), None, None),
    ("AT-03", "P04", "us", "Fund a marketing campaign in Athens and Thessaloniki", "Tomás Aguilar", D(2026, 12, 15), "pipeline", "INTERNAL: budget not yet approved"),
    ("AT-04", "P04", "us", "Provide a dedicated partner solutions architect", "Tomás Aguilar", D(2026, 10, 15), "win_rate", None),
    ("AT-05", "P04", "us", "Open three introductions to enterprise accounts in Greece", "Tomás Aguilar", D(2026, 12, 31), "pipeline", None),
    ("AT-06", "P04", "partner", "Send a quarterly pipeline forecast", "Δημήτρης Παπαδόπουλος", D(2026, 12, 31), "pipeline", None),
    ("SV-01", "P05", "partner", "Send monthly figures by the fifth working day", "Ольга Смирнова", D(2026, 12, 31), None, None),
    ("SV-02", "P05", "us", "Localise the deal registration portal into Russian", "Priya Raman", D(2026, 9, 30), "dr_days", None),
    ("SV-03", "P05", "joint", "Joint webinar for Baltic customers", "Ольга Смирнова", D(2026, 6, 30), "pipeline", None),
    ("LC-01", "P06", "partner", "Certify two more consultants", "Zoë Lefèvre", D(2026, 9, 30), "certified", None),
    ("LC-02", "P06", "us", "Co-sell the Café POS integration with two retail accounts", "Hannah Lee", D(2026, 12, 31), "revenue", None),
    ("AR-01", "P07", "joint", "Onboarding: agree a joint go-to-market plan", "Iñaki Etxeberria", D(2026, 4, 30), None, None),
    ("AR-02", "P07", "partner", "Define joint target accounts", None, None, None, None),
    ("AR-03", "P07", "us", "Deliver sales enablement training for Añil's sales team", "Tomás Aguilar", D(2026, 8, 15), "win_rate", None),
    ("CV-01", "P08", "us", "Co-fund the Lyon customer day", "Hannah Lee", D(2026, 4, 30), "pipeline", None),
    ("CV-02", "P08", "partner", "Refresh the joint solution brief (FR/EN)", "Amélie Rousseau", D(2026, 7, 31), None, None),
    ("CV-03", "P08", "joint", "Co-host a webinar series for the public sector", "Amélie Rousseau", D(2026, 9, 30), "pipeline", None),
    ("CV-04", "P08", "partner", "Certify three more consultants", "Amélie Rousseau", D(2026, 12, 31), "certified", None),
    ("FD-01", "P09", "joint", "Restart co-selling once the acquisition closes", "Ingrid Solberg", D(2026, 12, 31), "revenue", "INTERNAL: the acquirer partners with a competitor; assess exclusivity"),
    ("IB-01", "P10", "us", "Wind-down: transfer open deals to Northwind direct", "Priya Raman", D(2025, 12, 31), None, None),
    ("IB-02", "P10", "partner", "File the final MDF claim", "Tom Ashworth", D(2025, 11, 30), None, None),
]
# ref -> drop -> (due date, status as typed, percent complete, last updated, completed date, note)
STATES = {
    "BW-01": {"2026-Q2": (None, "Complete", 1, D(2026, 5, 22), D(2026, 5, 20), "both events held: 140 attendees"), "2026-Q3": "same"},
    "BW-02": {"2026-Q2": (None, "Complete", 1, D(2026, 6, 19), D(2026, 6, 18), None), "2026-Q3": "same"},
    "BW-03": {"2026-Q2": (None, "In progress", 0.4, D(2026, 6, 24), None, "customer approval pending"),
              "2026-Q3": (None, "Complete", 1, D(2026, 9, 14), D(2026, 9, 12), "published in September")},
    "BW-04": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 24), None, None),
              "2026-Q3": (None, "In progress", 0.5, D(2026, 9, 18), None, "first briefing held")},
    "BW-05": {"2026-Q2": None, "2026-Q3": (None, "Not started", 0, D(2026, 9, 18), None, None)},
    "KV-01": {"2026-Q2": (None, "In progress", 0.4, D(2026, 6, 12), None, "two of five certified"),
              "2026-Q3": (None, "In progress", 0.6, D(2026, 9, 5), None, "three of five certified")},
    "KV-02": {"2026-Q2": (D(2026, 7, 31), "In progress", 0.5, D(2026, 6, 12), None, "pricing still open"),
              "2026-Q3": (D(2026, 10, 31), "In progress", 0.7, D(2026, 9, 5), None, "moved again: waiting on Kestrel's legal review")},
    "KV-03": {"2026-Q2": (None, "Complete", 1, D(2026, 5, 29), D(2026, 5, 28), None), "2026-Q3": "same"},
    "KV-04": {"2026-Q2": (None, "In progress", 0.2, D(2026, 6, 20), None, None), "2026-Q3": "same"},
    "NS-01": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 26), None, "workshop to be scheduled"),
              "2026-Q3": (None, "In progress", 0.5, D(2026, 9, 22), None, "first workshop held on 2026-09-17")},
    "NS-02": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 26), None, "backlog review with both product teams"),
              "2026-Q3": (None, "In progress", 0.25, D(2026, 9, 22), None, "backlog review with both product teams")},
    "NS-03": {"2026-Q2": (None, "Done", 1, D(2026, 6, 26), D(2026, 6, 25), None), "2026-Q3": "same"},
    "AT-01": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 15), None, None),
              "2026-Q3": (None, "In progress", 0.6, D(2026, 9, 16), None, "Kick-off στην Αθήνα, 2026-09-10")},
    "AT-02": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 15), None, None),
              "2026-Q3": (None, "Not started", 0, D(2026, 9, 16), None, None)},
    "AT-03": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 15), None, None),
              "2026-Q3": (None, "Not started", 0, D(2026, 9, 16), None, None)},
    "AT-04": {"2026-Q2": (None, "In progress", 0.3, D(2026, 6, 15), None, None),
              "2026-Q3": (None, "In progress", 0.5, D(2026, 9, 16), None, None)},
    "AT-05": {"2026-Q2": None, "2026-Q3": (None, "In progress", 0.33, D(2026, 9, 16), None, "one of three introductions made")},
    "AT-06": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 15), None, None),
              "2026-Q3": (None, "Not started", 0, D(2026, 9, 16), None, None)},
    "SV-01": {"2026-Q2": (None, "In progress", 0.5, D(2026, 6, 8), None, None),
              "2026-Q3": (None, "In progress", 0.75, D(2026, 9, 8), None, None)},
    "SV-02": {"2026-Q2": (None, "In progress", 0.5, D(2026, 6, 8), None, None),
              "2026-Q3": (None, "Complete", 1, D(2026, 9, 25), D(2026, 9, 24), "live since 24 September")},
    "SV-03": {"2026-Q2": (None, "Complete", 1, D(2026, 6, 17), D(2026, 6, 16), "62 attendees"), "2026-Q3": "same"},
    "LC-01": {"2026-Q2": (None, "In progress", 0.5, D(2026, 6, 10), None, None),
              "2026-Q3": (None, "Complete", 1, D(2026, 9, 29), D(2026, 9, 29), None)},
    "LC-02": {"2026-Q2": (None, "In progress", 0.25, D(2026, 6, 10), None, None),
              "2026-Q3": (None, "In progress", 0.5, D(2026, 9, 12), None, "first account signed")},
    "AR-01": {"2026-Q2": (None, "Complete", 1, D(2026, 4, 23), D(2026, 4, 22), None), "2026-Q3": "same"},
    "AR-02": {"2026-Q2": (None, "Not started", None, D(2026, 6, 2), None, None),
              "2026-Q3": (None, "Not started", None, D(2026, 9, 3), None, None)},
    "AR-03": {"2026-Q2": (None, "Not started", 0, D(2026, 6, 2), None, None),
              "2026-Q3": (None, "Complete", 1, D(2026, 8, 11), D(2026, 8, 10), "12 sellers trained")},
    "CV-01": {"2026-Q2": (None, "Complete", 1, D(2026, 4, 29), D(2026, 4, 28), None), "2026-Q3": "same"},
    "CV-02": {"2026-Q2": (None, "In progress", 0.6, D(2026, 6, 18), None, None),
              "2026-Q3": (None, "Complete", 1, D(2026, 7, 27), D(2026, 7, 25), "French and English versions published")},
    "CV-03": {"2026-Q2": (None, "In progress", 0.1, D(2026, 6, 18), None, "first session planned for September"), "2026-Q3": None},
    "CV-04": {"2026-Q2": None, "2026-Q3": (None, "Not started", 0, D(2026, 9, 20), None, None)},
    "FD-01": {"2026-Q2": (None, "Blocked", 0, D(2026, 6, 5), None, "on hold until the acquisition closes"),
              "2026-Q3": (None, "Blocked", 0, D(2026, 9, 4), None, "on hold until the acquisition closes")},
    "IB-01": {"2026-Q2": (None, "Complete", 1, D(2025, 12, 16), D(2025, 12, 15), None), "2026-Q3": "same"},
    "IB-02": {"2026-Q2": (None, "Cancelled", None, D(2025, 12, 1), None, "partnership ended"), "2026-Q3": "same"},
}
# Check-ins: partner -> (day of the quarter's second month for the QBR, has monthly syncs)
CADENCE = {"P01": (12, True), "P02": (19, False), "P03": (9, True), "P04": (14, True), "P05": (21, False),
           "P06": (7, False), "P07": (16, True), "P08": (23, False), "P09": (27, False)}


def commitment_rows(drop: str) -> list[list]:
    rows = []
    for ref, pid, party, desc, owner, baseline, kpi, internal in COMMITMENTS:
        state = STATES[ref][drop]
        if state == "same":
            state = STATES[ref]["2026-Q2"]
        if state is None:
            continue
        due, status, pct, updated, completed, note = state
        rows.append([ref, pid, party, desc, owner, due or baseline, baseline, status, pct, kpi, updated, completed,
                     note, internal])
    return rows


def checkin_rows(drop: str) -> list[list]:
    rows = []
    for q in QUARTERS:
        if q < Quarter(2025, 3) or q > DROPS[drop]:
            continue
        for pid, (day, syncs) in CADENCE.items():
            if pid == "P07" and q < Quarter(2026, 1):
                continue
            if pid == "P02" and q == Quarter(2026, 3):
                continue  # Kestrel & Vane: no meeting at all in Q3
            (y1, m1), (y2, m2), (y3, m3) = q.months()
            rows.append([pid, dt.datetime(y2, m2, day), "QBR", f"{_person(pid, 3)}, {_person(pid, 5)}",
                         f"{q.label} business review"])
            if syncs:
                for y, m in ((y1, m1), (y3, m3)):
                    rows.append([pid, dt.datetime(y, m, min(day + 3, 28)), "monthly sync", _person(pid, 5), None])
    if drop == "2026-Q3":
        rows.append(["Brightwave Analytic", dt.datetime(2026, 9, 29), "executive sponsor", "Jonas Weber, Maya Okafor",
                     "renewal of the joint offer"])  # a typo in the partner's name: reported with "did you mean"
    rows.sort(key=lambda r: (r[1], str(r[0])))
    return rows


def _person(pid: str, field: int) -> str:
    """The partner lead (field 3) or our internal owner (field 5)."""
    return next(p[field] for p in PARTNERS if p[0] == pid)


def write_commitments(drop: str, out: Path) -> None:
    wb = _new()
    dates = "yyyy-mm-dd"
    _sheet(wb, "Joint Business Plan", ["Ref", "Partner", "Committed By", "Description", "Owner", "Due Date",
                                       "Original Due Date", "Status", "Percent Complete", "Linked KPI ID",
                                       "Last Updated", "Completed Date", "Note", "Internal Note"],
           commitment_rows(drop), first=True,
           formats={"Due Date": dates, "Original Due Date": dates, "Last Updated": dates, "Completed Date": dates,
                    "Percent Complete": "0%"},
           widths={"Description": 52, "Owner": 22, "Note": 40, "Internal Note": 52})
    _sheet(wb, "Check-ins", ["partner_id", "date", "type", "attendees", "summary"], checkin_rows(drop),
           formats={"date": dates}, widths={"attendees": 36, "summary": 36})
    _save(wb, drop, out / "Joint Business Plan 2026.xlsx", ORG)


# our negotiation prep for three partners (the Canvas sheet: ours alone, like internal notes); Château Vert has
# no alternative recorded, so its brief says so first
CANVAS = [
    ["P02", "us", "goal", "Launch the managed-service offer before the FY2027 budget round", 3],
    ["P02", "us", "alternative", "Take the managed-service launch to Nordlicht, whose consultants are certified", 3],
    ["P02", "us", "limit", "No extra market development funds until five more consultants are certified (KV-01)", 3],
    ["P02", "us", "ask", "A named executive sponsor on their side for the managed-service offer", 3],
    ["P02", "us", "ask", "The monthly named-account pipeline review they promised (KV-04)", 2],
    ["P02", "us", "offer", "Two free seats in our partner bootcamp", 1],
    ["P02", "us", "offer", "Co-funded certification vouchers", 2],
    ["P02", "partner", "interest", "Their consultants are billable on client work: certification time costs them revenue", 3],
    ["P02", "partner", "ask", "Co-funded certification vouchers", 3],
    ["P02", "partner", "ask", "A lower revenue target for the rest of the year", 2],
    ["P02", "partner", "priority", "Growing their own cloud-migration practice", 2],
    ["P03", "us", "goal", "Make Nordlicht our reference partner in the DACH region", 3],
    ["P03", "us", "alternative", "Serve DACH with our own field team: slower and costlier", 2],
    ["P03", "us", "limit", "Incentives are paid on one definition of sourced pipeline", 2],
    ["P03", "us", "ask", "A quarterly pipeline workshop with their sales leadership", 2],
    ["P03", "us", "offer", "A joint case study with a DACH reference customer", 1],
    ["P03", "partner", "ask", "Their pipeline figures used for the partner incentive", 3],
    ["P03", "partner", "interest", "Their board reviews partner-sourced pipeline every quarter", 2],
    ["P08", "us", "goal", "Renew the reseller agreement for three years in 2027", 3],
    ["P08", "us", "ask", "Close dates corrected in the shared CRM within a week of closing", 3],
    ["P08", "us", "offer", "The pipeline report on the third working day of each quarter", 1],
    ["P08", "partner", "ask", "The pipeline report before their board meeting, not after", 3],
    ["P08", "partner", "interest", "Their board meets in the first week of each quarter", 2],
]


def write_canvas(drop: str, out: Path) -> None:
    wb = _new()
    _sheet(wb, "Negotiation Canvas", ["partner_id", "side", "kind", "text", "weight"], CANVAS, first=True,
           widths={"text": 80})
    _save(wb, drop, out / "Negotiation prep (internal).xlsx", ORG)


# the data requests sent with the 2026-Q2 reviews that came back for 2026-Q3: the pulse answered (figures
# and commitments left to our CRM and the joint plan); P07, new and busy, did not return its request
RETURNED = {
    "P04": ((4, "Monthly syncs keep us aligned."), (4, ""), (3, "Deal registration answers can take a week."),
            (5, ""), (4, "")),
    "P08": ((3, ""), (2, "We need the pipeline report before our board meeting, not after."), (4, ""),
            (2, "Your CRM shows deals we closed as still open."), (3, "")),
}


def write_returned_requests(drop: str, out: Path, previous: Path) -> None:
    """The requests the previous drop's reviews went out with, as the partners returned them (made with the
    pipeline itself from the previous drop, so they are exactly what `report` writes)."""
    from openpyxl import load_workbook

    from pipeline.analyse.analysis import analyse
    from pipeline.analyse.requests import data_request
    from pipeline.reconcile.load import load
    from pipeline.write.requests import write_request

    before = Quarter.parse(previous.name)
    analysis = analyse(load(previous), before, None, as_of=SAVED[previous.name].date())
    for pid, answers in RETURNED.items():
        path = out / "partner_returns" / f"{NAME[pid]} data request {DROPS[drop].label} (returned).xlsx"
        write_request(data_request(analysis, pid), path)
        wb = load_workbook(path)
        for row, (score, comment) in zip(wb["Pulse"].iter_rows(min_row=2), answers):
            row[4].value, row[5].value = score, comment or None
        _save(wb, drop, path, str(PARTNERS[[p[0] for p in PARTNERS].index(pid)][3]))


CONFIG = f'''# partner-review settings for the bundled sample data (see docs/configuration.md)
[organisation]
name = "{ORG}"
watermark = "SAMPLE DATA"
'''


def write_drop(drop: str, out: Path) -> list[Path]:
    """Write one drop folder (replacing what was there); return the files written, sorted."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    targets, actuals, monthly = series()
    write_registry(drop, out)
    write_plan(drop, out, targets)
    write_crm_export(drop, out, actuals)
    write_brightwave(drop, out, actuals)
    write_nordlicht(drop, out, actuals)
    write_lumen(drop, out, actuals)
    write_severny(drop, out, monthly)
    write_commitments(drop, out)
    write_canvas(drop, out)
    (out / "partner-review.toml").write_text(CONFIG, encoding="utf-8")
    previous = out.parent / Quarter.from_index(DROPS[drop].index - 1).label
    if DROPS[drop].label == "2026-Q3" and previous.is_dir():
        write_returned_requests(drop, out, previous)
    return sorted(p for p in out.rglob("*") if p.is_file())


def write_drops(root: Path = DROPS_DIR) -> list[Path]:
    """Write every drop under `root`."""
    return [path for drop in DROPS for path in write_drop(drop, Path(root) / drop)]


if __name__ == "__main__":
    for path in write_drops(Path(sys.argv[1]) if len(sys.argv) > 1 else DROPS_DIR):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
