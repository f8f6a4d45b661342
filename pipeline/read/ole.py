"""Old binary workbooks (OLE compound files: .xls, and encrypted .xlsx): which streams they hold and their
date system, read with small bounded readers of the container's directory (nothing else is parsed here)."""
from __future__ import annotations

from pathlib import Path

from pipeline.read.safety import CHUNK, OLE_MAGIC


def _utf16z(name: str) -> bytes:
    return (name + "\0").encode("utf-16-le")


def ole_streams(path: Path, names: tuple[str, ...] = ("EncryptedPackage", "EncryptionInfo", "Workbook", "Book")) -> set[str]:
    """Which of ``names`` appear as (NUL-terminated UTF-16) directory entry names in an OLE file."""
    wanted = {n: _utf16z(n) for n in names}
    overlap = max(len(w) for w in wanted.values())
    found: set[str] = set()
    tail = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            data = tail + chunk
            found.update(n for n, w in wanted.items() if w in data)
            tail = data[-overlap:]
    return found


_FREE_SECTOR = 0xFFFFFFFA  # sector ids from here on are markers (end of chain, free, FAT, DIFAT), not sectors
_BIFF_DATEMODE, _BIFF_EOF = 0x0022, 0x000A


def biff_date1904(path: Path, limit: int = 1 << 20) -> bool:
    """Whether an .xls workbook counts its dates from 1904: the DATEMODE record of its workbook globals,
    in the Workbook (or Book) stream of the OLE container, or at the start of a bare BIFF stream. Reads at
    most ``limit`` bytes of that stream and follows no sector chain in a loop; False whenever the record
    is not found."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
            data = _OleStreams(fh, head).read(("Workbook", "Book"), limit) if head.startswith(OLE_MAGIC) else \
                head + fh.read(limit)
        pos = 0
        while pos + 4 <= len(data):
            typ, size = struct.unpack_from("<HH", data, pos)
            if typ == _BIFF_DATEMODE and size >= 2:
                return struct.unpack_from("<H", data, pos + 4)[0] == 1
            if typ == _BIFF_EOF:
                return False
            pos += 4 + size
    except (OSError, struct.error, ValueError, IndexError):
        return False
    return False


class _OleStreams:
    """Just enough of the OLE compound file format to read the start of one named stream, by seeking."""

    def __init__(self, fh, head: bytes):
        import struct

        self.fh, self.unpack = fh, struct.unpack_from
        shift, mini_shift = self.unpack("<HH", head, 0x1E)
        if shift not in (9, 12) or mini_shift != 6:
            raise ValueError("not an OLE header")
        self.size = 1 << shift
        fh.seek(0, 2)
        self.count = fh.tell() // self.size - 1
        n_fat, self.dir_start, _, self.cutoff, self.minifat_start, _, difat, n_difat = self.unpack("<8I", head, 0x2C)
        fat_ids = [i for i in self.unpack("<109I", head, 0x4C) if i < _FREE_SECTOR]
        per = self.size // 4
        for _ in range(min(n_difat, self.count)):  # FAT sectors past the first 109 are listed in DIFAT sectors
            if difat >= self.count:
                break
            ids = self.unpack(f"<{per}I", self._sector(difat))
            fat_ids += [i for i in ids[:-1] if i < _FREE_SECTOR]
            difat = ids[-1]
        self.fat: list[int] = []
        for sid in fat_ids[:min(n_fat, self.count)]:
            if sid < self.count:
                self.fat.extend(self.unpack(f"<{per}I", self._sector(sid)))

    def _sector(self, sid: int) -> bytes:
        self.fh.seek((sid + 1) * self.size)
        return self.fh.read(self.size)

    @staticmethod
    def _chain(start: int, table: list[int] | tuple[int, ...], count: int, most: int) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()
        sid = start
        while sid < count and sid not in seen and len(out) < most:
            seen.add(sid)
            out.append(sid)
            sid = table[sid] if sid < len(table) else _FREE_SECTOR
        return out

    def _stream(self, start: int, length: int) -> bytes:
        sids = self._chain(start, self.fat, self.count, -(-length // self.size))
        return b"".join(self._sector(s) for s in sids)[:length]

    def read(self, names: tuple[str, ...], limit: int) -> bytes:
        """The first ``limit`` bytes of the first of ``names`` that is a stream (b'' when none is)."""
        directory = self._stream(self.dir_start, 1 << 22)
        entries = [directory[i:i + 128] for i in range(0, len(directory) - 127, 128)]
        found: dict[str, bytes] = {}
        for e in entries:
            name = e[:max(0, min(self.unpack("<H", e, 0x40)[0], 64) - 2)].decode("utf-16-le", "replace")
            if e[0x42] == 2 and name in names:
                found.setdefault(name, e)
        entry = next((found[n] for n in names if n in found), None)
        root = next((e for e in entries if e[0x42] == 5), None)
        if entry is None:
            return b""
        start, full = self.unpack("<II", entry, 0x74)
        length = min(full, limit)
        if full >= self.cutoff or root is None:
            return self._stream(start, length)
        mini = self._stream(*self.unpack("<II", root, 0x74))  # streams under the cutoff live in the mini stream
        minifat = self._stream(self.minifat_start, 1 << 22)
        table = self.unpack(f"<{len(minifat) // 4}I", minifat)
        sids = self._chain(start, table, len(mini) // 64, -(-length // 64))
        return b"".join(mini[s * 64:(s + 1) * 64] for s in sids)[:length]
