"""The folder walk: deep trees, folders that cannot be listed, symlinked folders and files, FIFOs and
endless pseudo-files. Each costs at most its own folder or file, with a problem that names it, and
`validate` never says clean while something under the input folder was not read.

Hang-prone cases run the CLI (or `read_input`) in a subprocess with a timeout, so a hang fails the test
instead of stopping the suite. Deep trees are built and removed through directory descriptors: their
absolute paths are longer than the system allows, and `shutil.rmtree` recurses.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.core.settings import Config
from pipeline.read.discover import discover
from pipeline.core.sandbox import run_isolated
from pipeline.read.reader import read_file_packed
from workbook_builders import clean_portfolio

ROOT = Path(__file__).resolve().parent.parent
DIR = os.O_RDONLY | os.O_DIRECTORY
NO_DAC = "-dac_override,-dac_read_search"   # root without these capabilities obeys chmod 000


# --- helpers --------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _deadline():
    """A walk that loops fails its test after 120 s instead of hanging the suite."""
    def stop(signum, frame):
        raise TimeoutError("the test took more than 120 s: the walk or a read hangs")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _validate(folder: Path) -> tuple[dict, int]:
    result = CliRunner().invoke(cli, ["validate", "--input", str(folder), "--format", "json"])
    assert result.output.lstrip().startswith("{"), result.output[-3000:]
    return json.loads(result.output), result.exit_code


def _validate_in_subprocess(folder: Path, *, unprivileged: bool = False) -> tuple[dict, int]:
    """`partner-review validate --format json` in its own process: a hang fails here after 60 s."""
    cmd = [sys.executable, "-m", "pipeline", "validate", "--input", str(folder), "--format", "json"]
    if unprivileged:
        cmd = ["setpriv", f"--inh-caps={NO_DAC}", f"--bounding-set={NO_DAC}", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.stdout.lstrip().startswith("{"), proc.stdout[-2000:] + proc.stderr[-2000:]
    return json.loads(proc.stdout), proc.returncode


def _problems(payload: dict) -> set[tuple[str, str, str]]:
    return {(p["code"], p["file"], p["severity"]) for p in payload["problems"]}


def _status(payload: dict) -> dict[str, str]:
    return {f["path"]: f["status"] for f in payload["inputs"]}


def _descend(top: Path, depth: int) -> int:
    """A descriptor of top/d/d/.../d (``depth`` levels), creating the folders; no long path is used."""
    fd = os.open(top, DIR)
    for _ in range(depth):
        try:
            os.mkdir("d", dir_fd=fd)
        except FileExistsError:
            pass
        below = os.open("d", DIR, dir_fd=fd)
        os.close(fd)
        fd = below
    return fd


def _put(top: Path, depth: int, name: str, data: bytes) -> None:
    fd = _descend(top, depth)
    try:
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd)
        with os.fdopen(out, "wb") as fh:
            fh.write(data)
    finally:
        os.close(fd)


def _remove_tree(top: Path) -> None:
    """Delete a folder tree of any depth without recursion and with one descriptor open at a time."""
    if not top.exists():
        return
    fd = os.open(top, DIR)
    names: list[str] = []
    while True:
        with os.scandir(fd) as it:
            entries = list(it)
        sub = next((e.name for e in entries if e.is_dir(follow_symlinks=False)), None)
        if sub is not None:
            os.chmod(sub, 0o755, dir_fd=fd)
            below = os.open(sub, DIR, dir_fd=fd)
            os.close(fd)
            fd, names = below, names + [sub]
            continue
        for e in entries:
            os.unlink(e.name, dir_fd=fd)
        if not names:
            os.close(fd)
            os.rmdir(top)
            return
        parent = os.open("..", DIR, dir_fd=fd)
        os.close(fd)
        os.rmdir(names.pop(), dir_fd=parent)
        fd = parent


@pytest.fixture()
def deep_input(tmp_path):
    folder = tmp_path / "input"
    folder.mkdir()
    yield folder
    _remove_tree(folder)


def _move_deep(folder: Path, rel: str, depth: int) -> str:
    """Move the workbook ``rel`` to the bottom of ``depth`` nested folders; its new relative path."""
    src = folder / rel
    data = src.read_bytes()
    src.unlink()
    _put(folder, depth, src.name, data)
    return "d/" * depth + src.name


# --- deep trees -----------------------------------------------------------------------------------

def test_a_thousand_nested_folders_are_walked_and_the_workbook_at_the_bottom_read(deep_input):
    clean_portfolio(deep_input)
    deep = _move_deep(deep_input, "actuals/acme.xlsx", 1000)
    found, skipped = discover(deep_input)
    assert deep in [f.path for f in found] and skipped == []
    payload, code = _validate(deep_input)
    assert code == 0, payload["problems"]
    assert _status(payload)[deep] == "read"


def test_three_thousand_nested_folders_report_the_path_too_long_and_read_the_rest(deep_input):
    clean_portfolio(deep_input)
    deep = _move_deep(deep_input, "actuals/acme.xlsx", 1000)
    _put(deep_input, 3000, "lost.xlsx", b"PK\x03\x04 never reached")
    found, skipped = discover(deep_input)
    assert deep in [f.path for f in found]
    assert not any(f.path.endswith("lost.xlsx") for f in found)
    too_long = [s for s in skipped if s.problem.code == "PATH_TOO_LONG"]
    assert len(too_long) == 1 and too_long[0].is_folder and too_long[0].path.startswith("d/d/")
    assert len(str(deep_input / too_long[0].path)) >= 4000       # near the system's limit (PATH_MAX)
    payload, code = _validate(deep_input)
    assert code == 1                                             # something was not read: never clean
    assert ("PATH_TOO_LONG", too_long[0].path, "warning") in _problems(payload)
    assert _status(payload)[deep] == "read"


# --- folders that cannot be listed ----------------------------------------------------------------

def _can_drop_privileges() -> bool:
    return os.geteuid() != 0 or shutil.which("setpriv") is not None


@pytest.mark.skipif(not _can_drop_privileges(), reason="root, and no setpriv to drop CAP_DAC_OVERRIDE")
def test_a_folder_that_cannot_be_listed_is_a_warning_not_clean(tmp_path):
    clean_portfolio(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "actuals" / "globex.xlsx").rename(locked / "globex.xlsx")
    locked.chmod(0)
    try:
        payload, code = _validate_in_subprocess(tmp_path, unprivileged=os.geteuid() == 0)
    finally:
        locked.chmod(0o755)
    assert code == 1
    assert ("FOLDER_UNREADABLE", "locked/", "warning") in _problems(payload)
    unreadable = next(p for p in payload["problems"] if p["code"] == "FOLDER_UNREADABLE")
    assert "ermission denied" in unreadable["message"]


def test_a_listing_error_is_reported_for_that_folder_and_the_walk_goes_on(tmp_path, monkeypatch):
    clean_portfolio(tmp_path)
    (tmp_path / "broken" / "inner").mkdir(parents=True)
    real = os.scandir

    def scandir(path="."):
        if isinstance(path, (str, Path)) and Path(path).name == "broken":
            raise OSError(5, "Input/output error", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    found, skipped = discover(tmp_path)
    assert [f.path for f in found] == ["actuals/acme.xlsx", "actuals/globex.xlsx", "plan.xlsx", "registry.xlsx"]
    assert [(s.path, s.problem.code, s.problem.severity, s.is_folder) for s in skipped] == [
        ("broken/", "FOLDER_UNREADABLE", "warning", True)]
    assert "Input/output error" in skipped[0].problem.message


def test_an_input_folder_that_cannot_be_listed_stops_the_run(tmp_path, monkeypatch):
    clean_portfolio(tmp_path)
    real = os.scandir

    def scandir(path="."):
        if isinstance(path, (str, Path)) and Path(path) == tmp_path:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = CliRunner().invoke(cli, ["validate", "--input", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot be read" in result.output and "Permission denied" in result.output


# --- symlinks -------------------------------------------------------------------------------------

def test_symlinked_folders_inside_are_followed_once_outside_and_loops_reported(tmp_path):
    folder = clean_portfolio(tmp_path / "input")
    (folder / ".archive").mkdir()
    (folder / "actuals" / "globex.xlsx").rename(folder / ".archive" / "globex.xlsx")
    (folder / "globex").symlink_to(".archive")                # inside, not read otherwise: followed
    (folder / "same").symlink_to("actuals")                   # inside, read as actuals/ already
    (folder / "actuals" / "again").symlink_to("..")           # a loop back to the input folder
    (tmp_path / "elsewhere").mkdir()
    clean_portfolio(tmp_path / "elsewhere")
    (folder / "shared").symlink_to(tmp_path / "elsewhere")    # outside the input folder
    found, skipped = discover(folder)
    assert [f.path for f in found] == ["actuals/acme.xlsx", "globex/globex.xlsx", "plan.xlsx", "registry.xlsx"]
    assert [(s.path, s.problem.code, s.problem.severity) for s in skipped] == [
        (".archive/", "FILE_HIDDEN", "note"),
        ("actuals/again/", "FOLDER_LOOP", "note"),
        ("same/", "FOLDER_LOOP", "note"),
        ("shared/", "FOLDER_LINK_OUTSIDE", "warning")]
    assert all(s.is_folder for s in skipped)
    assert discover(folder) == (found, skipped)               # deterministic
    payload, code = _validate(folder)
    assert code == 1 and payload["summary"]["error"] == 0
    assert _status(payload)["globex/globex.xlsx"] == "read"
    (folder / "shared").unlink()                              # loops and aliases lose nothing: clean
    payload, code = _validate(folder)
    assert code == 0, payload["problems"]


def test_a_ring_of_folder_links_ends(tmp_path):
    folder = clean_portfolio(tmp_path / "input")
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    (folder / "a" / "to_b").symlink_to("../b")
    (folder / "b" / "to_a").symlink_to("../a")
    (folder / "self").symlink_to("self")                      # a link to itself leads nowhere
    found, skipped = discover(folder)
    assert len(found) == 4
    assert [(s.path, s.problem.code) for s in skipped] == [
        ("a/to_b/", "FOLDER_LOOP"), ("b/to_a/", "FOLDER_LOOP"), ("self", "FILE_LINK_BROKEN")]


def test_symlinked_files_are_read_inside_and_not_followed_outside(tmp_path):
    folder = clean_portfolio(tmp_path / "input")
    (folder / ".store").mkdir()
    (folder / "actuals" / "globex.xlsx").rename(folder / ".store" / "globex.xlsx")
    (folder / "globex.xlsx").symlink_to(".store/globex.xlsx")         # inside: read under the link's name
    clean_portfolio(tmp_path / "elsewhere")
    (folder / "outside.xlsx").symlink_to(tmp_path / "elsewhere" / "registry.xlsx")
    (folder / "gone.xlsx").symlink_to("nothing-here.xlsx")
    payload, code = _validate(folder)
    assert code == 1 and payload["summary"]["error"] == 0
    assert _status(payload)["globex.xlsx"] == "read"
    assert _status(payload)["outside.xlsx"] == "skipped"
    assert {("FILE_LINK_OUTSIDE", "outside.xlsx", "warning"), ("FILE_LINK_BROKEN", "gone.xlsx", "warning"),
            ("FILE_HIDDEN", ".store/", "note")} <= _problems(payload)


# --- FIFOs, devices and endless pseudo-files --------------------------------------------------------

def test_fifos_devices_and_endless_pseudo_files_cost_only_themselves(tmp_path):
    folder = clean_portfolio(tmp_path / "input")
    os.mkfifo(folder / "pipe.xlsx")
    os.mkfifo(folder / "actuals" / "pipe.csv")
    (folder / "pipe-link.xlsx").symlink_to("pipe.xlsx")
    (folder / "data.xlsx").symlink_to("/proc/self/pagemap")   # a regular file of size 0 that never ends
    (folder / "zero.xlsx").symlink_to("/dev/zero")
    payload, code = _validate_in_subprocess(folder)
    problems = _problems(payload)
    assert {("FILE_UNSUPPORTED", "pipe.xlsx", "note"), ("FILE_UNSUPPORTED", "actuals/pipe.csv", "note"),
            ("FILE_UNSUPPORTED", "pipe-link.xlsx", "note"), ("FILE_LINK_OUTSIDE", "data.xlsx", "warning"),
            ("FILE_LINK_OUTSIDE", "zero.xlsx", "warning")} <= problems
    status = _status(payload)
    assert [p for p, s in status.items() if s == "read"] == [
        "actuals/acme.xlsx", "actuals/globex.xlsx", "plan.xlsx", "registry.xlsx"]
    assert code == 1 and payload["summary"]["error"] == 0


def test_a_config_file_that_is_a_fifo_or_never_ends_is_reported(tmp_path):
    folder = clean_portfolio(tmp_path / "input")
    os.mkfifo(folder / "partner-review.toml")
    payload, code = _validate_in_subprocess(folder)
    assert ("CONFIG_INVALID", "partner-review.toml", "error") in _problems(payload) and code == 1
    (folder / "partner-review.toml").unlink()
    (folder / "partner-review.toml").symlink_to("/proc/self/pagemap")
    payload, code = _validate_in_subprocess(folder)
    assert ("CONFIG_INVALID", "partner-review.toml", "error") in _problems(payload) and code == 1
    assert _status(payload)["registry.xlsx"] == "read"


_READ_ANYWAY = """
import json, sys
import pipeline.read.discover as d
from pipeline.core.settings import Config
from pipeline.read.reader import read_input

