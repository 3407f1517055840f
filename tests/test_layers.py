"""The rooms of `mcp_arena` and what each may import: no cycles, no upward imports.

Every import counts, function-level and `TYPE_CHECKING` ones included: a lazy
import is still a dependency, only a later one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mcp_arena"
LEAVES = {"config", "errors"}

# room -> rooms it may import (itself included). A room is a subpackage or a top-level module.
MAY_IMPORT: dict[str, set[str]] = {
    "errors": {"errors"},
    "config": {"config", "errors"},
    "core": {"core"} | LEAVES,
    "search": {"search", "core"} | LEAVES,
    "feeds": {"feeds", "core"} | LEAVES,
    "engine": {"engine", "search", "feeds", "core"} | LEAVES,
    "proxy": {"proxy", "core"} | LEAVES,
    "schemas": {"schemas"},
    "connection": {"connection"},
    "auth": {"auth", "connection", "core"} | LEAVES,  # HTTP bearer tokens -> principals
    "relay": {"relay", "connection", "engine", "proxy", "core"} | LEAVES,  # the proxy's server side
    "hook": {"hook", "engine", "core"} | LEAVES,  # the PostToolUse hook's server side and wire
    "server": {"server", "hook", "schemas", "connection", "auth", "relay", "engine", "proxy", "core"} | LEAVES,
    "lab": {"lab", "server", "relay", "connection", "schemas", "engine", "search", "feeds", "proxy", "core"} | LEAVES,
    "cli": {"cli", "hook", "lab", "server", "auth", "relay", "connection", "schemas", "engine", "search", "feeds", "proxy", "core"} | LEAVES,
    "__main__": {"cli"},
    "__init__": {"engine", "server", "core"} | LEAVES,  # the lazy public face
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def room_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def imported_modules(module: str, path: Path) -> set[str]:
    """Every mcp_arena module `module` imports, at any depth of the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("mcp_arena"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("mcp_arena"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    found.discard(module)
    return {name for name in found if name in MODULES}


GRAPH = {module: imported_modules(module, path) for module, path in MODULES.items()}


def test_every_room_is_known():
    assert {room_of(m) for m in MODULES} <= set(MAY_IMPORT)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_stay_in_allowed_rooms(module):
    allowed = MAY_IMPORT[room_of(module)]
    wrong = sorted(dep for dep in GRAPH[module] if room_of(dep) not in allowed and dep != "mcp_arena")
    assert not wrong, f"{module} ({room_of(module)}) may import only {sorted(allowed)}; it imports {wrong}"


def test_nothing_imports_the_package_face_from_inside():
    inward = sorted(m for m, deps in GRAPH.items() if "mcp_arena" in deps and m != "mcp_arena")
    assert not inward, f"import from the module that defines the name, not from mcp_arena: {inward}"


def test_no_import_cycles():
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(GRAPH[module]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_rooms_say_what_they_may_import():
    for room in ("core", "search", "feeds", "engine", "cli", "lab", "proxy"):
        init = PACKAGE / room / "__init__.py"
        if not init.exists():
            continue
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{room}/__init__.py needs a docstring"
        assert "May import" in ast.get_docstring(tree), f"{room}/__init__.py: say what the room may import"
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        assert not body, f"{room}/__init__.py stays free of code (start-up time)"
