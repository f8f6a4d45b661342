"""The e-mail a person would write (issue 15): first-name greeting, the verdict, the points for the meeting named
by what they are, the proposed meeting, the sender's signature, one date style with the PDF, a template the user
can change (and a clear error when it is wrong), and a preview of who gets what before anything is sent."""
from __future__ import annotations

import email
import os
import re
import subprocess
import sys
from email.policy import default as POLICY
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli

try:  # tests/ is a plain folder (on sys.path) or, once it has an __init__.py, the package `tests`
    from smtp_server import smtp_server
    from test_email import CLEAN_ENV, PARTNERS, SENDER, make_quarter, send_args
except ImportError:  # pragma: no cover
    from tests.smtp_server import smtp_server
    from tests.test_email import CLEAN_ENV, PARTNERS, SENDER, make_quarter, send_args

ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
TROUBLED = {
    "partner_id": "P2", "partner_name": "Kestrel & Vane Consulting", "pdf": "kestrel.pdf",
    "recipients": ["fergus.vane@example.com"], "cc": ["priya.raman@us.example"], "health_score": 46,
    "health_status": "red", "flag_count": 18, "partner_lead": "Fergus Vane", "internal_owner": "Priya Raman",
    "summary": ("0 of 6 KPIs are on track this quarter, 6 off track. Furthest from target: Certified consultants at "
                "69% of target. 4 commitments are tracked: 3 open, 1 done, 2 overdue. 18 gaps are flagged in 3 themes, "
                "8 of them high severity; the agenda at the end of this review proposes what to discuss."),
    "top_gaps": ["KV-01 (Certify five consultants on the managed-service stack): 92 days overdue at 2026-09-30 "
                 "(due 2026-06-30, in progress).",
                 "KV-02 (Launch the joint managed-service offer): due 2026-10-31, 214 days later than first agreed.",
                 "Certified consultants: 69% of target (11 against 16)."],
}
AGENDA = ["Certifying five consultants on the managed-service stack, three months late: what stands in the way.",
          "The joint managed-service offer: a launch date both of us can keep.",
          "Certified consultants at 69% of target: a plan to reach 16."]


