"""The meeting brief (review.md "The meeting brief", issue 19): the what-if scores are the health recomputed
with the change applied; the Canvas is in the brief and in no file the partner receives; the brief is marked
internal on every page; the e-mail gate refuses a brief whatever it is called."""
from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from pypdf import PdfReader

import workbook_builders as W
from pipeline.analyse.analysis import analyse
from pipeline.analyse.brief import briefs
from pipeline.analyse.whatif import what_if
from pipeline.cli import cli
from pipeline.core.periods import Quarter
from pipeline.reconcile.load import load
from pipeline.render.identity import pdf_identity
from pipeline.write.synthetic import write_portfolio

AS_OF = dt.date(2026, 10, 2)
HEAD = ["partner_id", "side", "kind", "text", "weight"]


def _text(path: Path) -> str:
    return "\n".join(p.extract_text() or "" for p in PdfReader(path).pages)


# ------------------------------------------------------------------------------------------ what-if
def _delivered(rec, pid: str, cid: str, q: Quarter):
    """The reconciled frames with one commitment done on its due date."""
    c = rec.commitments.copy()
    row = (c["partner_id"] == pid) & (c["commitment_id"] == cid)
    c.loc[row, "status"] = "done"
    c.loc[row, "completed_date"] = pd.to_datetime(c.loc[row, "due_date"]).iloc[0]
    return dataclasses.replace(rec, commitments=c)


def _at_target(rec, pid: str, kid: str, q: Quarter, target: float):
    """The reconciled frames with the quarter's figures of one KPI replaced by one figure: its target."""
    v = rec.kpi_values
    keep = v[~((v["partner_id"] == pid) & (v["kpi_id"] == kid) & (v["quarter"] == q.label))]
    row = {c: None for c in v.columns}
    row.update({"partner_id": pid, "kpi_id": kid, "period": q.label, "period_kind": "quarter", "quarter": q.label,
                "value": target, "source": "internal", "currency": "", "original_value": target})
    return dataclasses.replace(rec, kpi_values=pd.concat([keep, pd.DataFrame([row])], ignore_index=True))


def test_what_if_scores_equal_the_health_recomputed_with_the_change_applied(tmp_path):
    write_portfolio(tmp_path / "in", partners=5, kpis=4, quarters=5, commitments=6, seed=3)
    rec = load(tmp_path / "in")
    q = Quarter.parse("2026-Q3")
    base = analyse(rec, q, None, as_of=AS_OF)
    options = what_if(base, base.reviewed)
    kq = base.kpi_quarterly[base.kpi_quarterly["qindex"] == q.index]
    open_ = base.commitment_status[base.commitment_status["is_open"].astype(bool)]
    short = kq[kq["target"].notna() & (kq["status"] != "on_track")]
    # every open commitment and every KPI short of its target is an option, and nothing else is
    assert sorted(zip(options.loc[options["kind"] == "commitment", "partner_id"],
                      options.loc[options["kind"] == "commitment", "subject"])) == \
        sorted(zip(open_["partner_id"], open_["commitment_id"]))
    assert sorted(zip(options.loc[options["kind"] == "kpi", "partner_id"],
                      options.loc[options["kind"] == "kpi", "subject"])) == sorted(zip(short["partner_id"], short["kpi_id"]))
    assert len(options) >= 15 and (options["gain"] > 0).any()
    for r in options.itertuples():
        if r.kind == "commitment":
            changed = _delivered(rec, r.partner_id, r.subject, q)
        else:
            target = float(short.loc[(short["partner_id"] == r.partner_id) & (short["kpi_id"] == r.subject), "target"].iloc[0])
            changed = _at_target(rec, r.partner_id, r.subject, q, target)
        after = analyse(changed, q, None, as_of=AS_OF).health.set_index("partner_id").loc[r.partner_id]
        assert (r.score_if, r.status_if) == (after["score"], after["status"]), (r.partner_id, r.subject)
        before = base.health.set_index("partner_id").loc[r.partner_id]
        assert (r.score, r.status) == (before["score"], before["status"])
    # most valuable first within each partner
    for _pid, g in options.groupby("partner_id"):
        gains = g["gain"].fillna(-1e9).tolist()
        assert gains == sorted(gains, reverse=True)


# ------------------------------------------------------------------------------------------ the brief end to end
SECRET = "walkaway-7731: a second distributor covers half the pipeline"


def _inputs(folder: Path, *, alternative: bool = True) -> Path:
    inp = W.clean_portfolio(folder)
    rows = [HEAD,
            ["ACME", "partner", "ask", "early access to the 2027 roadmap", 3],
            ["ACME", "us", "ask", "a named executive sponsor", 3],
            ["ACME", "us", "offer", "two joint webinars", 1],
            ["ACME", "us", "limit", "no discount over 15%", 3],
            ["GLOBEX", "partner", "interest", "globex-interest: wants the Nordics", 2]]
    if alternative:
        rows.append(["ACME", "us", "alternative", SECRET, 3])
    W.write_xlsx(inp / "prep.xlsx", {"Canvas": rows})
    (inp / "partner-review.toml").write_text('[organisation]\nname = "Us & Co"\n')
    return inp


