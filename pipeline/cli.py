"""The command line: a thin Click layer. Each command parses options, calls one library function and
maps its outcome to an exit code (0 fine, 1 problems, 2 usage or a run that cannot start as asked: an output
folder that cannot be written, a history file that cannot be used; 141 when the reader of the output went
away, as in ``validate | head``). A traceback only with ``--debug``. Text from the input is printed with its
control characters escaped (`pipeline.console.echo`).
"""
from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import os
import sys
from pathlib import Path

import click

from pipeline import __version__

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100}
EXIT_BROKEN_PIPE = 141  # what a shell reports for a program stopped by SIGPIPE: `validate | head` with pipefail


def _debug_option(f):
    return click.option("--debug", is_flag=True, help="Show Python tracebacks for unexpected errors.")(f)


def _verbosity_options(f):
    f = click.option("-v", "--verbose", is_flag=True, help="Also list notes (skipped files, ignored sheets).")(f)
    f = click.option("-q", "--quiet", is_flag=True, help="Print only errors and the summary line.")(f)
    return f


def _input_option(f):
    return click.option("--input", "-i", "input_dir", required=True,
                        type=click.Path(exists=True, file_okay=False, path_type=Path),
                        help="Folder holding the workbooks (subfolders included). Never modified.")(f)


def _guarded(f):
    """Map library exceptions to exit codes; tracebacks only with --debug."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        debug = kwargs.get("debug", False)
        from pipeline.core.problems import PipelineError

        try:
            return f(*args, **kwargs)
        except PipelineError as exc:
            if debug:
                raise
            from pipeline.console import echo, echo_problems

            echo(f"error: {exc}", fg="red", err=True)
            echo_problems(exc.problems, err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # the reader of our output went away (`validate | head`): not an error
            _quiet_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:
            if debug:
                raise
            from pipeline.console import echo

            text = _os_error_text(exc, "--reviews" if f.__name__ == "email" else "--output") \
                if isinstance(exc, OSError) else ""
            if text:  # a condition the user can fix: which file, and what to do
                echo(f"error: {text}", fg="red", err=True)
                sys.exit(2)
            echo(f"internal error: {type(exc).__name__}: {exc}", fg="red", err=True)
            click.echo("Run again with --debug for the traceback, and please report it.", err=True)
            sys.exit(1)

    return wrapper


def _quiet_stdout() -> None:
    """After a broken pipe, the Python docs' recipe ("Note on SIGPIPE"): point stdout at /dev/null, so that
    flushing it at exit cannot fail again and print a traceback."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (a test runner's buffer)
        pass


_OS_HINTS = {
    errno.EACCES: "you may not write there: choose another folder ({option}) or ask for write access",
    errno.EPERM: "you may not write there: choose another folder ({option}) or ask for write access",
    errno.EROFS: "the drive is read-only: choose a folder on a writable drive ({option})",
    errno.ENOTDIR: "part of that path is a file, not a folder: choose another folder ({option}) or move the file away",
    errno.EEXIST: "a file is in the way where a folder is needed: move it away, or choose another folder ({option})",
    errno.EISDIR: "a folder is in the way where a file is needed: move it away, or choose another folder ({option})",
    errno.ENOSPC: "the disk is full: free some space and run again",
    errno.EDQUOT: "the disk quota is used up: free some space and run again",
    errno.ENAMETOOLONG: "the path is too long: choose a shorter folder ({option})",
}


def _os_error_text(exc: OSError, option: str) -> str:
    """What went wrong with which file and what to do, for the errors a user can fix ('' for the others:
    those are internal errors)."""
    hint = _OS_HINTS.get(exc.errno or 0, "")
    if not hint and not exc.filename:
        return ""
    where = f"{exc.filename}: " if exc.filename else "cannot write the output: "
    return f"{where}{exc.strerror or exc}; {hint.format(option=option) or 'check the path and run again'}"


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="partner-review")
def cli() -> None:
    """Quarterly partnership reviews from the workbooks partnership teams keep.

    The routine: drop the workbooks into a folder, `partner-review validate` it, then
    `partner-review report` and `partner-review email`.
    """


@cli.command(context_settings=CONTEXT)
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the blank templates into (created if missing).")
@_debug_option
@_guarded
def templates(output_dir: Path, debug: bool) -> None:
    """Write the blank input workbooks: registry, KPI plan, actuals, commitments."""
    from pipeline.console import echo
    from pipeline.write.templates import write_templates

    for path in write_templates(output_dir):
        echo(path)


