"""The floor plan: one subpackage per stage, imports going one way down the flow, and a map that matches."""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pipeline"
# the flow, in order: a stage may import from `core` and from the stages before it, never after
STAGES = ["compat", "core", "read", "reconcile", "analyse", "chart", "render", "write", "distribute", "run"]
TOP = {"__init__", "__main__", "cli", "console"}


@functools.lru_cache(maxsize=1)
def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted(PACKAGE.rglob("*.py"))}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else "top"


def _imports(path: Path) -> set[str]:
    """The pipeline modules `path` imports (``from pipeline.render import layout`` is pipeline.render.layout)."""
    modules = _modules()
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pipeline"):
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("pipeline")}
    return out


def test_imports_go_one_way_down_the_flow():
    wrong = []
    for module, path in _modules().items():
        here = _stage(module)
        if here == "top":
            continue
        for target in _imports(path):
            there = _stage(target)
            if target in ("pipeline", "pipeline.__version__"):
                continue
            if there == "top" or STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_cycles_between_modules():
    mods = _modules()
    graph = {m: {t for t in _imports(p) if t in mods and t != m} for m, p in mods.items()}
    seen: dict[str, int] = {}
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for t in sorted(graph[m]):
            if seen.get(t) == 1:
                cycles.append(path[path.index(t):] + [t] if t in path else [m, t])
            elif t not in seen:
                visit(t, path + [t])
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [m])
    # a package's __init__ importing its own modules is no cycle of ideas; none of ours does
    assert cycles == []


def test_at_most_eight_modules_at_the_top():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= TOP and len(top) <= 8
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} <= set(STAGES)


def test_the_map_names_every_subpackage_and_only_modules_that_exist():
    """Each "## `pkg`" section of docs/architecture.md names its package's modules in backticks: every
    lowercase name there is a module of that package, and every module is named (capitalised names are
    types; dotted ones, like `frames.Analysis`, point elsewhere)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    sections = {m.group(1): m.group(2) for m in re.finditer(r"^## `(\w+)`(.*?)(?=^## |\Z)", text, flags=re.M | re.S)}
    assert set(sections) == packages, "every subpackage has its section, and every section its subpackage"
    for pkg, body in sections.items():
        named = {w for w in re.findall(r"`([a-z_]\w*)`", body)}
        modules = {p.stem for p in (PACKAGE / pkg).glob("*.py")} - {"__init__"}
        assert named == modules, f"{pkg}: on the map but no module {sorted(named - modules)}; " \
                                 f"modules not on the map {sorted(modules - named)}"
    for path in re.findall(r"`(pipeline/[\w/]+\.py)`", text):
        assert (ROOT / path).exists(), path
