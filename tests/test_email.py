"""`partner-review email`: drafts on disk and delivery to a real SMTP server on loopback, exactly once."""
from __future__ import annotations

import email
import hashlib
import json
from email.policy import default as POLICY
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.distribute import send as D
from pipeline.cli import cli
try:  # tests/ is a plain folder (on sys.path) or, once it has an __init__.py, the package `tests`
    from smtp_server import free_port, smtp_server
except ImportError:  # pragma: no cover
    from tests.smtp_server import free_port, smtp_server

CLEAN_ENV = {"PARTNER_REVIEW_SMTP_PASSWORD": None, "PARTNER_REVIEW_FROM": None, "PARTNER_REVIEW_SMTP_USER": None,
             "PARTNER_REVIEW_SMTP_HOST": None, "PARTNER_REVIEW_SMTP_PORT": None}
SENDER = "reviews@us.example"

PARTNERS = [
    {"partner_id": "P1", "partner_name": "Globex", "pdf": "globex.pdf", "recipients": ["lead@globex.example"],
     "cc": ["owner1@us.example"], "health_score": 62.4, "health_status": "amber", "flag_count": 3,
     "partner_lead": "Hank Scorpio", "internal_owner": "Ann Owner", "summary": "Pipeline fell short of plan.",
     "top_gaps": ["Sourced pipeline at 70% of target", "R&D <urgent> & overdue"]},
    {"partner_id": "P2", "partner_name": "Initech", "pdf": "partners/initech.pdf",
     "recipients": ["a@initech.example", "b@initech.example"], "cc": ["owner2@us.example"],
     "health_score": 81, "health_status": "green", "flag_count": 0},
    {"partner_id": "P4", "partner_name": "Hooli", "pdf": "hooli.pdf", "recipients": ["x@hooli.example"], "cc": []},
]


def _pdf(text: str, partner_id: str | None = None, quarter: str = "2026-Q3") -> bytes:
    """A one-line PDF carrying the identity `report` writes into a partner's review (or the portfolio's)."""
    from io import BytesIO

    from reportlab.pdfgen.canvas import Canvas

    from pipeline.render.identity import portfolio_keywords, review_keywords

    buf = BytesIO()
    c = Canvas(buf, invariant=1)
    c.setKeywords(review_keywords(partner_id, quarter, "") if partner_id else portfolio_keywords(quarter))
    c.drawString(72, 720, text)
    c.save()
    return buf.getvalue()