@cli.command(context_settings=CONTEXT)
@_input_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for tools.")
@_verbosity_options
@_debug_option
@_guarded
def validate(input_dir: Path, fmt: str, quiet: bool, verbose: bool, debug: bool) -> None:
    """Read every workbook and list every problem with file, sheet and cell.

    Exit 0 when clean, 1 when there are errors or warnings (notes do not count).
    """
    from pipeline.console import echo_problems, summary_line, visible_json
    from pipeline.reconcile.load import load

    rec = load(input_dir)
    problems = list(rec.problems)
    if fmt == "json":
        payload = {
            "inputs": [{"path": f.path, "kind": f.kind, "status": f.status, "sha256": f.sha256,
                        "sheets": [{"name": s, "type": t} for s, t in f.sheets]} for f in rec.inputs],
            "problems": [p.to_dict() for p in problems],
            "summary": rec.problems.counts(),
        }
        click.echo(visible_json(json.dumps(payload, indent=2, ensure_ascii=False)))
    else:
        echo_problems(problems, quiet=quiet, verbose=verbose)
        click.echo(summary_line(rec))
        _warn_organisation(rec.config.organisation, quiet)
    sys.exit(1 if rec.problems.actionable else 0)


def _warn_organisation(organisation: str, quiet: bool) -> None:
    from pipeline.console import echo
    from pipeline.core.settings import ORGANISATION_UNSET

    if not organisation and not quiet:
        echo(f"warning: {ORGANISATION_UNSET}", fg="yellow", err=True)


@cli.command(context_settings=CONTEXT)
@_input_option
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder; the reviews go to OUTPUT/<quarter>/.")
@click.option("--quarter", "-Q", default=None, metavar="Q",
              help="Fiscal quarter to review, e.g. 2026-Q3 (default: the latest quarter that has actuals).")
