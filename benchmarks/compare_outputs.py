"""Hold a change to "no behaviour change": the same reviews, flags, manifest and audit workbook as before.

    python benchmarks/compare_outputs.py snapshot BEFORE.json [--partners 200]   # on the old code
    python benchmarks/compare_outputs.py snapshot AFTER.json  [--partners 200]   # on the new code
    python benchmarks/compare_outputs.py compare BEFORE.json AFTER.json

`snapshot` runs `report` (dated by --as-of, so the PDFs are deterministic) on both bundled sample drops and
on a generated portfolio, and records for every output: each PDF's bytes (SHA-256) and, so that a
difference can be told apart from a change in what a reader sees, its extracted text and its pages at
50 dpi (poppler's pdftoppm), flags.csv, manifest.json without its clock time, and every cell of
reconciled.xlsx and of the feedback workbooks. `compare` lists what differs; exit 0 when nothing does.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
AS_OF = "2026-10-02"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _pdf(path: Path) -> dict[str, str]:
    from pypdf import PdfReader

    text = "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    out = {"bytes": _sha(path.read_bytes()), "text": _sha(text.encode("utf-8", "surrogatepass"))}
    if shutil.which("pdftoppm"):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["pdftoppm", "-r", "50", "-png", str(path), f"{tmp}/p"], check=True)
            out["pixels"] = _sha(b"".join(p.read_bytes() for p in sorted(Path(tmp).glob("*.png"))))
    return out


def _xlsx(path: Path) -> str:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    h = hashlib.sha256()
    for ws in wb.worksheets:
        h.update(ws.title.encode() + b"\0")
        for row in ws.iter_rows(values_only=True):
            h.update(repr(row).encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _quarter(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_file() or rel.startswith((".", "email/")):
            continue
        if path.suffix == ".pdf":
            out[rel] = _pdf(path)
        elif path.suffix == ".xlsx":  # by cell: openpyxl stamps the feedback copies with the time they were saved
            out[rel] = _xlsx(path)
        elif path.name == "manifest.json":
            manifest = json.loads(path.read_text(encoding="utf-8"))
            manifest.pop("generated_at", None)
            # generated workbooks carry the time openpyxl wrote them: their paths count, not their bytes
            manifest["inputs"] = [i["path"] for i in manifest.get("inputs", [])]
            out[rel] = manifest
        else:
            out[rel] = _sha(path.read_bytes())
    return out


def _report(inp: Path, out: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli import cli

    res = CliRunner().invoke(cli, ["report", "--input", str(inp), "--output", str(out), "--as-of", AS_OF, "-q"])
    if res.exit_code not in (0, 1):
        raise SystemExit(f"report failed on {inp}: {res.output[-2000:]}")


def snapshot(target: Path, partners: int) -> None:
    from pipeline.write.synthetic import write_portfolio

    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sample"
        for drop in sorted((ROOT / "pipeline" / "samples" / "drops").iterdir()):
            _report(drop, out)
        for q in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
            result[f"sample/{q.name}"] = _quarter(q)
        if partners:
            inp, gen = Path(tmp) / "generated", Path(tmp) / "out"
            spec = write_portfolio(inp, partners=partners, kpis=12, quarters=8, commitments=10)
            _report(inp, gen)
            result[f"generated/{spec.last_quarter.label}"] = _quarter(gen / spec.last_quarter.label)
    target.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    print(f"{target}: {sum(len(v) for v in result.values())} files")


def compare(before: Path, after: Path) -> int:
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (before, after))
    diffs = []
    for run in sorted(set(a) | set(b)):
        fa, fb = a.get(run, {}), b.get(run, {})
        for name in sorted(set(fa) | set(fb)):
            if fa.get(name) != fb.get(name):
                what = "missing after" if name not in fb else "new" if name not in fa else "differs"
                detail = ""
                if isinstance(fa.get(name), dict) and isinstance(fb.get(name), dict):
                    detail = " (" + ", ".join(k for k in sorted(set(fa[name]) | set(fb[name]))
                                               if fa[name].get(k) != fb[name].get(k)) + ")"
                diffs.append(f"{run}/{name}: {what}{detail}")
    print("\n".join(diffs) if diffs else f"the same: {sum(len(v) for v in a.values())} files")
    return 1 if diffs else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("target", type=Path)
    s.add_argument("--partners", type=int, default=200)
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = ap.parse_args()
    if args.cmd == "snapshot":
        snapshot(args.target, args.partners)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    raise SystemExit(main())
