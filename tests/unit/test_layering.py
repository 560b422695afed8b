"""The layering of app/ (DESIGN.md: imports point down), read from the source: no import circle among the modules'
top-level imports, no import hidden inside a function but the listed ones, and the sandbox Partner Center (the
other side of the wire) leaning on no more of Cloudseat's domains than it does today."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
SANDBOX = "app.partner_center.sandbox"

# The only imports of app modules made inside a function, each with a comment on its line saying why: the CLI
# imports what a command runs when it runs it, so `cloudseat migrate` and `--help` start without the web app.
# (module, function) -> the app modules it imports there. The list may shrink; it must not grow.
ALLOWED_LOCAL_IMPORTS: dict[tuple[str, str], set[str]] = {
    ("app.cli", "cmd_serve"): {"app.demo", "app.main"},
    ("app.cli", "_serve"): {"app.partner_center.sandbox.app"},
    ("app.cli", "cmd_worker"): {"app.jobs.scheduler", "app.jobs.worker"},
    ("app.cli", "cmd_seed"): {"app.demo"},
    ("app.cli", "cmd_user_create"): {"app.accounts.service", "app.jobs.worker"},
    ("app.cli", "cmd_token_create"): {"app.auth.service"},
    ("app.cli", "cmd_pc_check"): {"app.partner_center.connection"},
}

# What the sandbox may import from outside itself: the app's foundations (time, database, settings, money,
# errors), and, frozen as they are today, a few of Cloudseat's own modules. The rules it borrows are issue 18's
# business (the sandbox should hold Microsoft's rules, not ours); the list may shrink, never grow.
SANDBOX_FOUNDATIONS = {"app.clock", "app.config", "app.db", "app.errors", "app.money"}
SANDBOX_FROZEN_EXCEPTIONS = {
    "app.accounts.address_rules",  # postal codes checked as Microsoft checks them
    "app.billing.rules",  # proration and charge arithmetic
    "app.subscriptions.rules",  # term and renewal dates
    "app.jobs.scheduler",  # moving the sandbox clock runs Cloudseat's due work (controls.py)
    "app.web.auth",  # /api/v1/sandbox is for the CSP's admins (controls.py)
    "app.web.security",  # the sandbox's pages get the app's security headers
    "app.web.schemas",  # /api/v1/sandbox bodies are decoded at the app's typed edge (schemas.py, controls.py)
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    function: str | None  # the function it is made in; None at module level
    target: str  # the app module imported
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(APP.rglob("*.py"))}


def _type_checking_only(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> Iterator[str]:
    """The app modules an import statement loads: `from app.billing import payments` is app.billing.payments,
    `from app.billing.rules import charge_from` is app.billing.rules."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
    yield from (name for name in dict.fromkeys(names) if name in MODULES)


def _imports(module: str) -> Iterator[Import]:
    """Every import of an app module the module makes when it runs (a `TYPE_CHECKING` block never runs)."""

    def walk(node: ast.AST, function: str | None) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                assert isinstance(child, ast.If)
                for other in child.orelse:
                    yield from walk_one(other, function)
            else:
                yield from walk_one(child, function)

    def walk_one(node: ast.AST, function: str | None) -> Iterator[Import]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield from (Import(module, function, target, node.lineno) for target in _targets(node, module))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from walk(node, function or node.name)
        elif isinstance(node, ast.Lambda):
            yield from walk(node, function or "<lambda>")
        else:
            yield from walk(node, function)

    yield from walk(ast.parse(MODULES[module].read_text(), str(MODULES[module])), None)


IMPORTS = [found for module in MODULES for found in _imports(module)]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for found in IMPORTS:
        if found.function is None and found.target != found.module:
            graph[found.module].add(found.target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle per strongly connected component of more than one module (Tarjan's algorithm, iterative), each
    as a path that closes on its first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return [_path(graph, component) for component in components]


def _path(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest circle through the component's first module, for the failure message."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError(f"no circle through {start}")


def test_the_reader_sees_the_apps_imports() -> None:
    """The checks below read the real source: the modules and the edges they are known to have are there."""
    graph = _graph()
    assert {"app.billing.payments", "app.billing.dunning", "app.partner_center.connection"} <= set(graph)
    assert "app.billing.dunning" in graph["app.billing.payments"]  # a payment lifts a non-payment hold
    assert "app.partner_center.connect" in graph["app.partner_center.connection"]
    assert "app.billing.stripe_gateway" in graph["app.billing.gateways"]
    assert len(IMPORTS) > 500


def test_cycles_are_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles() -> None:
    """Modules import downwards only, so any of them can be imported first and none sees another half-made. The
    circles that were (billing/dunning and payments, billing/gateways and stripe_gateway, partner_center/connect
    and connection) were broken by moving the shared piece down, not by importing inside functions."""
    circles = _cycles(_graph())
    assert circles == [], "import circles in app/: " + "; ".join(" -> ".join(circle) for circle in circles)


def test_function_local_imports_are_the_listed_ones() -> None:
    local = [found for found in IMPORTS if found.function is not None]
    unlisted = [
        f"{found.module}:{found.line} imports {found.target} inside {found.function}()"
        for found in local
        if found.target not in ALLOWED_LOCAL_IMPORTS.get((found.module, found.function or ""), set())
    ]
    assert unlisted == [], "imports of app modules inside functions (move them to the module's top): " + "; ".join(
        unlisted
    )
    assert len(local) <= sum(len(targets) for targets in ALLOWED_LOCAL_IMPORTS.values())


def test_each_function_local_import_says_why() -> None:
    silent = []
    for found in IMPORTS:
        if found.function is None:
            continue
        lines = MODULES[found.module].read_text().splitlines()
        line, above = lines[found.line - 1], lines[found.line - 2].strip()
        if "#" not in line and not above.startswith("#"):
            silent.append(f"{found.module}:{found.line}")
    assert silent == [], "function-local imports without a comment saying why: " + ", ".join(silent)


def test_the_sandbox_leans_on_no_more_of_cloudseat() -> None:
    outside = {
        found.target: f"{found.module}:{found.line}"
        for found in IMPORTS
        if found.module.startswith(SANDBOX) and not (found.target + ".").startswith(SANDBOX + ".")
    }
    grown = {
        target: where
        for target, where in outside.items()
        if target not in SANDBOX_FOUNDATIONS | SANDBOX_FROZEN_EXCEPTIONS
    }
    assert grown == {}, f"the sandbox imports more of Cloudseat than it did: {grown}"
    # the frozen list is today's: an exception no longer used comes off it, so it cannot be used again
    assert set(outside) >= SANDBOX_FROZEN_EXCEPTIONS
