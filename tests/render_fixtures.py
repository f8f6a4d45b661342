"""Hand-built analysis frames for the chart and PDF tests, exactly to the columns documented in
pipeline.core.schema.ANALYSIS_FRAMES (the analysis stage is built elsewhere; these stand in for it).

`partner_view()` is one partner: 5 KPIs over 10 known quarters (one quarter missing, one KPI reported by
both sides), 12 commitments of every party and state, flags of several codes and severities, a health
breakdown and excluded-row problems. `analysis()` is four such partners side by side.
"""
from __future__ import annotations

import math

import pandas as pd

from pipeline.analyse.findings import agenda, build_findings, top_gaps
from pipeline.analyse.kpis import beyond_tolerance
from pipeline.analyse.programme import programme
from pipeline.analyse.summary import summary_sentences
from pipeline.core.settings import Config
from pipeline.core.frames import Analysis, PartnerView, Reconciled, Thresholds
from pipeline.core.periods import Quarter, quarter_range
from pipeline.core.problems import make
from pipeline.core.schema import ANALYSIS_FRAMES, BEYOND_TOLERANCE, DISCREPANCY, FRAMES, PROVENANCE

QUARTER = Quarter(2026, 2)
WINDOW = quarter_range(QUARTER, 8)
KNOWN = quarter_range(QUARTER, 10)          # two more than the window, for year-on-year changes

GREEK = "Ελληνικές Συνεργασίες Α.Ε."
CYRILLIC = "ООО «Северный Альянс»"
LATIN = "Société Générale d'Ingénierie"
TYPED = "R&D <urgent>"

PARTNERS = [
    # partner_id, name, tier, lead, base performance (1.0 = on target), seed
    ("P-GR", GREEK, "Strategic", "Δημήτρης Παπαδόπουλος", 0.84, 1),
    ("P-RU", CYRILLIC, "Gold", "Анна Смирнова", 1.04, 2),
    ("P-FR", LATIN, "Silver", "Élodie Brûlé", 0.66, 3),
    ("P-AC", "Acme Data & Cloud <Ltd>", "Gold", "Jo Bloggs", 0.95, 4),
]

KPIS = pd.DataFrame([
    ("pipeline", "Sourced pipeline value", "currency", "higher", "sum", 2.0),
    ("deals", "Deals closed", "count", "higher", "sum", 1.0),
    ("winrate", "Win rate", "percent", "higher", "mean", 1.0),
    ("ttv", "Days to first value", "days", "lower", "mean", 1.0),
    ("csat", "Joint customer satisfaction", "score", "higher", "last", 0.5),
], columns=list(FRAMES["kpis"]))
BASE = {"pipeline": 1_200_000.0, "deals": 14.0, "winrate": 0.28, "ttv": 40.0, "csat": 8.2}


def _wave(seed: int, i: int) -> float:
    """A deterministic wiggle in [-1, 1]."""
    return math.sin(seed * 1.7 + i * 0.9) * 0.6 + math.cos(seed + i * 2.3) * 0.4


def kpi_quarterly(pid: str, level: float, seed: int) -> pd.DataFrame:
    rows = []
    for kpi in KPIS.itertuples():
        actuals: dict[int, float] = {}
        for i, q in enumerate(KNOWN):
            target = BASE[kpi.kpi_id] * (1 + 0.03 * i)
            perf = level + 0.12 * _wave(seed, i + len(kpi.kpi_id))
            actual = target * perf if kpi.direction == "higher" else target / max(perf, 0.2)
            if kpi.kpi_id == "deals":
                actual = float(round(actual))
            missing = kpi.kpi_id == "winrate" and q == WINDOW[3]       # one quarter never reported
            both = kpi.kpi_id == "pipeline"                            # both sides report pipeline
            internal = math.nan if missing else actual
            partner = actual * (1.08 if i % 3 == 0 else 1.01) if both else math.nan
            used = internal
            if missing:
                used = math.nan
            actuals[q.index] = used
            att = (used / target if kpi.direction == "higher" else target / used) if not math.isnan(used) else math.nan
            prev, ago = actuals.get(q.index - 1, math.nan), actuals.get(q.index - 4, math.nan)
            status = ("missing" if math.isnan(att) else "on_track" if att >= 0.9 else
                      "at_risk" if att >= 0.75 else "off_track")
            rows.append({
                "partner_id": pid, "kpi_id": kpi.kpi_id, "quarter": q.label, "qindex": q.index,
                "target": target, "internal": internal, "partner": partner, "actual": used,
                "actual_source": "" if math.isnan(used) else "internal", "months_reported": 0,
                "attainment": att,
                "change_qoq": used / prev - 1 if prev == prev and used == used else math.nan,
                "change_yoy": used / ago - 1 if ago == ago and used == used else math.nan,
                "status": status,
                "discrepancy": abs(partner - internal) / internal if both and internal == internal else math.nan,
                "conflict": False,
            })
    return pd.DataFrame(rows, columns=list(ANALYSIS_FRAMES["kpi_quarterly"]))