def draft(q: Path, pdf: str, *args: str) -> tuple[object, str]:
    res = CliRunner().invoke(cli, ["email", "--reviews", str(q), *args], env=CLEAN_ENV, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    msg = email.message_from_bytes((q / "email" / (Path(pdf).stem + ".eml")).read_bytes(), policy=POLICY)
    return msg, msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


# --- the words ------------------------------------------------------------------------------------
def test_greets_the_lead_by_first_name_and_signs_as_the_internal_owner(tmp_path):
    q = make_quarter(tmp_path, [TROUBLED], organisation="Northwind Alliances")
    _, text = draft(q, "kestrel.pdf")
    assert text.startswith("Dear Fergus,\n") and "Fergus Vane," not in text
    assert text.rstrip().endswith("Priya Raman\nNorthwind Alliances")


@pytest.mark.parametrize("lead", ["Dr. Anna Schmidt", "Vane, Fergus", "王伟", "王 伟", "J. Smith", "Partnerships", "Lead 2", ""])
def test_a_first_name_we_cannot_tell_safely_greets_the_team(tmp_path, lead):
    q = make_quarter(tmp_path, [dict(TROUBLED, partner_lead=lead)])
    _, text = draft(q, "kestrel.pdf")
    assert text.splitlines()[0] == "Dear Kestrel & Vane Consulting team,"


def test_the_verdict_and_the_meeting_points_named_by_what_they_are(tmp_path):
    q = make_quarter(tmp_path, [dict(TROUBLED, agenda=AGENDA, next_meeting="2027-01-14")], organisation="Northwind")
    _, text = draft(q, "kestrel.pdf")
    assert "at risk" in text and "46 out of 100" in text
    assert "18 gaps are flagged" not in text  # the points for the meeting say it better
    for point in AGENDA:
        assert f"- {point}" in text
    assert "three points" in text
    assert "14 Jan 2027" in text and not ISO_DATE.search(text)


def test_an_older_manifest_names_the_commitments_without_codes_or_iso_dates(tmp_path):
    q = make_quarter(tmp_path, [TROUBLED], organisation="Northwind")
    _, text = draft(q, "kestrel.pdf")
    assert "- Certify five consultants on the managed-service stack: 92 days overdue at 30 Sep 2026" in text
    assert "KV-01" not in text and "KV-02" not in text and not ISO_DATE.search(text)
    assert "I will suggest a date for our review meeting" in text


def test_an_older_manifest_cites_no_workbook_cell_of_ours(tmp_path):
    gaps = ["Data: 1 row or value excluded: exports/crm_actuals_export_2026-10-02.xlsx › Actuals › D287."]
    q = make_quarter(tmp_path, [dict(TROUBLED, top_gaps=gaps)])
    _, text = draft(q, "kestrel.pdf")
    assert "- Data: 1 row or value excluded.\n" in text and "crm_actuals" not in text and "D287" not in text


def test_a_healthy_partner_with_nothing_flagged_gets_no_empty_list(tmp_path):
    healthy = dict(PARTNERS[1], partner_lead="Maya Okafor", internal_owner="Jonas Weber", top_gaps=[],
                   summary="6 of 6 KPIs are on track this quarter. Nothing is flagged this quarter.", agenda=[])
    q = make_quarter(tmp_path, [healthy])
    _, text = draft(q, healthy["pdf"])
    assert "Dear Maya," in text and "healthy" in text and "\n- " not in text and "plan the quarter ahead together" in text


# --- the template ---------------------------------------------------------------------------------
def test_a_template_next_to_the_config_is_used(tmp_path):
    q = make_quarter(tmp_path, [dict(TROUBLED, agenda=AGENDA, next_meeting="2027-01-14")], organisation="Northwind")
    inp = tmp_path / "input"
    inp.mkdir()
    (inp / "partner-review.toml").write_text('[organisation]\nname = "Northwind"\n', encoding="utf-8")
    (inp / "email_template.txt").write_text(
        "## our own words\nSubject: Our review of ${partner_name}, ${quarter}\nHi ${first_name},\n\n"
        "Costs $$5 to read.\n\n${agenda}\n\nMeet on ${next_meeting}?\n\n${signature}\n", encoding="utf-8")
    msg, text = draft(q, "kestrel.pdf", "--input", str(inp))
    assert msg["Subject"] == "Our review of Kestrel & Vane Consulting, 2026-Q3"
    assert text.startswith("Hi Fergus,\n\nCosts $5 to read.") and "our own words" not in text
    assert "Meet on 14 Jan 2027?" in text and f"- {AGENDA[0]}" in text
    html = msg.get_body(("html",)).get_content()
    assert f"<li>{AGENDA[0]}</li>" in html and "<p>Costs $5 to read.</p>" in html


@pytest.mark.parametrize("body, where, why", [
    ("Dear ${first_name},\n\n${agenda}\n\nBest, ${sender}\n", "line 7", "did you mean ${sender_name}?"),
    ("Dear ${first_name},\n\nThat costs $5.\n", "line 3", "$$"),
    ("Dear ${first_name,\n", "line 1", "}"),
])
def test_a_bad_template_is_a_clear_error_naming_file_and_line(tmp_path, body, where, why):
    q = make_quarter(tmp_path, [TROUBLED])
    tpl = tmp_path / "mine.txt"
    tpl.write_text("## notes\n## more\n" + body if where == "line 7" else body, encoding="utf-8")
    res = CliRunner().invoke(cli, ["email", "--reviews", str(q), "--template", str(tpl)], env=CLEAN_ENV)
    assert res.exit_code == 2, res.output
    assert f"mine.txt, {where}" in res.output and why in res.output and "Traceback" not in res.output
    assert not (q / "email").exists()  # nothing drafted with a broken text


def test_an_unreadable_template_is_a_clear_error(tmp_path):
    q = make_quarter(tmp_path, [TROUBLED])
    tpl = tmp_path / "latin1.txt"
    tpl.write_bytes("Grüße ${first_name}".encode("latin-1"))
    res = CliRunner().invoke(cli, ["email", "--reviews", str(q), "--template", str(tpl)], env=CLEAN_ENV)
    assert res.exit_code == 2 and "latin1.txt" in res.output and "UTF-8" in res.output
    res = CliRunner().invoke(cli, ["email", "--reviews", str(q), "--template", str(tmp_path)], env=CLEAN_ENV)
    assert res.exit_code == 2 and "Traceback" not in res.output and "internal error" not in res.output


# --- who gets what, and confirming -------------------------------------------------------------------
def test_email_lists_who_gets_what_before_it_sends(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server() as (port, handler):
        res = CliRunner().invoke(cli, ["email", *send_args(q, port)], env=CLEAN_ENV)
    assert res.exit_code == 0, res.output
    out = res.output
    first_sent = out.index("sent     ")
    for p in PARTNERS:
        for addr in p["recipients"] + p["cc"]:
            assert -1 < out.index(addr) < first_sent
        assert -1 < out.index(Path(p["pdf"]).name) < first_sent
    assert out.index("to a@initech.example, b@initech.example") < first_sent
    assert len(handler.received) == 3


def _in_a_terminal(args: list[str], answer: str) -> tuple[int, str]:
    """Run partner-review with a pseudo-terminal as its stdin and stdout, type ``answer``, return (exit, output)."""
    import pty

    main, sub = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNER_REVIEW_")}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", *args], stdin=sub, stdout=sub, stderr=sub, env=env,
                            close_fds=True)
    os.close(sub)
    def read() -> bytes:
        try:
            return os.read(main, 4096)
        except OSError:  # the terminal closed: the program ended
            return b""

    out = b""
    try:
        while b"[y/N]" not in out and (chunk := read()):
            out += chunk
        if b"[y/N]" in out:
            os.write(main, answer.encode() + b"\n")
        while chunk := read():
            out += chunk
    finally:
        code = proc.wait(timeout=60)
        os.close(main)
    return code, out.decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
