"""What the package declares: every library pipeline/ imports is a dependency in pyproject.toml, every
dependency has a lower bound, the lock pins every one of them with hashes and satisfies those bounds, and
the lock holds no index URL."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def imported_top_levels() -> set[str]:
    names = set()
    for path in (ROOT / "pipeline").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"pipeline", "__future__"}


def undeclared(imports: set[str], dependencies: list[str]) -> set[str]:
    """The imported modules no declared dependency provides (msvcrt and the like: Windows' standard library)."""
    declared = {canonicalize_name(Requirement(d).name) for d in dependencies}
    providers = metadata.packages_distributions()
    return {m for m in imports if not {canonicalize_name(d) for d in providers.get(m, [m])} & declared}


def test_every_imported_library_is_declared():
    assert undeclared(imported_top_levels(), project()["dependencies"]) == set()


def test_the_check_finds_a_library_left_out():
    deps = [d for d in project()["dependencies"] if not d.lower().startswith("pillow")]
    assert undeclared(imported_top_levels(), deps) == {"PIL"}


def test_every_dependency_has_a_lower_bound():
    for dep in project()["dependencies"] + project()["optional-dependencies"]["test"]:
        assert any(s.operator in (">=", "==", "~=") for s in Requirement(dep).specifier), dep


def _locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of every requirement in the lock."""
    text = LOCK.read_text(encoding="utf-8")
    out = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        m = re.match(r"([A-Za-z0-9._-]+)==([^\s\\;]+)", block)
        if m:
            out[canonicalize_name(m.group(1))] = (m.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    return out


def test_the_lock_pins_every_dependency_and_test_tool_with_hashes_inside_the_bounds():
    locked = _locked()
    for dep in project()["dependencies"] + project()["optional-dependencies"]["test"]:
        req = Requirement(dep)
        name = canonicalize_name(req.name)
        assert name in locked, f"{req.name} is not in requirements.lock: run make lock"
        version, hashes = locked[name]
        assert req.specifier.contains(version, prereleases=True), f"{req.name}=={version} is outside {req.specifier}"
    assert locked and all(hashes for _, hashes in locked.values()), "every pin carries its hashes"


def test_the_lock_holds_no_index_url_or_local_path():
    text = LOCK.read_text(encoding="utf-8")
    assert not re.search(r"--(extra-)?index-url|--find-links|file://|https?://", text)