def _report(inp: Path, out: Path) -> Path:
    result = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--quarter", "2026-Q1",
                                      "--as-of", "2026-04-02", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return out / "2026-Q1"


def test_every_partner_gets_an_internal_brief_with_its_own_canvas_and_no_other(tmp_path):
    qdir = _report(_inputs(tmp_path / "in"), tmp_path / "out")
    manifest = json.loads((qdir / "manifest.json").read_text())
    by_pid = {m["partner_id"]: m for m in manifest["partners"]}
    assert set(by_pid) == {"ACME", "GLOBEX"}
    files = [m["brief"] for m in manifest["partners"]] + [m["pdf"] for m in manifest["partners"]]
    assert len(set(files)) == len(files)
    acme = qdir / by_pid["ACME"]["brief"]
    assert acme.parent.name == "briefs" and acme.name == Path(by_pid["ACME"]["pdf"]).stem + "_BRIEF_INTERNAL.pdf"
    pages = [p.extract_text() for p in PdfReader(acme).pages]
    assert 1 <= len(pages) <= 3
    assert all("INTERNAL" in p for p in pages)
    text = "\n".join(pages)
    for words in ("walkaway-7731", "early access to the 2027 roadmap", "a named executive sponsor", "no discount"):
        assert words in text
    assert "globex-interest" not in text and "Globex" not in text
    assert "No alternative recorded" not in text
    globex = _text(qdir / by_pid["GLOBEX"]["brief"])
    assert "globex-interest" in globex and "walkaway-7731" not in globex and "Acme" not in globex
    # the missing alternative is said first: before any section
    assert globex.index("No alternative recorded") < globex.index("Where both sides stand")
    assert pdf_identity(acme.read_bytes()) == {"brief": "ACME", "quarter": "2026-Q1"}
    # the portfolio names every brief and the partners to decide an alternative for
    portfolio = " ".join(_text(qdir / manifest["portfolio_pdf"]).split())
    assert "No alternative recorded for 1 of 2 partners: Globex." in portfolio
    for m in manifest["partners"]:
        assert m["brief"] in portfolio.replace(" ", "") or Path(m["brief"]).name in portfolio
    # and the Canvas reaches no file the partner receives
    assert CliRunner().invoke(cli, ["email", "--reviews", str(qdir)]).exit_code == 0
    for m in manifest["partners"]:
        outward = _text(qdir / m["pdf"])
        msg = email.message_from_bytes((qdir / "email" / (Path(m["pdf"]).stem + ".eml")).read_bytes(),
                                       policy=email.policy.default)
        outward += msg.get_body(("plain",)).get_content()
        names = [part.get_filename() for part in msg.iter_attachments()]
        assert not any("BRIEF" in (n or "").upper() for n in names)
        for words in ("walkaway", "roadmap", "executive sponsor", "globex-interest", "MEETING BRIEF"):
            assert words not in outward


@pytest.mark.parametrize("how", ["copied over the review", "named in the manifest"])
def test_the_email_gate_refuses_a_brief_however_it_is_named(tmp_path, how):
    qdir = _report(_inputs(tmp_path / "in"), tmp_path / "out")
    path = qdir / "manifest.json"
    manifest = json.loads(path.read_text())
    acme = next(m for m in manifest["partners"] if m["partner_id"] == "ACME")
    if how == "copied over the review":   # the brief's bytes under the review's own name
        shutil.copyfile(qdir / acme["brief"], qdir / acme["pdf"])
    else:                                  # the manifest points the review at the brief
        acme["pdf"] = acme["brief"]
        path.write_text(json.dumps(manifest))
    result = CliRunner().invoke(cli, ["email", "--reviews", str(qdir)])
    assert result.exit_code == 1, result.output
    assert "ATTACHMENT_REFUSED" in result.output and "meeting brief" in result.output
    drafts = sorted(p.name for p in (qdir / "email").glob("*.eml"))
    assert len(drafts) == 1 and "Globex" in drafts[0]


