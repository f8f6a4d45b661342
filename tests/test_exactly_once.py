"""Exactly the right partner, exactly once: file names that collide, references that could mean two
partners, input and output folders that overlap, two runs at once, and reviews re-rendered on another day.

Every test builds its own input, runs the real commands, and reads back the files a partner receives."""
from __future__ import annotations

import datetime as dt
import email
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import unicodedata
from email.policy import default as POLICY
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from pipeline.cli import cli

try:  # tests/ is a plain folder on sys.path
    from smtp_server import smtp_server
    from workbook_builders import KPIS, write_xlsx
except ImportError:  # pragma: no cover
    from tests.smtp_server import smtp_server
    from tests.workbook_builders import KPIS, write_xlsx

Q = "2026-Q3"
SENDER = "reviews@us.example"
ENV = {"PARTNER_REVIEW_SMTP_PASSWORD": None, "PARTNER_REVIEW_FROM": None, "PARTNER_REVIEW_SMTP_USER": None,
       "PARTNER_REVIEW_SMTP_HOST": None, "PARTNER_REVIEW_SMTP_PORT": None, "PARTNER_REVIEW_LOCK_WAIT": "0.5"}
LEADS = ["Alfa", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel", "India", "Juliett"]
HEAD = ["partner_id", "partner_name", "tier", "partner_lead", "partner_lead_email", "internal_owner",
        "internal_owner_email", "status"]


def lead_of(i: int) -> str:
    return f"Zed {LEADS[i]}"


def portfolio(folder: Path, partners: list[tuple[str, str]], *, revenue: dict[str, float] | None = None) -> Path:
    """A registry of `partners` (id, name), each with its own lead, target and actual for Q."""
    rows = [HEAD] + [[pid, name, "Gold", lead_of(i), f"lead{i}@partner{i}.example", "Olga Owner", "olga@us.example",
                      "active"] for i, (pid, name) in enumerate(partners)]
    write_xlsx(folder / "registry.xlsx", {"Partners": rows, "KPIs": KPIS})
    targets = [["partner_id", "kpi_id", "period", "target"]]
    actuals = [["partner_id", "kpi_id", "period", "value", "source"]]
    for i, (pid, _name) in enumerate(partners):
        for quarter in ("2026-Q2", Q):
            targets.append([pid, "deals", quarter, 10 + i])
            actuals.append([pid, "deals", quarter, (revenue or {}).get(pid, 7 + i), "internal"])
    write_xlsx(folder / "data.xlsx", {"Targets": targets, "Actuals": actuals})
    (folder / "partner-review.toml").write_text('[organisation]\nname = "Us & Co"\n')  # email --send needs our name
    return folder


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env={**ENV, **(env or {})}, catch_exceptions=False)


def report(inp: Path, out: Path, *extra: str):
    res = run("report", "--input", str(inp), "--output", str(out), "--jobs", "1", *extra)
    assert res.exit_code == 0, res.output
    return json.loads((out / Q / "manifest.json").read_text(encoding="utf-8"))


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def identity(pdf: bytes) -> dict:
    """The partner a review PDF says it belongs to, from its own metadata."""
    from pipeline.render.identity import pdf_identity

    return pdf_identity(pdf)


def pdf_identity(path: Path) -> dict:
    return identity(path.read_bytes())


