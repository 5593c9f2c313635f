"""The package's layout, read from the source with ``ast`` (nothing is imported): the core modules at
the top of ``colored/`` never reach up into the tooling (``colored.notebook``, ``colored.cli``); the
file I/O of ``colored.io`` stands below the core; the command line is a shell only the entry points
import; no import circle; no private names across modules; argparse lives in colored/cli/ alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "colored"
MODULES: dict[str, Path] = {}
for _path in sorted(PACKAGE.rglob("*.py")):
    _parts = _path.relative_to(PACKAGE.parent).with_suffix("").parts
    MODULES[".".join(_parts[:-1] if _parts[-1] == "__init__" else _parts)] = _path
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}
#: The tooling around the core, and the packages below it; every other module is the core.
TOOLING = ("colored.notebook", "colored.cli", "colored.__main__", "colored.lab")
IO = "colored.io"
#: A reader holds a module in one sitting (issue 23 asks for ~400 lines); none may grow past this.
MAX_LINES = 450


def layer(module: str) -> str:
    if module == IO or module.startswith(IO + "."):
        return "io"
    if any(module == t or module.startswith(t + ".") for t in TOOLING):
        return "tooling"
    return "core"


def imports(module: str) -> list[tuple[str, list[str], int]]:
    """Every import in ``module`` (at the top, in functions, in ``try`` blocks alike) as
    ``(imported module, names taken from it, line)``; relative imports resolved."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    package = module if module in PACKAGES else module.rsplit(".", 1)[0]
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


def in_command_line(module: str) -> bool:
    """Whether ``module`` is the command-line package ``colored.cli`` or one of its modules."""
    return module == "colored.cli" or module.startswith("colored.cli.")


def test_only_the_entry_point_imports_the_command_line():
    offenders = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}"
        for module in MODULES
        if module != "colored.__main__" and not in_command_line(module)
        for name, _, line in imports(module)
        if in_command_line(name)
    ]
    assert not offenders, (
        "colored.cli is the command line's shell: only colored/__main__.py (and the console "
        f"script) may import it or its modules, but {', '.join(offenders)} do"
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
    if in_command_line(module):
        return
    lines = [line for name, _, line in imports(module) if name == "argparse"]
    assert not lines, (
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{lines[0]} imports argparse: parsers "
        "belong in colored/cli/"
    )


def test_the_core_never_reaches_up_into_the_tooling():
    offenders = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {name}"
        for module in MODULES
        if layer(module) == "core" and module != "colored"
        for name, _, line in imports(module)
        if name in MODULES and layer(name) == "tooling"
    ]
    assert not offenders, (
        "the core (colored/*.py) must not import the notebook helpers or the command line:\n"
        + "\n".join(offenders)
    )


def test_file_io_stands_below_the_core():
    # colored.io may use the colour maths (colored.color) and itself, nothing else of the package
    offenders = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} imports {name}"
        for module in MODULES
        if layer(module) == "io"
        for name, _, line in imports(module)
        if name in MODULES and layer(name) != "io" and name not in ("colored", "colored.color")
    ]
    assert not offenders, "colored.io must not depend on the core above it:\n" + "\n".join(
        offenders
    )


def test_no_module_is_much_longer_than_a_sitting():
    over = {
        str(path.relative_to(PACKAGE.parent)): len(path.read_text().splitlines())
        for path in MODULES.values()
        if len(path.read_text().splitlines()) > MAX_LINES
    }
    assert not over, f"modules over {MAX_LINES} lines: {over}; split them along the data flow"