def make_quarter(root: Path, partners: list[dict] = PARTNERS, organisation: str | None = "Acme Corp") -> Path:
    """A quarter folder as `report` writes it: partner PDFs, the portfolio PDF and manifest.json."""
    q = root / "2026-Q3"
    for p in partners:
        path = q / p["pdf"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_pdf(f"Review of {p['partner_name']}", p["partner_id"]))
    (q / "portfolio.pdf").write_bytes(_pdf("Portfolio: every partner side by side"))
    manifest = {"quarter": "2026-Q3", "generated_at": "2026-10-02T09:00:00Z", "inputs": [],
                "portfolio_pdf": "portfolio.pdf", "partners": partners, "problems": 0}
    if organisation:
        manifest["organisation"] = organisation
    (q / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return q


def invoke(*args: str):
    return CliRunner().invoke(cli, ["email", *args], env=CLEAN_ENV, catch_exceptions=False)


def send_args(q: Path, port: int, *extra: str) -> list[str]:
    return ["--reviews", str(q), "--send", "--no-starttls", "--smtp-host", "127.0.0.1", "--smtp-port", str(port),
            "--from", SENDER, *extra]


def attachments(msg) -> list:
    return [p for p in msg.walk() if not p.is_multipart() and p.get_content_type() not in ("text/plain", "text/html")]


def by_partner(handler) -> dict[str, list]:
    """Received messages keyed by the partner whose PDF they carry."""
    out: dict[str, list] = {}
    for r in handler.received:
        msg = email.message_from_bytes(r.data, policy=POLICY)
        name = attachments(msg)[0].get_filename()
        out.setdefault(name, []).append((r, msg))
    return out


def log_lines(q: Path) -> list[dict]:
    path = q / "email" / "sent.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- drafts ---------------------------------------------------------------------------------------
def test_drafts_open_as_mail_with_the_partners_pdf_alone(tmp_path):
    q = make_quarter(tmp_path)
    res = invoke("--reviews", str(q))
    assert res.exit_code == 0, res.output
    assert "3 drafted, 0 failed" in res.output
    portfolio = (q / "portfolio.pdf").read_bytes()
    for p in PARTNERS:
        eml = q / "email" / (Path(p["pdf"]).stem + ".eml")
        msg = email.message_from_bytes(eml.read_bytes(), policy=POLICY)
        assert [a.addr_spec for a in msg["To"].addresses] == p["recipients"]
        assert ([a.addr_spec for a in msg["Cc"].addresses] if msg["Cc"] else []) == p["cc"]
        assert "Acme Corp" in msg["Subject"] and p["partner_name"] in msg["Subject"] and "2026-Q3" in msg["Subject"]
        assert msg["Message-ID"].startswith("<") and msg["Date"].datetime is not None
        [att] = attachments(msg)
        assert att.get_content_type() == "application/pdf"
        assert att.get_content() == (q / p["pdf"]).read_bytes() != portfolio
        assert msg.get_body(("plain",)).get_content().strip() and msg.get_body(("html",)) is not None
    assert sorted(f.name for f in (q / "email").iterdir()) == ["globex.eml", "hooli.eml", "initech.eml"]


def test_draft_body_carries_health_and_gaps_with_html_escaped(tmp_path):
    q = make_quarter(tmp_path)
    invoke("--reviews", str(q))
    msg = email.message_from_bytes((q / "email" / "globex.eml").read_bytes(), policy=POLICY)
    assert msg["To"].addresses[0].display_name == "Hank Scorpio"
    assert msg["From"].addresses[0].addr_spec == "owner1@us.example"  # the internal owner, lacking --from
    text = msg.get_body(("plain",)).get_content()
    assert "needs attention (health score 62 out of 100)" in text
    assert "- R&D <urgent> & overdue" in text and "Pipeline fell short" in text
    page = msg.get_body(("html",)).get_content()
    assert "R&amp;D &lt;urgent&gt; &amp; overdue" in page and "<urgent>" not in page


def test_manifest_without_extras_still_drafts(tmp_path):
    bare = [{k: v for k, v in p.items() if k in ("partner_id", "partner_name", "pdf", "recipients", "cc")} for p in PARTNERS]
    q = make_quarter(tmp_path, bare, organisation=None)
    res = invoke("--reviews", str(q))
    assert res.exit_code == 0, res.output
    msg = email.message_from_bytes((q / "email" / "initech.eml").read_bytes(), policy=POLICY)
    assert "Initech" in msg["Subject"] and "2026-Q3" in msg["Subject"]
    assert "gives no health score" in msg.get_body(("plain",)).get_content()


def test_partner_without_lead_address_is_reported(tmp_path):
    partners = PARTNERS + [{"partner_id": "P3", "partner_name": "Umbrella", "pdf": "umbrella.pdf", "recipients": [],
                            "cc": ["owner3@us.example"]}]
    q = make_quarter(tmp_path, partners)
    res = invoke("--reviews", str(q))
    assert res.exit_code == 1
    assert "P3 Umbrella: [NO_RECIPIENTS]" in res.output and "3 drafted, 1 failed" in res.output
    assert not (q / "email" / "umbrella.eml").exists()


def test_missing_manifest_is_a_clear_error(tmp_path):
    res = invoke("--reviews", str(tmp_path))
    assert res.exit_code == 1 and "no manifest.json" in res.output


# --- the attachment guard -------------------------------------------------------------------------
def test_portfolio_never_leaves(tmp_path):
    partners = [dict(PARTNERS[0], pdf="portfolio.pdf"), dict(PARTNERS[1])]
    q = make_quarter(tmp_path, partners)
    (q / "partners" / "initech.pdf").write_bytes((q / "portfolio.pdf").read_bytes())  # a copy under another name
    with smtp_server() as (port, handler):
        res = invoke(*send_args(q, port))
    assert res.exit_code == 1
    assert res.output.count("[ATTACHMENT_REFUSED]") == 2 and handler.received == []
    assert not (q / "email" / "sent.jsonl").exists()


def test_check_message_wants_exactly_one_attachment_equal_to_the_pdf():
    msg = D.build_message(PARTNERS[0], {"quarter": "2026-Q3"}, "globex.pdf", b"%PDF-one", SENDER)
    raw = bytes(msg)
    assert D.check_message(raw, b"%PDF-one", b"%PDF-portfolio") == ""
    assert "differs" in D.check_message(raw, b"%PDF-two", None)
    assert "portfolio" in D.check_message(raw, b"%PDF-one", b"%PDF-one")
    msg.add_attachment(b"%PDF-two", maintype="application", subtype="pdf", filename="other.pdf")
    assert "2 attachments" in D.check_message(bytes(msg), b"%PDF-one", None)


def test_pdf_path_outside_the_folder_is_refused(tmp_path):
    (tmp_path / "secret.pdf").write_bytes(_pdf("not for partners"))
    q = make_quarter(tmp_path, [dict(PARTNERS[0], pdf="../secret.pdf")])
    res = invoke("--reviews", str(q))
    assert res.exit_code == 1 and "[PDF_MISSING]" in res.output


# --- sending --------------------------------------------------------------------------------------
def test_send_delivers_each_review_once_to_the_right_people(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server() as (port, handler):
        res = invoke(*send_args(q, port))
        assert res.exit_code == 0, res.output
        assert "3 drafted, 3 sent, 0 already sent, 0 failed" in res.output
        got = by_partner(handler)
        assert sorted(got) == ["globex.pdf", "hooli.pdf", "initech.pdf"]
        for p in PARTNERS:
            [(env, msg)] = got[Path(p["pdf"]).name]
            assert env.mail_from == SENDER and msg["From"] == SENDER
            assert sorted(env.rcpt_tos) == sorted(p["recipients"] + p["cc"])
            assert [a.addr_spec for a in msg["To"].addresses] == p["recipients"]
            assert ([a.addr_spec for a in msg["Cc"].addresses] if msg["Cc"] else []) == p["cc"]
            [att] = attachments(msg)
            assert att.get_content() == (q / p["pdf"]).read_bytes()
            assert "X-Unsent" not in msg
        log = log_lines(q)
        assert [r["partner_id"] for r in log] == ["P1", "P2", "P4"]
        assert log[1]["sha256"] == hashlib.sha256((q / "partners/initech.pdf").read_bytes()).hexdigest()
        assert {r["message_id"] for r in log} == {m["Message-ID"] for ms in got.values() for _, m in ms}

        again = invoke(*send_args(q, port))
        assert again.exit_code == 0 and "0 sent, 3 already sent" in again.output
        assert len(handler.received) == 3 and len(log_lines(q)) == 3

        one = invoke(*send_args(q, port, "--only", "P2", "--resend"))
        assert one.exit_code == 0 and "1 sent, 0 already sent" in one.output
        assert len(by_partner(handler)["initech.pdf"]) == 2 and len(handler.received) == 4

        everything = invoke(*send_args(q, port, "--resend"))
        assert "3 sent" in everything.output and len(handler.received) == 7
    assert len(log_lines(q)) == 7


def test_only_sends_one_partner(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server() as (port, handler):
        res = invoke(*send_args(q, port, "--only", "P4", "--only", "NOPE"))
    assert [r.rcpt_tos for r in handler.received] == [["x@hooli.example"]]
    assert res.exit_code == 1 and "[UNKNOWN_PARTNER]" in res.output and "1 sent" in res.output


def test_refused_recipient_does_not_stop_the_others(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server(refuse={"lead@globex.example", "x@hooli.example"}) as (port, handler):
        res = invoke(*send_args(q, port))
    assert res.exit_code == 1
    got = by_partner(handler)
    assert sorted(got) == ["globex.pdf", "initech.pdf"]        # Hooli's only address was refused
    assert got["globex.pdf"][0][0].rcpt_tos == ["owner1@us.example"]
    assert "REFUSED lead@globex.example" in res.output and "P4 Hooli: [RECIPIENT_REFUSED]" in res.output
    log = {r["partner_id"]: r for r in log_lines(q)}
    assert sorted(log) == ["P1", "P2"]
    assert log["P1"]["recipients"] == ["owner1@us.example"] and log["P1"]["refused"] == ["lead@globex.example"]
    with smtp_server() as (port, handler):                     # the address fixed on the server's side
        res = invoke(*send_args(q, port))
    assert [r.rcpt_tos for r in handler.received] == [["x@hooli.example"]]
    assert res.exit_code == 0 and "1 sent, 2 already sent" in res.output


def test_a_run_cut_off_halfway_resumes_with_the_unsent(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server(fail_data={2}) as (port, handler):        # drops the connection on the 2nd message
        res = invoke(*send_args(q, port))
    assert res.exit_code == 1 and "P2 Initech: [CONNECTION]" in res.output
    assert sorted(by_partner(handler)) == ["globex.pdf", "hooli.pdf"]  # reconnected for the 3rd
    with smtp_server() as (port, handler):
        res = invoke(*send_args(q, port))
    assert res.exit_code == 0, res.output
    assert sorted(by_partner(handler)) == ["initech.pdf"] and "1 sent, 2 already sent" in res.output


def test_a_changed_pdf_is_a_new_review(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server() as (port, handler):
        invoke(*send_args(q, port))
        (q / "globex.pdf").write_bytes(_pdf("Review of Globex, corrected", "P1"))
        res = invoke(*send_args(q, port))
        assert "1 sent, 2 already sent" in res.output
        [(_, msg)] = by_partner(handler)["globex.pdf"][1:]
        assert attachments(msg)[0].get_content() == (q / "globex.pdf").read_bytes()
    shas = [r["sha256"] for r in log_lines(q) if r["partner_id"] == "P1"]
    assert len(shas) == 2 and shas[0] != shas[1]


def test_sender_defaults_to_the_internal_owner(tmp_path):
    q = make_quarter(tmp_path)
    with smtp_server() as (port, handler):
        args = [a for a in send_args(q, port) if a not in ("--from", SENDER)]
        res = invoke(*args)
    assert res.exit_code == 1 and "P4 Hooli: [NO_SENDER]" in res.output
    assert {r.mail_from for r in handler.received} == {"owner1@us.example", "owner2@us.example"}


def test_unreachable_server_fails_every_partner(tmp_path):
    q = make_quarter(tmp_path)
    res = invoke(*send_args(q, free_port()))
    assert res.exit_code == 1 and res.output.count("[CONNECTION]") == 3 and "0 sent" in res.output
    assert log_lines(q) == []


def test_login_needs_the_password_from_the_environment(tmp_path):
    q = make_quarter(tmp_path)
    res = invoke(*send_args(q, 1, "--smtp-user", "robot"))
    assert res.exit_code == 1 and "PARTNER_REVIEW_SMTP_PASSWORD" in res.output


def test_send_log_survives_a_line_cut_off_by_a_crash(tmp_path):
    q = make_quarter(tmp_path)
    (q / "email").mkdir()
    (q / "email" / "sent.jsonl").write_text('{"partner_id": "P1", "sha2')
    with smtp_server() as (port, handler):
        res = invoke(*send_args(q, port))
    assert res.exit_code == 0 and len(handler.received) == 3
    assert [r["partner_id"] for r in D.read_send_log(q / "email" / "sent.jsonl")] == ["P1", "P2", "P4"]


@pytest.mark.parametrize("bad", ["not-an-address", "two@at@signs.example", "x@y.example\nBcc: z@q.example"])
def test_bad_address_is_reported_not_sent(tmp_path, bad):
    q = make_quarter(tmp_path, [dict(PARTNERS[1], recipients=["a@initech.example", bad])])
    res = invoke("--reviews", str(q))
    assert res.exit_code == 1 and "[BAD_ADDRESS]" in res.output


def test_names_in_any_script_survive_the_trip(tmp_path):
    partner = dict(PARTNERS[0], partner_name="Ωmega Συνεργάτες", partner_lead="Zoë Ångström",
                   internal_owner="Дмитрий Owner", top_gaps=["Поставки задерживаются"])
    q = make_quarter(tmp_path, [partner], organisation="Acme Ærø")
    with smtp_server() as (port, handler):
        res = invoke(*send_args(q, port))
    assert res.exit_code == 0, res.output
    [received] = handler.received
    assert received.data.isascii()  # 7-bit clean on the wire: no SMTPUTF8 needed
    msg = email.message_from_bytes(received.data, policy=POLICY)
    assert msg["Subject"] == "Acme Ærø / Ωmega Συνεργάτες: partnership review 2026-Q3"
    assert msg["To"].addresses[0].display_name == "Zoë Ångström"
    assert "Поставки задерживаются" in msg.get_body(("plain",)).get_content()