def fold(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def send_args(q: Path, port: int, *extra: str) -> list[str]:
    return ["email", "--reviews", str(q), "--send", "--no-starttls", "--smtp-host", "127.0.0.1",
            "--smtp-port", str(port), "--from", SENDER, *extra]


def attachment_names(handler) -> list[str]:
    names = []
    for r in handler.received:
        msg = email.message_from_bytes(r.data, policy=POLICY)
        names += [p.get_filename() for p in msg.walk() if p.get_content_type() == "application/pdf"]
    return names


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. file names that collide -------------------------------------------------------------------
COLLIDING = [
    ("P1", "Acme"),
    ("P3", "Acme_P2"),                 # what a clash suffix would make of Acme + P2
    ("P2", "Acme!"),                   # slugs to Acme
    ("P4", "ACME"),                    # the same name but for case: a registry error, the partner still reviewed
    ("L" * 80 + "1", "Long" * 30),     # ids and names equal after truncation
    ("L" * 80 + "2", "Long" * 30 + "!"),
    ("P7", unicodedata.normalize("NFC", "Café Ünion")),
    ("P8", unicodedata.normalize("NFD", "Café Ünion")),  # the same on macOS, which stores names decomposed
]


@pytest.fixture(scope="module")
def colliding(tmp_path_factory):
    inp = portfolio(tmp_path_factory.mktemp("in"), COLLIDING)
    out = tmp_path_factory.mktemp("out")
    manifest = report(inp, out)
    return out / Q, manifest


def test_every_partner_gets_its_own_file_also_on_case_insensitive_disks(colliding):
    q, manifest = colliding
    entries = manifest["partners"]
    assert sorted(e["partner_id"] for e in entries) == sorted(pid for pid, _ in COLLIDING)
    names = [e["pdf"] for e in entries]
    assert len({fold(n) for n in names}) == len(COLLIDING), names
    assert all(len(n.encode("utf-8")) <= 200 for n in names)
    pdfs = sorted(p.name for p in q.glob("*_partnership-review.pdf"))
    assert sorted(names) == pdfs


def test_each_pdf_holds_its_own_partner_alone(colliding):
    q, manifest = colliding
    index = {pid: i for i, (pid, _) in enumerate(COLLIDING)}
    for e in manifest["partners"]:
        i = index[e["partner_id"]]
        assert pdf_identity(q / e["pdf"])["partner_id"] == e["partner_id"]
        text = pdf_text(q / e["pdf"])
        assert lead_of(i) in text
        others = [lead_of(j) for j in range(len(COLLIDING)) if j != i]
        assert not [o for o in others if o in text], e


def test_drafts_carry_each_partners_own_pdf(colliding, tmp_path):
    q = tmp_path / Q
    shutil.copytree(colliding[0], q)
    res = run("email", "--reviews", str(q))
    assert res.exit_code == 0, res.output
    for e in json.loads((q / "manifest.json").read_text())["partners"]:
        msg = email.message_from_bytes((q / "email" / (Path(e["pdf"]).stem + ".eml")).read_bytes(), policy=POLICY)
        [att] = [p for p in msg.walk() if p.get_content_type() == "application/pdf"]
        assert att.get_content() == (q / e["pdf"]).read_bytes()
        assert identity(att.get_content())["partner_id"] == e["partner_id"]
        assert any(a.addr_spec == e["recipients"][0] for a in msg["To"].addresses)


def test_the_whole_send_is_refused_when_two_partners_share_a_file(colliding, tmp_path):
    q = tmp_path / Q
    shutil.copytree(colliding[0], q)
    manifest = json.loads((q / "manifest.json").read_text())
    manifest["partners"][1]["pdf"] = manifest["partners"][0]["pdf"]
    (q / "manifest.json").write_text(json.dumps(manifest))
    with smtp_server() as (port, handler):
        res = run(*send_args(q, port))
    assert res.exit_code != 0
    assert handler.received == []
    first, second = manifest["partners"][0]["partner_id"], manifest["partners"][1]["partner_id"]
    assert first in res.output and second in res.output and "share" in res.output
    assert not (q / "email" / "sent.jsonl").exists()


def test_a_pdf_that_is_not_the_partners_own_is_never_attached(colliding, tmp_path):
    q = tmp_path / Q
    shutil.copytree(colliding[0], q)
    manifest = json.loads((q / "manifest.json").read_text())
    a, b = manifest["partners"][0], manifest["partners"][1]
    a["pdf"], b["pdf"] = b["pdf"], a["pdf"]  # two files swapped: each entry now names the other partner's review
    (q / "manifest.json").write_text(json.dumps(manifest))
    with smtp_server() as (port, handler):
        res = run(*send_args(q, port))
    assert res.exit_code == 1
    sent = attachment_names(handler)
    assert a["pdf"] not in sent and b["pdf"] not in sent
    assert len(sent) == len(COLLIDING) - 2
    assert res.output.count("[PDF_NOT_PARTNERS]") == 2


# --- 2. ambiguous references ----------------------------------------------------------------------
def test_a_reference_that_could_mean_two_partners_is_an_error_never_attributed(tmp_path):
    partners = [("P1", "Northwind"), ("NW", "P1"), ("C5", "Contoso"), ("C6", "contoso ")]
    inp = portfolio(tmp_path / "in", partners)
    write_xlsx(inp / "more.xlsx", {"Actuals": [
        ["partner_id", "kpi_id", "period", "value"],
        ["P1", "revenue", Q, 111111],        # P1's id and NW's name
        ["Contoso", "revenue", Q, 222222],   # the name of two partners
        ["Northwind", "revenue", Q, 333333], # P1 by name: fine
        ["NW", "revenue", Q, 444444],        # NW by id: fine
    ]})
    from pipeline.reconcile.load import load

    rec = load(inp)
    values = set(rec.kpi_values["value"])
    assert {333333, 444444} <= values and not {111111, 222222} & values
    amb = [p for p in rec.problems if p.code == "REF_AMBIGUOUS_PARTNER" and p.file == "more.xlsx"]
    assert sorted(p.value for p in amb) == ["Contoso", "P1"]
    assert all(p.code == "REF_AMBIGUOUS_PARTNER" for p in rec.problems if p.file == "data.xlsx" and p.value == "P1")
    assert all(p.partner_id == "" and p.severity == "error" and p.cell for p in amb)
    p1 = next(p for p in amb if p.value == "P1")
    assert "P1" in p1.message and "NW" in p1.message and "Northwind" in p1.message
    dup = [p for p in rec.problems if p.code == "PARTNER_DUPLICATE_NAME" and p.value == "contoso"]
    assert len(dup) == 1 and "C5" in dup[0].message and "C6" in dup[0].message and dup[0].severity == "error"
    assert dup[0].partner_id == ""  # it names two partners: for us alone, never in either's review
    from pipeline.analyse.analysis import analyse, partner_view
    from pipeline.core.periods import Quarter

    analysis = analyse(rec, Quarter.parse(Q))
    for pid, name in partners:
        notes = " ".join(p.message + p.value for p in partner_view(analysis, pid).problems)
        others = [other for o_pid, other in partners if o_pid != pid and other.strip().casefold() != name.strip().casefold()]
        assert not [o for o in others if o in notes] and "111111" not in notes and "222222" not in notes
    res = run("validate", "--input", str(inp))
    assert res.exit_code == 1
    assert "REF_AMBIGUOUS_PARTNER" in res.output or "could mean" in res.output


def test_a_kpi_reference_that_could_mean_two_kpis_is_an_error(tmp_path):
    inp = portfolio(tmp_path / "in", [("P1", "Northwind")])
    kpis = [KPIS[0], ["deals", "Deals closed", "count"], ["won", "deals", "count"]]
    write_xlsx(inp / "registry.xlsx", {"Partners": [HEAD, ["P1", "Northwind", "Gold", "Zed", "z@n.example", "O",
                                                           "o@us.example", "active"]], "KPIs": kpis})
    from pipeline.reconcile.load import load

    rec = load(inp)
    assert not len(rec.kpi_values[rec.kpi_values["kpi_id"].isin(["deals", "won"])])
    assert {p.code for p in rec.problems} >= {"REF_AMBIGUOUS_KPI"}


# --- 3. input and output folders that overlap -----------------------------------------------------
def test_input_inside_output_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    inp = portfolio(out / Q, [("P1", "Northwind"), ("P2", "Southwind")])
    before = digest(out)
    res = run("report", "--input", str(inp), "--output", str(out), "--jobs", "1")
    assert res.exit_code == 2, res.output
    assert "inside" in res.output and "internal error" not in res.output
    assert digest(out) == before


def test_output_inside_input_is_refused_with_exit_2(tmp_path):
    inp = portfolio(tmp_path / "in", [("P1", "Northwind")])
    before = digest(inp)
    res = run("report", "--input", str(inp), "--output", str(inp / "out"), "--jobs", "1")
    assert res.exit_code == 2 and "inside" in res.output
    assert digest(inp) == before


def test_an_output_folder_that_is_a_link_to_the_input_is_refused(tmp_path):
    inp = portfolio(tmp_path / "in", [("P1", "Northwind")])
    (tmp_path / "link").symlink_to(inp, target_is_directory=True)
    before = digest(inp)
    res = run("report", "--input", str(inp), "--output", str(tmp_path / "link" / "x"), "--jobs", "1")
    assert res.exit_code == 2
    assert digest(inp) == before


def test_feedback_into_a_folder_holding_the_input_is_refused(tmp_path):
    out = tmp_path / "fixes"
    inp = out / "incoming"
    portfolio(inp, [("P1", "Northwind")])
    write_xlsx(inp / "bad.xlsx", {"Actuals": [["partner_id", "kpi_id", "period", "value"], ["P1", "deals", Q, "12k"]]})
    before = digest(out)
    res = run("feedback", "--input", str(inp), "--output", str(out))
    assert res.exit_code == 2
    assert digest(out) == before


# --- 4. two runs at once --------------------------------------------------------------------------
def test_a_second_report_stops_with_the_name_of_the_running_one(tmp_path):
    from pipeline.core.locks import REPORT, hold

    inp = portfolio(tmp_path / "in", [("P1", "Northwind")])
    out = tmp_path / "out"
    with hold(out, REPORT, "partner-review report (test)"):
        res = run("report", "--input", str(inp), "--output", str(out), "--jobs", "1")
    assert res.exit_code == 2, res.output
    assert str(os.getpid()) in res.output and "partner-review report (test)" in res.output
    assert not (out / Q).exists()
    assert run("report", "--input", str(inp), "--output", str(out), "--jobs", "1").exit_code == 0


def _holding_child(out: Path):
    """A process that holds the report lock of `out` until it is killed; returns once it holds it."""
    code = ("import sys, time; from pipeline.core.locks import REPORT, hold\n"
            "with hold(sys.argv[1], REPORT, 'a run about to be killed'):\n"
            "    print('held', flush=True); time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    from pipeline.core.locks import REPORT, lock_path

    inp = portfolio(tmp_path / "in", [("P1", "Northwind")])
    out = tmp_path / "out"
    child = _holding_child(out)
    try:
        busy = run("report", "--input", str(inp), "--output", str(out), "--jobs", "1")
        assert busy.exit_code == 2 and "a run about to be killed" in busy.output and str(child.pid) in busy.output
    finally:
        child.kill()
        child.wait()
    assert str(child.pid) in lock_path(out, REPORT).read_text()  # the dead run's lock file is still there
    assert run("report", "--input", str(inp), "--output", str(out), "--jobs", "1").exit_code == 0


def test_a_lock_file_that_is_a_link_is_refused_and_its_target_untouched(tmp_path):
    from pipeline.core.locks import REPORT, lock_path

    inp = portfolio(tmp_path / "in", [("P1", "Northwind")])
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    lock_path(out, REPORT).symlink_to(victim)
    res = run("report", "--input", str(inp), "--output", str(out), "--jobs", "1")
    assert res.exit_code == 2 and "link" in res.output
    assert victim.read_text() == "keep me"


def test_two_sends_at_once_deliver_each_review_once(tmp_path):
    inp = portfolio(tmp_path / "in", [(f"P{i}", f"Partner {LEADS[i]}") for i in range(6)])
    out = tmp_path / "out"
    report(inp, out)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNER_REVIEW_")}
    env["PARTNER_REVIEW_LOCK_WAIT"] = "60"
    with smtp_server(delay=0.4) as (port, handler):
        cmd = [sys.executable, "-m", "pipeline", *send_args(out / Q, port)]
        procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=120)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        assert sorted(attachment_names(handler)) == sorted(e["pdf"] for e in
                                                           json.loads((out / Q / "manifest.json").read_text())["partners"])


def test_two_reports_at_once_leave_one_whole_quarter(tmp_path):
    inp = portfolio(tmp_path / "in", [(f"P{i}", f"Partner {LEADS[i]}") for i in range(4)])
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNER_REVIEW_")}
    env["PARTNER_REVIEW_LOCK_WAIT"] = "120"
    cmd = [sys.executable, "-m", "pipeline", "report", "--input", str(inp), "--output", str(out), "--jobs", "1", "-q"]
    from pipeline.core.locks import REPORT, lock_path

    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
    deadline = time.monotonic() + 60
    while str(procs[0].pid) not in (lock_path(out, REPORT).read_text() if lock_path(out, REPORT).exists() else ""):
        assert time.monotonic() < deadline and procs[0].poll() is None, "the first report never took the lock"
        time.sleep(0.02)
    procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert any("waiting" in o for o in outs), outs
    manifest = json.loads((out / Q / "manifest.json").read_text())
    assert len(manifest["partners"]) == 4
    assert all((out / Q / e["pdf"]).is_file() for e in manifest["partners"])
    assert not list(out.rglob("*.part")) and not list(out.glob(".run-*"))


# --- 5. reviews re-rendered: deterministic PDFs, a send log that knows what a review says ---------
@pytest.fixture(scope="module")
def two_renders(tmp_path_factory):
    inp = portfolio(tmp_path_factory.mktemp("in"), [("P1", "Northwind"), ("P2", "Southwind"), ("P3", "Eastwind")])
    out = tmp_path_factory.mktemp("out")
    report(inp, out, "--as-of", "2026-10-15")
    first = digest(out / Q)
    shutil.rmtree(out / ".cache")
    report(inp, out, "--as-of", "2026-10-15")
    return inp, out, first, digest(out / Q)


def test_same_inputs_and_as_of_date_give_byte_identical_pdfs(two_renders):
    _inp, out, first, second = two_renders
    pdfs = [k for k in first if k.endswith(".pdf")]
    assert len(pdfs) == 7   # three reviews, their three meeting briefs, the portfolio
    assert sum(k.startswith("briefs/") for k in pdfs) == 3
    assert {k: first[k] for k in pdfs} == {k: second[k] for k in pdfs}


def test_the_pdf_bears_the_as_of_date(two_renders):
    _inp, out, _first, _second = two_renders
    for path in (out / Q).glob("*.pdf"):
        meta = PdfReader(str(path)).metadata
        assert meta.creation_date.date() == dt.date(2026, 10, 15), path
    [review] = [p for p in (out / Q).glob("Northwind*.pdf")]
    assert "15 Oct 2026" in pdf_text(review)


def test_a_review_re_rendered_with_the_same_content_is_not_sent_again(two_renders, tmp_path):
    inp, out0, _first, _second = two_renders
    out = tmp_path / "out"
    shutil.copytree(out0, out)
    with smtp_server() as (port, handler):
        assert run(*send_args(out / Q, port)).exit_code == 0
        assert len(handler.received) == 3
        shutil.rmtree(out / ".cache")
        before = digest(out / Q)
        report(inp, out, "--as-of", "2026-10-20")  # another day, no cache
        after = digest(out / Q)
        assert all(before[k] != after[k] for k in before if k.endswith("partnership-review.pdf"))
        res = run(*send_args(out / Q, port))
        assert res.exit_code == 0, res.output
        assert "0 sent, 3 already sent" in res.output
        assert len(handler.received) == 3
        portfolio(inp, [("P1", "Northwind"), ("P2", "Southwind"), ("P3", "Eastwind")], revenue={"P2": 99})
        report(inp, out, "--as-of", "2026-10-20")
        res = run(*send_args(out / Q, port))
        assert "1 sent, 2 already sent" in res.output, res.output
        [(name)] = attachment_names(handler)[3:]
        assert name.startswith("Southwind")


def test_a_correction_undone_goes_out_again(two_renders, tmp_path):
    """Content A sent, then B, then A again: the partner last received B, so A goes out once more."""
    inp0, out0, _first, _second = two_renders
    inp, out = tmp_path / "in", tmp_path / "out"
    shutil.copytree(inp0, inp)
    shutil.copytree(out0, out)
    names = [("P1", "Northwind"), ("P2", "Southwind"), ("P3", "Eastwind")]
    with smtp_server() as (port, handler):
        assert "3 sent" in run(*send_args(out / Q, port)).output
        portfolio(inp, names, revenue={"P1": 50})
        report(inp, out, "--as-of", "2026-10-15")
        assert "1 sent, 2 already sent" in run(*send_args(out / Q, port)).output
        portfolio(inp, names)
        report(inp, out, "--as-of", "2026-10-15")
        res = run(*send_args(out / Q, port))
        assert "1 sent, 2 already sent" in res.output, res.output
        assert [n.split("_")[0] for n in attachment_names(handler)[3:]] == ["Northwind", "Northwind"]


def test_a_history_file_inside_the_input_is_refused(tmp_path):
    inp = portfolio(tmp_path / "in", [("P1", "Northwind")])
    before = digest(inp)
    res = run("report", "--input", str(inp), "--output", str(tmp_path / "out"), "--history",
              str(inp / "history.sqlite"), "--jobs", "1")
    assert res.exit_code == 2 and "inside the input" in res.output
    assert digest(inp) == before
