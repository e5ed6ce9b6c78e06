"""The package's layers: imports run one way, there are no cycles, and only the CLI draws.

    cli/, library/  ->  core/  ->  service/  ->  common/
    sandbox/ (a stand-in for the service) imports only common/ and itself

and inside core/, one room per concern, each importing only the rooms below it:

    watch/ -> push/ -> session/ -> integrations/ -> journal/ -> settings/ -> model.py

Every import counts: at the top, inside functions, and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "productiv_upload"

# core's rooms, from the top down: each may import the rooms after it.
CORE_ROOMS = [
    "core.watch", "core.push", "core.session", "core.integrations", "core.journal",
    "core.settings", "core.model",
]  # fmt: skip
BELOW_CORE = {"service", "common"}

# What each layer may import from the package (besides itself and the package's __init__).
ALLOWED = {
    "cli": {*CORE_ROOMS, "core", "service", "common", "sandbox", "library"},
    "library": {*CORE_ROOMS, "core", "service", "common"},
    **{room: {*CORE_ROOMS[i + 1 :], *BELOW_CORE} for i, room in enumerate(CORE_ROOMS)},
    "core": set(),
    "service": {"common"},
    "sandbox": {"common"},
    "common": set(),
    "__main__": {"cli"},
    "__init__": {"common", "core", *CORE_ROOMS, "library"},
}
UI_LIBRARIES = {"typer", "rich", "click"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """`cli`, `service`...; inside core, its room: `core.push`, `core.model`."""
    parts = module.split(".")
    if len(parts) > 2 and parts[1] == "core":
        return f"core.{parts[2]}"
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from productiv_upload.cli import options` imports a module, not a name.
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if _module_path(candidate) is not None:
                    found.add(candidate)
    return found


def _module_path(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def package_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        graph[name] = {
            m for m in imports_of(path) if m.startswith("productiv_upload.") and m != name
        }
    return graph


def test_the_layers_are_all_known() -> None:
    assert {layer_of(m) for m in package_graph()} <= set(ALLOWED)


@pytest.mark.parametrize("module", sorted(package_graph()))
def test_imports_run_down_the_layers(module: str) -> None:
    layer = layer_of(module)
    wrong = sorted(
        imported
        for imported in package_graph()[module]
        if layer_of(imported) not in ALLOWED[layer] | {layer, "__init__"}
    )
    assert wrong == [], f"{module} ({layer}) may not import {wrong}"


def test_nothing_below_the_cli_imports_a_ui_library() -> None:
    offenders = {
        module_name(path): sorted(m for m in imports_of(path) if m.split(".")[0] in UI_LIBRARIES)
        for path in PACKAGE.rglob("*.py")
        if layer_of(module_name(path)) not in ("cli", "__main__")
    }
    assert {m: found for m, found in offenders.items() if found} == {}


def test_there_is_no_import_cycle() -> None:
    graph = package_graph()
    # The package's own __init__ re-exports lazily (PEP 562) and imports nothing at load time.
    edges = {m: {i for i in deps if i in graph and i != "productiv_upload"}
             for m, deps in graph.items()}  # fmt: skip
    cycle = _find_cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(edges.get(node, ())):
            cycle = visit(target)
            if cycle is not None:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for start in sorted(edges):
        cycle = visit(start)
        if cycle is not None:
            return cycle
    return None