def test_a_paused_partner_has_no_what_if_and_the_brief_says_why(tmp_path):
    inp = _inputs(tmp_path / "in")
    rows = [list(r) for r in W.PARTNERS]
    status = rows[0].index("status")
    for r in rows[1:]:
        if r[0] == "GLOBEX":
            r[status] = "paused"
    W.write_xlsx(inp / "registry.xlsx", {"Partners": rows, "KPIs": W.KPIS})
    rec = load(inp)
    a = analyse(rec, Quarter.parse("2026-Q1"), None, as_of=AS_OF)
    got = {b.partner_id: b for b in briefs(a, a.reviewed)}
    assert got["GLOBEX"].what_if.empty and not got["ACME"].what_if.empty
    qdir = _report(inp, tmp_path / "out")
    manifest = json.loads((qdir / "manifest.json").read_text())
    globex = next(m for m in manifest["partners"] if m["partner_id"] == "GLOBEX")
    assert "paused, so it is not scored" in _text(qdir / globex["brief"]).replace("\n", " ")


def test_a_brief_that_cannot_be_written_costs_its_own_brief_never_a_review(tmp_path, monkeypatch):
    """Fault injection: the brief of one partner raises (a bug its data would meet); the workers fork after the
    patch, so they meet it too."""
    import pipeline.analyse.brief as brief_module
    from pipeline.run.report import run_report

    real = brief_module._brief

    def broken(a, pid, *rest):
        if pid == "GLOBEX":
            raise ValueError("cannot brief this one")
        return real(a, pid, *rest)

    monkeypatch.setattr(brief_module, "_brief", broken)
    result = run_report(_inputs(tmp_path / "in"), tmp_path / "out", quarter=Quarter.parse("2026-Q1"), jobs=1,
                        as_of=AS_OF)
    assert result.ok and set(result.written) == {"ACME", "GLOBEX"}
    assert result.brief_failed == {"GLOBEX": "ValueError: cannot brief this one"}
    assert "no meeting brief for GLOBEX: ValueError" in result.summary()
    manifest = json.loads((tmp_path / "out" / "2026-Q1" / "manifest.json").read_text())
    by_pid = {m["partner_id"]: m for m in manifest["partners"]}
    assert "brief" not in by_pid["GLOBEX"] and (tmp_path / "out" / "2026-Q1" / by_pid["ACME"]["brief"]).is_file()
    assert sorted(p.name for p in (tmp_path / "out" / "2026-Q1" / "briefs").iterdir()) == \
        [Path(by_pid["ACME"]["brief"]).name]


def test_briefs_come_from_the_cache_until_what_they_show_changes(tmp_path):
    """A re-run copies the briefs it holds; a changed Canvas re-renders that partner's brief (its review is
    reused: nothing the review shows changed), and the brief says the new words."""
    from pipeline.run.report import run_report

    inp, out = _inputs(tmp_path / "in"), tmp_path / "out"
    q = Quarter.parse("2026-Q1")
    first = run_report(inp, out, quarter=q, jobs=1, as_of=AS_OF)
    qdir = out / "2026-Q1"
    manifest = json.loads((qdir / "manifest.json").read_text())
    paths = {m["partner_id"]: qdir / m["brief"] for m in manifest["partners"]}
    before = {pid: p.read_bytes() for pid, p in paths.items()}
    assert first.timings.get("briefs", 0.0) > 0
    again = run_report(inp, out, quarter=q, jobs=1, as_of=AS_OF)
    assert "briefs" not in again.timings   # no brief rendered: both copied from the cache
    assert {pid: p.read_bytes() for pid, p in paths.items()} == before
    rows = [HEAD, ["ACME", "us", "alternative", "a changed walkaway: build the channel ourselves", 3]]
    W.write_xlsx(inp / "prep.xlsx", {"Canvas": rows})
    third = run_report(inp, out, quarter=q, jobs=1, as_of=AS_OF)
    assert set(third.reused) == {"ACME", "GLOBEX"}   # the reviews do not show the Canvas
    assert "globex-interest" not in _text(paths["GLOBEX"])   # its Canvas row is gone: its brief re-rendered
    acme = _text(paths["ACME"])
    assert "build the channel ourselves" in acme and "walkaway-7731" not in acme
    assert len(list((out / ".cache" / "2026-Q1").glob("*.pdf"))) == 2   # one review per partner ...
    assert len(list((out / ".cache" / "2026-Q1" / "briefs").glob("*.pdf"))) == 2   # ... and one brief


def test_questions_ask_them_nothing_about_figures_of_ours_left_out():
    """Château Vert's NPS is missing because our own export's value was blank, and the data left out is in our
    records: the brief asks them neither to send the figure nor who should go through their figures."""
    drop = Path(__file__).resolve().parents[1] / "pipeline" / "samples" / "drops" / "2026-Q3"
    rec = load(drop)
    a = analyse(rec, Quarter(2026, 3), None, as_of=AS_OF)
    [b] = briefs(a, ["P08"])
    asked = " ".join(b.questions)
    assert "Joint customer NPS" not in asked and "joint customer NPS" not in asked
    assert "could not be used" not in asked
    assert any("out of 5" in q for q in b.questions)   # what is theirs to answer is still asked