def commitments(pid: str, n: int = 12, description: str | None = None, internal: bool = False) -> pd.DataFrame:
    """`n` commitments cycling through every party and state (open, done on time / late, overdue, slipped,
    dropped, cancelled, blocked). Without internal_note unless `internal` (the portfolio copy)."""
    end = pd.Timestamp(QUARTER.end_date())
    kinds = ["open", "done", "overdue", "slipped", "dropped", "done_late", "blocked", "cancelled", "open",
             "overdue", "done", "open"]
    parties = ["us", "partner", "joint"]
    rows = []
    for i in range(n):
        kind, party = kinds[i % len(kinds)], parties[(i * 2 + i // 3) % 3]
        due = end + pd.Timedelta(days=30 - 17 * (i % 5))
        baseline = due - pd.Timedelta(days=21) if kind == "slipped" or i % 7 == 3 else due
        status = {"done": "done", "done_late": "done", "overdue": "in_progress", "blocked": "blocked",
                  "cancelled": "cancelled", "open": "not_started" if i % 2 else "in_progress"}.get(kind, "in_progress")
        if kind == "overdue":
            due = end - pd.Timedelta(days=12 + i)
            baseline = min(baseline, due)
        desc = description if description is not None and i == 0 else (
            f"{TYPED}: agree the joint go-to-market plan for region {i}" if i == 1 else
            f"Deliver enablement sessions for {3 + i} partner sellers and publish the shared playbook (wave {i})")
        rows.append({
            "commitment_id": f"{pid}-C{i + 1:03d}", "partner_id": pid, "party": party, "description": desc,
            "owner": ["Maria Lopez", "Σοφία Νικολάου", "Иван Петров", ""][i % 4], "due_date": due,
            "baseline_due_date": baseline, "status": status, "status_raw": status.replace("_", " ").title(),
            "percent_complete": {"done": 1.0, "done_late": 1.0}.get(kind, (i % 4) / 4 if kind != "dropped" else math.nan),
            "linked_kpi_id": "pipeline" if i % 3 == 0 else "", "last_updated": end - pd.Timedelta(days=5 + 9 * (i % 6)),
            "completed_date": (due - pd.Timedelta(days=3) if kind == "done" else due + pd.Timedelta(days=20))
            if kind in ("done", "done_late") else pd.NaT,
            "note": "Customer pilot confirmed" if i % 4 == 1 else "",
            "file": f"commitments/{pid}.xlsx", "sheet": "Commitments", "row": i + 2,
            "is_open": status in ("not_started", "in_progress", "blocked") and kind != "dropped",
            "is_overdue": kind == "overdue", "days_overdue": (end - due).days if kind == "overdue" else 0,
            "slip_days": (due - baseline).days, "slip_count": 1 if due > baseline else 0,
            "is_stale": i % 6 == 5, "is_dropped": kind == "dropped",
            "incomplete": "no owner" if i % 4 == 3 and status not in ("done", "cancelled") else "",
            "on_time": (kind == "done") if kind in ("done", "done_late") else pd.NA,
        })
        if internal:
            rows[-1]["internal_note"] = f"INTERNAL-ONLY: escalate {pid} renewal risk #{i}"
    cols = [c for c in FRAMES["commitments"] if c != "internal_note" or internal] + list(PROVENANCE)
    cols += [c for c in ANALYSIS_FRAMES["commitment_status"] if c != "..."]
    return pd.DataFrame(rows, columns=cols)


def delivery(pid: str, com: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for party in ("us", "partner", "joint"):
        c = com[com["party"] == party]
        done = c["status"] == "done"
        on_time = int((c["on_time"] == True).sum())  # noqa: E712 (NA-aware)
        late = int(done.sum()) - on_time
        rows.append({"partner_id": pid, "party": party, "made": len(c), "open": int(c["is_open"].sum()),
                     "done": int(done.sum()), "done_on_time": on_time, "done_late": late,
                     "overdue": int(c["is_overdue"].sum()), "slipped": int((c["slip_days"] > 0).sum()),
                     "slip_days": int(c["slip_days"].sum()), "dropped": int(c["is_dropped"].sum()),
                     "on_time_rate": on_time / (on_time + late) if on_time + late else math.nan})
    return pd.DataFrame(rows, columns=list(ANALYSIS_FRAMES["delivery"]))


def flags(pid: str, kq: pd.DataFrame, com: pd.DataFrame) -> pd.DataFrame:
    cur = kq[kq["quarter"] == QUARTER.label].set_index("kpi_id")
    rows = []

    def add(code: str, sev: str, subject: str, message: str, whose: str, agenda: str) -> None:
        rows.append({"quarter": QUARTER.label, "partner_id": pid, "code": code, "severity": sev, "subject": subject,
                     "message": message, "whose_move": whose, "agenda": agenda})

    for kid, r in cur.iterrows():
        if r["status"] in ("at_risk", "off_track"):
            add("KPI_BELOW_TARGET", "high" if r["status"] == "off_track" else "medium", kid,
                f"{kid} at {r['attainment']:.0%} of target ({r['actual']:,.2f} against {r['target']:,.2f})",
                "partner", f"Recovery plan for {kid}: what closes the gap next quarter?")
    add("KPI_DISCREPANCY", "low", "pipeline", "internal and partner pipeline figures differ by 8.0% in 2026-Q1",
        "joint", "Agree one source of truth for sourced pipeline")
    for r in com.itertuples():
        if r.is_overdue:
            add("COMMITMENT_OVERDUE", "high", r.commitment_id, f"{r.commitment_id} is {r.days_overdue} days overdue "
                f"({r.description[:60]})", r.party, f"New date for {r.commitment_id}, or drop it explicitly")
        elif r.is_dropped:
            add("COMMITMENT_DROPPED", "medium", r.commitment_id, f"{r.commitment_id} was open last quarter and is "
                "no longer in the log", r.party, f"Confirm whether {r.commitment_id} is still wanted")
        elif r.slip_days > 0 and r.is_open:
            add("COMMITMENT_SLIPPED", "medium", r.commitment_id, f"{r.commitment_id} due date moved {r.slip_days} "
                "days past the date first agreed", r.party, f"Why did {r.commitment_id} slip?")
    add("NO_CHECKIN", "low", "", "no check-in recorded in 2026-Q2", "us", "Set the check-in cadence for next quarter")
    add("DATA_PROBLEM", "low", "", "2 rows excluded (actuals/P.xlsx › Actuals › D17, D18)", "partner",
        "Fix the two unreadable figures in the actuals workbook")
    frame = pd.DataFrame(rows, columns=list(ANALYSIS_FRAMES["flags"]))
    order = frame["severity"].map({"high": 0, "medium": 1, "low": 2})
    return frame.assign(_o=order).sort_values("_o", kind="stable").drop(columns="_o").reset_index(drop=True)


def health(pid: str, level: float) -> tuple[dict, pd.DataFrame]:
    """A health result as `pipeline.analyse.health.health_scores` writes it: whole points that add up to the
    score (the rule line included) and an "out of" column that adds up to 100."""
    results = int(round(min(level, 1.0) * 50)) - 4
    parts = [("results", 50, results, "3 of 5 KPIs measured on track: each KPI earns its share in full at 90% of target"),
             ("delivery", 40, 30, "3 of 4 commitments due kept on time: yours 1 of 2; ours 2 of 2"),
             ("relationship", 10, 10, "2 check-ins in the quarter: full points")]
    rows = [{"partner_id": pid, "component": c, "weight": m / 100, "points": float(p), "max_points": float(m),
             "detail": d, "value": p / m, "measured": True} for c, m, p, d in parts]
    rows.append({"partner_id": pid, "component": "rule", "weight": 0.0, "points": 0.0, "max_points": float("nan"),
                 "detail": "none holds", "value": float("nan"), "measured": False})
    bd = pd.DataFrame(rows, columns=list(ANALYSIS_FRAMES["health_breakdown"]) + ["measured"])
    score = sum(p for _, _, p, _ in parts)
    status = "green" if score >= 75 else "amber" if score >= 50 else "red"
    return ({"partner_id": pid, "quarter": QUARTER.label, "score": score, "status": status,
             "previous_score": float(score + (6 if level < 0.9 else -3)),
             "change_reasons": "pipeline attainment fell 9 points; one more commitment overdue",
             "state": "scored", "state_note": "", "rule": "", "confidence": "based on 5 of 5 KPIs measured",
             "kpis_measured": 5, "kpis_expected": 5}, bd)


def problems(pid: str) -> list:
    return [make("VALUE_NOT_NUMBER", file=f"actuals/{pid}.xlsx", sheet="Actuals", cell="D17", column="value",
                 value="12k", partner_id=pid),
            make("REF_UNKNOWN_KPI", file=f"actuals/{pid}.xlsx", sheet="Actuals", cell="B18", column="kpi_id",
                 value="pipline", detail=" (did you mean pipeline?)", partner_id=pid)]


def _partner_row(pid: str, name: str, tier: str, lead: str) -> dict:
    return {"partner_id": pid, "partner_name": name, "tier": tier, "partner_lead": lead,
            "recipients": f"lead@{pid.lower()}.example", "internal_owner": "Maria Lopez",
            "internal_owner_email": "maria@us.example", "status": "active"}


def partner_view(index: int = 0, *, n_commitments: int = 12, description: str | None = None,
                 watermark: str = "", changes: list[str] | None = None, n_kpis: int = 5) -> PartnerView:
    """The review input of one partner (default: the Greek-named one); `n_kpis` > 5 adds variants of the five."""
    pid, name, tier, lead, level, seed = PARTNERS[index]
    kq = kpi_quarterly(pid, level, seed)
    kpis = KPIS.copy()
    extra_k, extra_q = [], []
    for n in range(5, n_kpis):
        src = KPIS.iloc[n % 5]
        kid = f"{src['kpi_id']}_{n}"
        extra_k.append(src.to_frame().T.assign(kpi_id=kid, kpi_name=f"{src['kpi_name']} (region {n})"))
        extra_q.append(kpi_quarterly(pid, level, seed + n).query("kpi_id == @src.kpi_id").assign(kpi_id=kid))
    if extra_k:
        kpis = pd.concat([kpis, *extra_k], ignore_index=True)
        kq = pd.concat([kq, *extra_q], ignore_index=True)
    com = commitments(pid, n_commitments, description)
    h, bd = health(pid, level)
    config = Config()
    config.values["organisation"]["name"] = "Northwind Partners Inc."
    config.values["organisation"]["watermark"] = watermark
    kq = kq.assign(**{BEYOND_TOLERANCE: beyond_tolerance(kq[DISCREPANCY], Thresholds.of(config).tolerance)})
    view = PartnerView(
        quarter=QUARTER, quarters=WINDOW, partner=_partner_row(pid, name, tier, lead),
        organisation="Northwind Partners Inc.", kpis=kpis, kpi_quarterly=kq, commitments=com,
        delivery=delivery(pid, com), flags=flags(pid, kq, com), health=h, health_breakdown=bd,
        checkins=pd.DataFrame(columns=list(FRAMES["checkins"])), problems=problems(pid),
        sources=[f"actuals/{pid}.xlsx", f"commitments/{pid}.xlsx", "registry.xlsx"], config=config,
        changes=changes if changes is not None else [
            "Health fell from 79 to 73: sourced pipeline attainment dropped 9 points.",
            "Two commitments were completed; one more is now overdue.",
            "Win rate was reported again after a missing quarter."])
    view.findings, view.themes = build_findings(view.flags, kpis, com, {pid: name})  # as `analyse` and `partner_view` make them
    view.top_gaps, view.agenda = top_gaps(view.findings), agenda(view.themes, paused=False)
    view.summary = summary_sentences(view)  # as `partner_view` writes it
    return view


def analysis() -> Analysis:
    """Four partners, for the portfolio review (commitments include internal_note: it is internal)."""
    kq, com, dl, fl, he, bd, partners = [], [], [], [], [], [], []
    for pid, name, tier, lead, level, seed in PARTNERS:
        k = kpi_quarterly(pid, level, seed)
        c = commitments(pid, 12, internal=True)
        h, b = health(pid, level)
        kq.append(k), com.append(c), dl.append(delivery(pid, c)), fl.append(flags(pid, k, c))
        he.append(h), bd.append(b), partners.append(_partner_row(pid, name, tier, lead))
    rec = Reconciled()
    rec.partners = pd.DataFrame(partners)
    rec.kpis = KPIS.copy()
    rec.config.values["organisation"]["name"] = "Northwind Partners Inc."
    a = Analysis(quarter=QUARTER, quarters=WINDOW, kpi_quarterly=pd.concat(kq, ignore_index=True),
                    commitment_status=pd.concat(com, ignore_index=True), delivery=pd.concat(dl, ignore_index=True),
                    flags=pd.concat(fl, ignore_index=True), health=pd.DataFrame(he),
                    health_breakdown=pd.concat(bd, ignore_index=True), reconciled=rec,
                    findings=build_findings(pd.concat(fl, ignore_index=True), KPIS, pd.concat(com, ignore_index=True))[0])
    a.programme = programme(a, None)  # as `analyse` makes it (no history: one quarter)
    return a
