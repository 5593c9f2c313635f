"""The package's layout, read from the source with ``ast`` (nothing is imported): the command line is
a shell only the entry points import, the modules import each other without a circle, no module
reaches into another's private names, and argparse lives in colored/cli.py alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "colored"
MODULES = {
    f"colored.{path.stem}": path for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__init__"
}
MODULES["colored"] = PACKAGE / "__init__.py"


def imports(module: str) -> list[tuple[str, list[str], int]]:
    """Every import in ``module`` (at the top, in functions, in ``try`` blocks alike) as
    ``(imported module, names taken from it, line)``; relative imports resolved."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    package = module if module == "colored" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1]
                    + ([base] if base else [])
                )
            names = [alias.name for alias in node.names]
            found.append((base, names, node.lineno))
            # `from colored import cli` imports the module colored.cli
            found += [
                (f"{base}.{name}", [], node.lineno) for name in names if f"{base}.{name}" in MODULES
            ]
    return found


def internal_graph() -> dict[str, set[str]]:
    """module → the colored modules it imports (``colored`` itself left out: every import of a
    submodule runs the package's ``__init__`` anyway, which is not a dependency on it)."""
    return {
        module: {
            name
            for name, _, _ in imports(module)
            if name in MODULES and name not in ("colored", module)
        }
        for module in MODULES
    }


def test_only_the_entry_point_imports_the_command_line():
    offenders = [
        f"{MODULES[module].name}:{line}"
        for module in MODULES
        if module != "colored.__main__"
        for name, _, line in imports(module)
        if name == "colored.cli"
    ]
    assert not offenders, (
        "colored.cli is the command line's shell: only colored/__main__.py (and the console "
        f"script) may import it, but {', '.join(offenders)} do"
    )


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (``[a, b, ..., a]``), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_names_the_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a"}}) is None


def test_no_import_cycle_between_modules():
    cycle = find_cycle(internal_graph())
    assert cycle is None, (
        "import circle (imports inside functions count): "
        + " → ".join(cycle)
        + "; move the shared piece down into a module both can import"
    )


def test_no_private_names_across_modules():
    offenders = [
        f"{MODULES[module].name}:{line} takes {name} from {source}"
        for module in MODULES
        for source, names, line in imports(module)
        if source.startswith("colored") and source != module
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert not offenders, (
        "private names used across modules (make them public, or move the code):\n"
        + "\n".join(offenders)
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_the_command_line_parses_arguments(module):
    if module == "colored.cli":
        return
    lines = [line for name, _, line in imports(module) if name == "argparse"]
    assert not lines, (
        f"{MODULES[module].name}:{lines[0]} imports argparse: parsers belong in colored/cli.py"
    )