real = d.discover
extra = {"data.xlsx": 0, "pipe.xlsx": 0}   # handed to the readers as if the walk had let them through

def discover(root):
    found, skipped = real(root)
    return found + [d.Found(p, "xlsx", size) for p, size in extra.items()], [s for s in skipped if s.path not in extra]

d.discover = discover
config = Config()
config.values["limits"].update(max_file_mb=2, file_seconds=20)
r = read_input(sys.argv[1], config)
print(json.dumps({"status": {i.path: i.status for i in r.inputs}, "sha": {i.path: i.sha256 for i in r.inputs},
                  "problems": sorted([p.code, p.file] for p in r.problems)}))
"""


def test_an_endless_file_and_a_fifo_reaching_the_readers_cost_only_themselves(tmp_path):
    """Hashing and sniffing run in the worker under the file's time and size limits: a file that
    streams forever is cut at limits.max_file_mb, a FIFO is never opened for a blocking read."""
    folder = clean_portfolio(tmp_path / "input")
    (folder / "data.xlsx").symlink_to("/proc/self/pagemap")
    os.mkfifo(folder / "pipe.xlsx")
    proc = subprocess.run([sys.executable, "-c", _READ_ANYWAY, str(folder)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert ["FILE_TOO_LARGE", "data.xlsx"] in out["problems"]
    assert ["FILE_UNSUPPORTED", "pipe.xlsx"] in out["problems"]
    assert out["status"]["data.xlsx"] == out["status"]["pipe.xlsx"] == "refused"
    assert [p for p, s in out["status"].items() if s == "read"] == [
        "actuals/acme.xlsx", "actuals/globex.xlsx", "plan.xlsx", "registry.xlsx"]
    assert all(len(out["sha"][p]) == 64 for p, s in out["status"].items() if s == "read")


def test_the_worker_bounds_what_it_hashes(tmp_path):
    os.mkfifo(tmp_path / "pipe.xlsx")
    limits = dict(Config().values["limits"], max_file_mb=1)
    jobs = [("endless", ("/proc/self/pagemap", "data.xlsx", "xlsx", 0, limits)),
            ("fifo", (str(tmp_path / "pipe.xlsx"), "pipe.xlsx", "xlsx", 0, limits))]
    out = run_isolated(read_file_packed, jobs, seconds=20, memory_mb=1024, workers=1)
    assert out["endless"][0] == "ok" and [p.code for p in out["endless"][1].problems] == ["FILE_TOO_LARGE"]
    assert out["fifo"][0] == "ok" and [p.code for p in out["fifo"][1].problems] == ["FILE_UNSUPPORTED"]
