"""The package's import layers, read from the source with `ast` (nothing is imported).

    strato._context              a leaf: imports nothing of strato
    strato.runtime.*, strato.util.*, handles   read the current worker from strato._context
    strato.api (and strato/__init__, which re-exports it)   registers with strato._context

Every import counts: at module level or inside a function (a function-level
import still closes a cycle, it only postpones it), except those under
`if TYPE_CHECKING:`.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

import strato
from strato import _context

PACKAGE = pathlib.Path(strato.__file__).parent


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_nodes(tree) -> set:
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def imported_names(name: str) -> set[str]:
    """Dotted names `name` imports: `import a.b` -> a.b; `from a import b` -> a.b if that is a
    module of strato, else a. Relative imports are resolved."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skip = _type_checking_nodes(tree)
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in MODULES else base)
    return out


def strato_imports(name: str) -> set[str]:
    """The modules of strato that importing `name` runs: each target, and the packages above it
    (their __init__ runs first), but not the root package `strato` nor `name`'s own packages."""
    own = {name.rsplit(".", i)[0] for i in range(name.count(".") + 1)}
    out = set()
    for target in imported_names(name):
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        while target and target != "strato":
            if target not in own:
                out.add(target)
            target = target.rpartition(".")[0]
    return out


def test_the_context_module_is_a_leaf():
    found = {t for t in imported_names("strato._context") if t == "strato" or t.startswith("strato.")}
    assert not found, f"strato/_context.py must import nothing of strato, imports {sorted(found)}"


def _reaches_public_api(target: str) -> bool:
    # strato/__init__ is the public API re-exported, so `import strato` / `from strato import get`
    # reach up as much as `from strato import api` does; `from strato import exceptions` does not
    return target in ("strato", "strato.api") or target.startswith("strato.api.")


@pytest.mark.parametrize("layer", ["strato.runtime", "strato.util"])
def test_runtime_and_util_never_import_the_public_api(layer):
    offenders = {name: sorted(t for t in imported_names(name) if _reaches_public_api(t))
                 for name in MODULES if name == layer or name.startswith(layer + ".")}
    offenders = {name: targets for name, targets in offenders.items() if targets}
    assert not offenders, (f"modules under {layer} import the public API ({offenders}); read the current "
                           f"worker from strato._context instead")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    for root in graph:
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
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_strato_modules():
    """The root package is left out: every import runs strato/__init__ first, by Python's design."""
    graph = {name: strato_imports(name) for name in MODULES}
    assert _cycles(graph) == [], "import cycles among strato's modules (function-level imports included)"


def test_api_registers_init_as_the_auto_init_hook():
    from strato import api
    assert _context._auto_init_hook is api.init


def test_require_worker_says_to_call_init_first(monkeypatch):
    from strato.util import list_named_actors
    monkeypatch.setattr(_context, "_worker", None)
    with pytest.raises(RuntimeError, match=r"strato\.util\.list_named_actors\(\) needs a cluster: "
                                           r"call strato\.init\(\) first"):
        list_named_actors()
    assert not strato.is_initialized()


def test_auto_init_runs_the_hook_once_and_returns_the_worker_it_set(monkeypatch):
    worker, calls = object(), []

    def hook():
        calls.append(1)
        _context.set_worker(worker)

    monkeypatch.setattr(_context, "_worker", None)
    monkeypatch.setattr(_context, "_auto_init_hook", hook)
    assert _context.auto_init() is worker
    assert _context.auto_init() is worker
    assert calls == [1]
    assert strato.is_initialized()
