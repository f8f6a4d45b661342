"""One run at a time: a lock per output folder for `report` and one per quarter folder for `email --send`.

The lock is an advisory lock held by the operating system on a small file that names its holder (pid,
host, user, command, since when). The system releases it when the holder exits, however it exits, so a
lock left behind by a crashed or killed run is simply taken over by the next run: there is no stale lock
to clean up by hand. A second run waits up to ``PARTNER_REVIEW_LOCK_WAIT`` seconds (default 10) for the
first to finish, then stops with a message naming it (`RunRefused`, exit 2).

Where the file system cannot lock (some network shares), the run goes on unlocked and says so.
"""
from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.core.problems import RunRefused

REPORT = "report"
SEND = "send"
WAIT_ENV = "PARTNER_REVIEW_LOCK_WAIT"
DEFAULT_WAIT = 10.0
_POLL = 0.1


def lock_path(folder: Path, kind: str) -> Path:
    return Path(folder) / f".partner-review-{kind}.lock"


def _wait_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(WAIT_ENV, DEFAULT_WAIT)))
    except ValueError:
        return DEFAULT_WAIT


def _try_lock(fd: int) -> bool:
    """Take the lock on `fd` without waiting: True when taken, False when another process holds it."""
    if sys.platform == "win32":  # no fcntl there (a platform check, so mypy checks each branch for its own OS)
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except PermissionError:  # EACCES: another process holds it
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(path: Path) -> str:
    """Who holds the lock, in words, from what the holder wrote into the file."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or not info.get("pid"):
        return "another partner-review run"
    since = f", since {info['started']}" if info.get("started") else ""
    who = f" by {info['user']}" if info.get("user") else ""
    return f"'{info.get('command') or 'partner-review'}' (pid {info['pid']} on {info.get('host') or '?'}{who}{since})"


@contextmanager
def hold(folder: Path, kind: str, command: str, *, echo: Callable[[str], None] | None = None,
         wait: float | None = None) -> Iterator[Path]:
    """Hold the `kind` lock of `folder` for the block; wait up to `wait` seconds for another holder first.

    Raises RunRefused naming the holder when it does not finish in time."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunRefused(f"cannot create {folder}: {exc.strerror or exc}; choose a folder you can write to") from exc
    path = lock_path(folder, kind)
    fd = _open(path)
    try:
        deadline = time.monotonic() + (_wait_seconds() if wait is None else wait)
        told = False
        while True:
            try:
                if _try_lock(fd):
                    break
            except OSError as exc:  # the file system cannot lock: go on, but say so
                if echo is not None:
                    echo(f"warning: {folder} cannot be locked ({exc.strerror or exc}); make sure no other run uses it")
                break
            if time.monotonic() >= deadline:
                raise RunRefused(f"{_holder(path)} is running on {folder}; wait for it to finish, then run again "
                                 f"(a lock left by a run that died is taken over by itself)")
            if not told and echo is not None:
                echo(f"waiting for {_holder(path)} to finish on {folder} ...")
                told = True
            time.sleep(_POLL)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "user": _user(), "command": command,
                "started": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode("utf-8"))
        _HELD.add(fd)
        yield path
    finally:
        _HELD.discard(fd)
        os.close(fd)  # releases the lock


def _open(path: Path) -> int:
    """The lock file, opened for writing: a regular file of ours, never followed through a link (a link
    planted in a shared folder would have us truncate whatever it points to)."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        raise RunRefused(f"cannot open the lock file {path}: {exc.strerror or exc}; if it is a link, remove it; "
                         "otherwise choose a folder you can write to") from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise RunRefused(f"the lock file {path} is not a plain file of its own (a link?); remove it and run again")
    return fd


# the lock files this process holds: a forked child (a worker) closes its copies, so that a worker that
# outlives a killed run (where the system cannot end it with its parent) never keeps the run's lock
_HELD: set[int] = set()


def _close_in_child() -> None:
    for fd in list(_HELD):
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""
