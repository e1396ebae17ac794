"""Each package's metadata names what its code imports: every third-party module a package imports (at the top of
a file or inside a function) comes from a distribution it declares, as a dependency or an extra, or from another
reflectlab package it declares. Fast: reads pyproject.toml files and source, installs nothing."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("apps/*/pyproject.toml")])
#: Modules of distributions that cannot be installed here (vllm needs a CUDA build of torch).
NOT_INSTALLABLE_HERE = {"vllm": "vllm"}
#: Imports a package makes on purpose without declaring them: (distribution, module) -> why.
UNDECLARED_ON_PURPOSE = {
    ("reflectlab-core", "reflectlab.dashboard"): "`platform dashboard` imports it only when asked, after checking "
    "that it is installed, and otherwise prints the pip install line",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(req: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert match, req
    return _norm(match.group(1))


def _declared(pyproject: Path) -> tuple[str, set[str]]:
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return _norm(project["name"]), {_requirement_name(r) for r in reqs}


def _imports(src: Path) -> dict[str, str]:
    """Top-level module (``reflectlab.<pkg>`` for the namespace) -> one file that imports it."""
    found: dict[str, str] = {}
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                top = ".".join(parts[:2]) if parts[0] == "reflectlab" and len(parts) > 1 else parts[0]
                found.setdefault(top, str(path.relative_to(ROOT)))
    return found


ALL = {_declared(p)[0]: p for p in PACKAGE_DIRS}


def _reachable(dist: str) -> set[str]:
    """What ``dist`` declares, plus what the reflectlab packages it declares declare (they come with it)."""
    _, direct = _declared(ALL[dist])
    out = set(direct)
    for dep in direct:
        if dep.startswith("reflectlab-") and dep in ALL:
            out |= _reachable(dep)
    return out


@pytest.mark.parametrize("pyproject", PACKAGE_DIRS, ids=lambda p: p.parent.name)
def test_every_import_is_declared(pyproject: Path) -> None:
    dist, _ = _declared(pyproject)
    allowed = _reachable(dist) | {dist}
    module_dists = packages_distributions()
    missing = []
    for module, where in sorted(_imports(pyproject.parent / "src").items()):
        if module in sys.stdlib_module_names or module == "__future__" or (dist, module) in UNDECLARED_ON_PURPOSE:
            continue
        if module.startswith("reflectlab."):
            candidates = {_norm(module.replace(".", "-"))}
        elif module == "reflectlab":
            continue
        else:
            candidates = {_norm(d) for d in module_dists.get(module, [NOT_INSTALLABLE_HERE.get(module, module)])}
        if not candidates & allowed:
            missing.append(f"{module} (imported in {where}; from {', '.join(sorted(candidates))})")
    assert not missing, f"{dist} imports what it does not declare: " + "; ".join(missing)