@click.option("--history", "history_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite history file (default: OUTPUT/history.sqlite).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="Processes for charts and PDFs (default: the machine's cores).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="DATE",
              help="The date the reviews bear, e.g. 2026-10-02 (default: today). Same inputs and date: the same PDFs.")
@_verbosity_options
@_debug_option
@_guarded
def report(input_dir: Path, output_dir: Path, quarter: str | None, history_path: Path | None,
           jobs: int | None, as_of: dt.datetime | None, quiet: bool, verbose: bool, debug: bool) -> None:
    """Reconcile, analyse and write the quarter's reviews.

    Writes one PDF per active partner, the portfolio PDF, flags.csv, reconciled.xlsx and
    manifest.json to OUTPUT/<quarter>/. Exit 0 when every active partner got its review, 1 otherwise.
    """
    from pipeline.console import Progress, echo, echo_problems
    from pipeline.run.report import run_report

    q = None
    if quarter:
        try:
            from pipeline.reconcile.values import parse_quarter_option

            q = parse_quarter_option(quarter)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--quarter") from exc
    with Progress(enabled=not quiet) as progress:
        result = run_report(input_dir, output_dir, quarter=q, history_path=history_path, jobs=jobs,
                            progress=progress, as_of=as_of.date() if as_of else None,
                            echo=lambda line: echo(line, err=True))
    if not quiet:
        echo_problems(list(result.problems), quiet=True, verbose=verbose)
    echo(result.summary())
    _warn_organisation(result.organisation, quiet)
    sys.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@click.option("--reviews", "reviews_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A quarter folder written by `report`, e.g. output/2026-Q3.")
@click.option("--send", is_flag=True, help="Send over SMTP (default: only write .eml drafts).")
@click.option("--smtp-host", envvar="PARTNER_REVIEW_SMTP_HOST", default="localhost", show_default=True,
              help="SMTP server (env PARTNER_REVIEW_SMTP_HOST).")
@click.option("--smtp-port", envvar="PARTNER_REVIEW_SMTP_PORT", type=int, default=587, show_default=True,
              help="SMTP port (env PARTNER_REVIEW_SMTP_PORT).")
@click.option("--smtp-user", envvar="PARTNER_REVIEW_SMTP_USER", default=None,
              help="SMTP login (env PARTNER_REVIEW_SMTP_USER); the password comes only from PARTNER_REVIEW_SMTP_PASSWORD.")
@click.option("--starttls/--no-starttls", default=True, show_default=True, help="Upgrade the connection with STARTTLS.")
@click.option("--from", "sender", envvar="PARTNER_REVIEW_FROM", default=None,
              help="From address (env PARTNER_REVIEW_FROM; default: the internal owner's address).")
@click.option("--only", "only", multiple=True, metavar="PARTNER_ID", help="Only this partner (repeatable).")
@click.option("--resend", is_flag=True, help="Send again reviews the send log says were already sent.")
@click.option("--yes", "-y", is_flag=True,
              help="Send without asking. Without it, --send on a terminal shows who gets what and asks first; "
                   "with no terminal (a script, CI) it sends without asking.")
@click.option("--input", "-i", "input_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="The input folder: its email_template.txt (next to partner-review.toml) is the e-mail's text.")
@click.option("--template", "template_path", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="The e-mail's text from FILE (default: INPUT/email_template.txt, else the built-in text).")
@_verbosity_options
@_debug_option
@_guarded
def email(reviews_dir: Path, send: bool, smtp_host: str, smtp_port: int, smtp_user: str | None, starttls: bool,
          sender: str | None, only: tuple[str, ...], resend: bool, yes: bool, input_dir: Path | None,
          template_path: Path | None, quiet: bool, verbose: bool, debug: bool) -> None:
    """Draft (default) or send each partner's review to its partner leads.

    Drafts go to REVIEWS/email/<pdf stem>.eml; the command lists who gets what (to, cc, attachments).
    With --send, a send log (REVIEWS/email/sent.jsonl) makes sure nothing is sent twice unless --resend
    is given. The text is a template you can change (see README, "The e-mail").
    """
    from pipeline.console import echo
    from pipeline.distribute.send import SmtpSettings, run_email
    from pipeline.distribute.template import find_template, load_template

    template = load_template(find_template(template_path, input_dir))
    if not quiet:
        echo(f"text: {template.source}" + (" (yours: --input DIR with DIR/email_template.txt, or --template FILE)"
                                           if template_path is None and input_dir is None else ""))
    smtp = SmtpSettings(host=smtp_host, port=smtp_port, user=smtp_user, starttls=starttls,
                        password=os.environ.get("PARTNER_REVIEW_SMTP_PASSWORD"))
    ask = send and not yes and _on_a_terminal()  # no terminal (a script, CI): nobody to answer, so no question
    result = run_email(reviews_dir, send=send, smtp=smtp, sender=sender, only=list(only), resend=resend,
                       echo=None if quiet else echo, template=template,
                       confirm=(lambda question: click.confirm(question, default=False)) if ask else None)
    echo(result.summary())
    sys.exit(0 if result.ok else 1)


@cli.command(context_settings=CONTEXT)
@_input_option
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the feedback workbooks (created if missing; must not be inside the input folder).")
@_debug_option
@_guarded
def feedback(input_dir: Path, output_dir: Path, debug: bool) -> None:
    """Write a copy of each workbook that has problems, with the problem cells marked and commented.

    Each copy gets a first sheet listing its problems with links to their cells; the sender fixes it in
    place and sends it back. The originals are never touched. Exit 0, also when there is nothing to write.
    """
    from pipeline.console import echo
    from pipeline.reconcile.load import load
    from pipeline.write.feedback import check_output_dir, write_feedback

    try:
        check_output_dir(input_dir, output_dir)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--output") from exc
    rec = load(input_dir)
    written = write_feedback(input_dir, rec.problems, output_dir, echo=echo, limits=rec.config.values["limits"])
    for path in written:
        echo(path)
    n = len(rec.problems.actionable)
    if written:
        echo(f"{len(written)} feedback file(s) written to {output_dir} ({n} errors and warnings in all)")
    else:
        extra = f" ({n} problem(s) not tied to a workbook: see `partner-review validate`)" if n else ""
        click.echo(f"nothing to write: no workbook has errors or warnings{extra}")


@cli.command(context_settings=CONTEXT)
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the sample drops, as OUTPUT/<quarter>/ (created if missing; nothing in it is overwritten).")
@_debug_option
@_guarded
def sample(output_dir: Path, debug: bool) -> None:
    """Write the bundled SAMPLE drops as OUTPUT/<quarter>/, to try the routine without real data.

    Each quarter's folder is an input folder for validate, report and feedback; run report on the
    oldest quarter first, so the next one has history to compare with. Refused, with nothing written,
    when a file it would write already exists.
    """
    from pipeline.console import echo
    from pipeline.write.samples import write_samples

    drops = write_samples(output_dir)
    for drop in drops:
        echo(f"{drop.folder}  ({drop.files} files)")
    echo(f"{len(drops)} SAMPLE drop(s) written to {output_dir} "
         "(fictional data: every review made from them is marked SAMPLE DATA)")
    last = drops[-1].folder
    echo("Try:")
    echo(f"  partner-review validate --input {_shell(last)}")
    for drop in drops:
        echo(f"  partner-review report --input {_shell(drop.folder)} --output {_shell(Path(output_dir) / 'reviews')}")
    echo(f"  partner-review email --reviews {_shell(Path(output_dir) / 'reviews' / last.name)}")


def _on_a_terminal() -> bool:
    """Whether someone can answer a question: standard input is a terminal (not a pipe, a file or closed)."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # a closed standard input
        return False


def _shell(path: Path) -> str:
    """`path` as it can be pasted into a shell (POSIX or Windows): in double quotes when it holds more than
    letters, digits and ``/\\._-:``."""
    import re

    text = str(path)
    return text if re.fullmatch(r"[\w/\\.:-]+", text) else f'"{text}"'


def main() -> None:
    cli(prog_name="partner-review")


if __name__ == "__main__":  # pragma: no cover
    main()
