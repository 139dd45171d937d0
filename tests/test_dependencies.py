"""Every third-party package memproxy's own code imports is declared in pyproject.toml.

A package that arrives only as someone else's dependency (aiohttp and yarl came with LiteLLM) breaks
memproxy the day that dependency drops it. The walk reads every import in daemon/, interceptor/ and
memproxy_cli/ (top level or inside a function: lazy imports are still imports), maps the import name to
the distribution that installs it, and compares with the declared requirements.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("daemon", "interceptor", "memproxy_cli")
# Extras whose imports are guarded (ImportError → a warning): declared there, not as a hard dependency.
OPTIONAL_EXTRAS = ("otel",)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return _canonical(match.group(1))


def declared() -> set[str]:
    """The distributions pyproject.toml names as dependencies or in the optional runtime extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_requirement_name(r) for r in project["dependencies"]}
    for extra in OPTIONAL_EXTRAS:
        names |= {_requirement_name(r) for r in project["optional-dependencies"][extra]}
    return names


def imported_modules() -> dict[str, str]:
    """{imported module name: the first file importing it} over the three packages' sources."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def imported_top_names() -> dict[str, str]:
    """{top-level import name: the first file importing it}."""
    found: dict[str, str] = {}
    for name, where in imported_modules().items():
        found.setdefault(name.partition(".")[0], where)
    return found


def _owners(module: str, distributions: Mapping[str, list[str]]) -> set[str]:
    """The distributions installing `module`: for a namespace package shared by several (opentelemetry),
    the ones holding files under the module's own folder, so `opentelemetry.semconv` is not excused by
    `opentelemetry-sdk`."""
    owners = set(distributions.get(module.partition(".")[0], ()))
    parts = module.split(".")
    for depth in range(len(parts), 1, -1):
        prefix = "/".join(parts[:depth])
        holding = {
            name
            for name in owners
            if any(str(f).startswith((prefix + "/", prefix + ".py")) for f in importlib.metadata.files(name) or ())
        }
        if holding:
            return holding
    return owners


def undeclared() -> dict[str, str]:
    """{distribution: the file that imports it} for every third-party import no requirement declares."""
    distributions = importlib.metadata.packages_distributions()
    ours = set(PACKAGES)
    wanted = declared()
    missing: dict[str, str] = {}
    for module, where in imported_modules().items():
        top = module.partition(".")[0]
        if top in ours or top in sys.stdlib_module_names or top == "__future__":
            continue
        owners = _owners(module, distributions) if len(distributions.get(top, ())) > 1 else distributions.get(top)
        assert owners, f"{where} imports {module!r}, which no installed distribution provides"
        if not {_canonical(o) for o in owners} & wanted:
            missing[" or ".join(sorted(owners))] = where
    return missing


def test_the_walk_sees_the_imports_it_must_judge() -> None:
    # A walk that found nothing would pass for ever: the hot-path imports and a lazy one must be in it.
    names = imported_top_names()
    assert {"aiohttp", "yarl", "litellm", "fastapi", "typer"} <= names.keys()
    assert "opentelemetry" in names  # imported inside functions only (the optional extra)


def test_every_imported_third_party_package_is_declared() -> None:
    assert undeclared() == {}


def _module_level_imports(tree: ast.Module) -> list[str]:
    """Imports run when the module loads: top-level statements, not functions or `if TYPE_CHECKING:`."""
    names: list[str] = []
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.If) and not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody
    return names


def test_the_otel_extra_stays_optional() -> None:
    # memproxy without `memproxy[otel]` must still import: OpenTelemetry only inside functions.
    loaded_at_import = {
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if any(n.startswith("opentelemetry") for n in _module_level_imports(ast.parse(path.read_text())))
    }
    assert loaded_at_import == set()