def test_send_on_a_terminal_asks_first(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server() as (port, handler):
        code, out = _in_a_terminal(["email", *send_args(q, port)], "n")
        assert "[y/N]" in out and code == 1 and "nothing sent" in out
        assert handler.received == [] and not (q / "email" / "sent.jsonl").exists()
        code, out = _in_a_terminal(["email", *send_args(q, port)], "y")
        assert code == 0 and "3 sent" in out and len(handler.received) == 3
        code, out = _in_a_terminal(["email", *send_args(q, port, "--resend", "--yes")], "")
        assert "[y/N]" not in out and code == 0 and "3 sent" in out and len(handler.received) == 6


def test_send_without_a_terminal_does_not_wait_for_an_answer(tmp_path):
    q = make_quarter(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNER_REVIEW_")}
    with smtp_server() as (port, handler):
        proc = subprocess.run([sys.executable, "-m", "pipeline", "email", *send_args(q, port)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[y/N]" not in proc.stdout and len(handler.received) == 3
    assert {r.mail_from for r in handler.received} == {SENDER}


# --- the real report: healthy, troubled and paused partners --------------------------------------------
@pytest.fixture(scope="module")
def sample_quarter(tmp_path_factory) -> Path:
    """The bundled 2026-Q3 sample drop through the real `report` (drafts are written by each test)."""
    root = tmp_path_factory.mktemp("sample")
    runner = CliRunner(env=CLEAN_ENV)
    assert runner.invoke(cli, ["sample", "--output", str(root / "drops")]).exit_code == 0
    res = runner.invoke(cli, ["report", "--input", str(root / "drops" / "2026-Q3"), "--output", str(root / "out"),
                              "--as-of", "2026-10-02", "--jobs", "1", "-q"])
    assert res.exit_code == 0, res.output
    return root / "out" / "2026-Q3"


def _bodies(q: Path) -> dict[str, str]:
    import json

    manifest = json.loads((q / "manifest.json").read_text(encoding="utf-8"))
    res = CliRunner().invoke(cli, ["email", "--reviews", str(q)], env=CLEAN_ENV)
    assert res.exit_code == 0, res.output
    out = {}
    for m in manifest["partners"]:
        msg = email.message_from_bytes((q / "email" / (Path(m["pdf"]).stem + ".eml")).read_bytes(), policy=POLICY)
        out[m["partner_id"]] = msg.get_body(("plain",)).get_content().replace("\r\n", "\n") + str(msg["Subject"])
    return out


def test_each_sample_e_mail_carries_its_partners_words_alone(sample_quarter):
    import json

    import openpyxl

    q = sample_quarter
    manifest = json.loads((q / "manifest.json").read_text(encoding="utf-8"))
    bodies = _bodies(q)
    drop = Path(__file__).resolve().parents[1] / "pipeline" / "samples" / "drops" / "2026-Q3"
    wb = openpyxl.load_workbook(drop / "Joint Business Plan 2026.xlsx", read_only=True)
    rows = list(wb["Joint Business Plan"].iter_rows(values_only=True))
    notes = [str(r[rows[0].index("Internal Note")]) for r in rows[1:] if r[rows[0].index("Internal Note")]]
    assert notes  # the sample has internal notes to keep out
    for m in manifest["partners"]:
        text = bodies[m["partner_id"]]
        others = [o for o in manifest["partners"] if o["partner_id"] != m["partner_id"]]
        for o in others:
            assert o["partner_name"] not in text and o["partner_lead"] not in text, (m["partner_id"], o["partner_id"])
        assert not any(n in text for n in notes)
        assert not ISO_DATE.search(text) and "Dear " + m["partner_lead"] not in text
    p01, p02, p09 = bodies["P01"], bodies["P02"], bodies["P09"]
    assert p01.startswith("Dear Maya,\n") and "healthy" in p01 and "\n- " not in p01
    assert p02.startswith("Dear Fergus,\n") and "at risk (health score 46 out of 100)" in p02
    assert "KV-01" not in p02 and "- Your commitments (“Certify five consultants on the managed-service stack”" in p02
    assert "(2 of yours)" in p02 and "2 Kestrel & Vane Consulting" not in p02
    assert p09.startswith("Dear Ingrid,\n") and "paused" in p09 and "- The pause: what both sides need" in p09
    for m in manifest["partners"]:  # signed by the partner's own internal owner, for our organisation
        assert f"Kind regards,\n{m['internal_owner']}\nNorthwind Alliances\n" in bodies[m["partner_id"]]


def test_the_agenda_and_meeting_of_a_newer_manifest_are_used(sample_quarter, tmp_path):
    """What the PDF side adds to each partner's manifest entry (`agenda`, `next_meeting`) reaches the e-mail."""
    import json
    import shutil

    q = tmp_path / "2026-Q3"
    shutil.copytree(sample_quarter, q, ignore=shutil.ignore_patterns("email"))
    manifest = json.loads((q / "manifest.json").read_text(encoding="utf-8"))
    for m in manifest["partners"]:
        if m["partner_id"] == "P02":
            m.update(agenda=AGENDA[:2], next_meeting="2026-10-21")
    (q / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    p02 = _bodies(q)["P02"]
    assert "two points:\n- " + AGENDA[0] + "\n- " + AGENDA[1] + "\n\n" in p02
    assert "review meeting on 21 Oct 2026" in p02 and "I will suggest a date" not in p02


def test_a_reworded_template_does_not_send_a_review_again(tmp_path):
    q = make_quarter(tmp_path)
    tpl = tmp_path / "mine.txt"
    tpl.write_text("${greeting}\n\nHere is our review.\n\n${signature}\n", encoding="utf-8")
    with smtp_server() as (port, handler):
        first = CliRunner().invoke(cli, ["email", *send_args(q, port)], env=CLEAN_ENV)
        again = CliRunner().invoke(cli, ["email", *send_args(q, port, "--template", str(tpl))], env=CLEAN_ENV)
    assert first.exit_code == 0 and "3 sent" in first.output
    assert again.exit_code == 0 and "0 sent, 3 already sent" in again.output and len(handler.received) == 3
    redrafted = email.message_from_bytes((q / "email" / "globex.eml").read_bytes(), policy=POLICY)
    assert "Here is our review." in redrafted.get_body(("plain",)).get_content()  # the draft has the new words


def test_a_field_with_line_breaks_in_the_subject_stays_one_line(tmp_path):
    q = make_quarter(tmp_path, [dict(TROUBLED, agenda=AGENDA)])
    tpl = tmp_path / "mine.txt"
    tpl.write_text("Subject: Points: ${agenda_points}\n${greeting}\n", encoding="utf-8")
    msg, text = draft(q, "kestrel.pdf", "--template", str(tpl))
    assert msg["Subject"] == "Points: " + " ".join(f"- {p}" for p in AGENDA)
    assert text == "Dear Fergus,\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_template_that_is_a_pipe_is_refused_without_waiting(tmp_path):
    q = make_quarter(tmp_path, [TROUBLED])
    os.mkfifo(tmp_path / "pipe.txt")
    res = CliRunner().invoke(cli, ["email", "--reviews", str(q), "--template", str(tmp_path / "pipe.txt")], env=CLEAN_ENV)
    assert res.exit_code == 2 and "must be a file" in res.output


def test_the_readme_lists_every_field_a_template_may_use():
    from pipeline.distribute.template import DEFAULT_TEMPLATE, fields_reference, load_template

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- email-fields -->\n", 1)[1].split("<!-- /email-fields -->", 1)[0]
    assert block == fields_reference()
    assert load_template(None).source == f"the built-in {DEFAULT_TEMPLATE}"  # shipped, and a valid template


def test_a_name_ending_in_a_full_stop_is_not_followed_by_another():
    from pipeline.distribute.template import parse_template

    t = parse_template("Subject: ${subject}\nOur review of ${partnership}. Wait... then ${partnership}!\n", "test")
    _subject, body = t.render({"subject": "x", "partnership": "the partnership with Añil Robotics S.L."})
    assert "S.L.. " not in body and "Our review of the partnership with Añil Robotics S.L. Wait... then" in body
