"""Which names a `%%remote` cell reads from the notebook and which it assigns (pure `ast` analysis).

    cell source --ast--> top-level statements, walked in execution order
                           definite: names surely bound so far
                           maybe:    names bound on some path (if/for/try ...)
                         nested scopes (def, lambda, class, comprehension)
                           -> the module-level names they read

A name is *read* when the cell may read it before the cell itself binds it:
those are shipped to the cluster. Reads inside a function or lambda happen
when it is called, so they count only when the cell never binds the name.
A name read right away (not inside a def/lambda) that the cell never binds
is *required*: if the notebook lacks it too, the magic says so before
anything runs. Names bound at the cell's top level (and names functions
declare `global` and assign) are *assigned*: they come back afterwards.
"""
from __future__ import annotations

import ast
import dataclasses

_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp,
                ast.DictComp, ast.GeneratorExp)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclasses.dataclass
class CellNames:
    reads: list[str]          # may be read from the notebook before the cell binds them (first-use order)
    required: list[str]       # read right away and never bound by the cell: must exist in the notebook
    assigns: list[str]        # bound by the cell (top level, or `global` in a function), in order
    deletes: list[str]        # deleted at the cell's top level
    last_expr: bool           # the cell ends with an expression whose value is shown


def _add(seq: list, name: str) -> None:
    if name not in seq:
        seq.append(name)


# ------------------------------------------------------------ nested scopes
class _Scope:
    """What one nested scope (function, lambda, class body, comprehension) loads and binds."""

    def __init__(self, kind: str, parent: "_Scope | None"):
        self.kind = kind
        self.parent = parent
        self.loads: list[str] = []
        self.binds: set[str] = set()
        self.global_decl: set[str] = set()
        self.nonlocal_decl: set[str] = set()
        self.children: list[_Scope] = []

    def binding_scope(self) -> "_Scope":
        """Where a walrus binds: the nearest enclosing scope that is not a comprehension."""
        scope = self
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        return scope

    def module_reads(self) -> tuple[set[str], set[str], set[str]]:
        """Names read from the module scope -- (when this scope runs, later), names stored there via `global`.

        A function's body runs later (when called); a class body and a
        comprehension run where they stand, their methods later.
        """
        if self.kind == "class":
            local = self.binds
        else:
            local = (self.binds - self.global_decl) | self.nonlocal_decl
        now = {n for n in self.loads if n not in local}
        later: set[str] = set()
        stores = self.binds & self.global_decl
        for child in self.children:
            child_now, child_later, child_stores = child.module_reads()
            if self.kind != "class":
                # A function's own locals are closures for its children; a class body's are not.
                keep = lambda n, c=child: n not in local or n in c.global_decl  # noqa: E731
                child_now = {n for n in child_now if keep(n)}
                child_later = {n for n in child_later if keep(n)}
            if child.kind == "function":
                later |= child_now | child_later
            else:
                now |= child_now
                later |= child_later
            stores |= child_stores
        if self.kind == "function":
            now, later = set(), now | later
        return now, later, stores


class _ScopeWalker(ast.NodeVisitor):
    """Fills a _Scope from the nodes that belong to it, opening child scopes for nested ones."""

    def __init__(self, scope: _Scope):
        self.scope = scope

    # -- names
    def visit_Name(self, node: ast.Name):
        if isinstance(node.ctx, ast.Load):
            self.scope.loads.append(node.id)
        else:
            self.scope.binds.add(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr):
        self.visit(node.value)
        self.scope.binding_scope().binds.add(node.target.id)

    def visit_Global(self, node: ast.Global):
        self.scope.global_decl.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal):
        self.scope.nonlocal_decl.update(node.names)

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            self.scope.binds.add(alias.asname or alias.name.split(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom):
        for alias in node.names:
            if alias.name != "*":
                self.scope.binds.add(alias.asname or alias.name)

    def visit_ExceptHandler(self, node: ast.ExceptHandler):
        if node.name:
            self.scope.binds.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node):
        if node.name:
            self.scope.binds.add(node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node):
        if node.name:
            self.scope.binds.add(node.name)

    def visit_MatchMapping(self, node):
        if node.rest:
            self.scope.binds.add(node.rest)
        self.generic_visit(node)

    # -- nested scopes
    def _child(self, kind: str) -> _Scope:
        child = _Scope(kind, self.scope)
        self.scope.children.append(child)
        return child

    def _function(self, node, body):
        args = node.args
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        if not isinstance(node, ast.Lambda):
            for dec in node.decorator_list:
                self.visit(dec)
            for a in _all_args(args):
                if a.annotation is not None:
                    self.visit(a.annotation)
            if node.returns is not None:
                self.visit(node.returns)
            self.scope.binds.add(node.name)
        child = self._child("function")
        child.binds.update(a.arg for a in _all_args(args))
        walker = _ScopeWalker(child)
        for stmt in body:
            walker.visit(stmt)

    def visit_FunctionDef(self, node):
        self._function(node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._function(node, [node.body])

    def visit_ClassDef(self, node):
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        self.scope.binds.add(node.name)
        walker = _ScopeWalker(self._child("class"))
        for stmt in node.body:
            walker.visit(stmt)

    def _comprehension(self, node, parts):
        self.visit(node.generators[0].iter)          # evaluated in the enclosing scope
        walker = _ScopeWalker(self._child("comprehension"))
        for i, gen in enumerate(node.generators):
            walker.visit(gen.target)
            if i:
                walker.visit(gen.iter)
            for cond in gen.ifs:
                walker.visit(cond)
        for part in parts:
            walker.visit(part)

    def visit_ListComp(self, node):
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node):
        self._comprehension(node, [node.key, node.value])


def _all_args(args: ast.arguments):
    out = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    if args.vararg:
        out.append(args.vararg)
    if args.kwarg:
        out.append(args.kwarg)
    return out


# ------------------------------------------------------------ the cell's top level
class _Reads:
    """Reads of one piece of module-level code: right away, and deferred (inside def/lambda)."""

    def __init__(self, node: ast.AST | None):
        self.now: list[str] = []
        self.deferred: set[str] = set()
        self.binds: list[str] = []          # walrus targets, and what a def/class/import binds
        self.global_stores: set[str] = set()
        if node is None:
            return
        module = _Scope("module", None)
        _ScopeWalker(module).visit(node)
        for name in module.loads:
            _add(self.now, name)
        for child in module.children:
            now, later, stores = child.module_reads()
            self.global_stores |= stores
            self.deferred |= later
            for name in sorted(now):
                _add(self.now, name)
        self.binds = sorted(module.binds)


class _Flow:
    """Walks top-level statements in order, tracking which names are surely / possibly bound."""

    def __init__(self):
        self.definite: set[str] = set()
        self.maybe: set[str] = set()
        self.reads: list[str] = []
        self.required: list[str] = []
        self.deferred: set[str] = set()
        self.assigns: list[str] = []
        self.deletes: list[str] = []

    def copy(self) -> "_Flow":
        other = _Flow()
        other.definite, other.maybe = set(self.definite), set(self.maybe)
        other.reads, other.required, other.deferred = self.reads, self.required, self.deferred
        other.assigns, other.deletes = self.assigns, self.deletes
        return other

    # -- primitives
    def read(self, node) -> list[str]:
        r = _Reads(node)
        for name in r.now:
            if name not in self.definite:
                _add(self.reads, name)
                if name not in self.maybe and name not in r.binds:
                    _add(self.required, name)
        self.deferred |= r.deferred
        for name in sorted(r.global_stores):
            self.bind(name, definite=False)
        for name in r.binds:                     # walrus: bound once the expression ran
            self.bind(name, definite=False)
        return r.now

    def bind(self, name: str, definite: bool = True) -> None:
        _add(self.assigns, name)
        (self.definite if definite else self.maybe).add(name)

    def bind_target(self, target: ast.AST, definite: bool = True) -> None:
        """Assignment targets: names are bound, subscripts and attributes read their base."""
        if isinstance(target, ast.Name):
            self.bind(target.id, definite)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.bind_target(elt, definite)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value, definite)
        else:                                     # obj.attr = ..., obj[key] = ...
            self.read(target)

    def merge(self, branches: list["_Flow"]) -> None:
        definite = set.intersection(*(b.definite for b in branches))
        maybe = set.union(*(b.maybe | b.definite for b in branches)) - definite
        self.definite, self.maybe = definite, maybe | (self.maybe - definite)

    def block(self, body: list[ast.stmt]) -> "_Flow":
        flow = self.copy()
        for stmt in body:
            flow.stmt(stmt)
        return flow

    # -- statements
    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            self.read(node.value)
            for target in node.targets:
                self.bind_target(target)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                self.read(ast.Name(node.target.id, ast.Load()))
            self.read(node.value)
            self.bind_target(node.target)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.read(node.value)
                self.read(node.annotation)
                self.bind_target(node.target)
            elif not isinstance(node.target, ast.Name):
                self.read(node.target)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            reads = _Reads(node)
            for name in reads.now:
                if name not in self.definite:
                    _add(self.reads, name)
                    if name not in self.maybe and name not in reads.binds:
                        _add(self.required, name)
            self.deferred |= reads.deferred
            for name in sorted(reads.global_stores):
                self.bind(name, definite=False)
            for name in reads.binds:
                self.bind(name)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.read(ast.Name(target.id, ast.Load()))
                    self.definite.discard(target.id)
                    self.maybe.discard(target.id)
                    _add(self.deletes, target.id)
                else:
                    self.read(target)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.read(node.iter)
            body = self.copy()
            body.bind_target(node.target)
            for stmt in node.body:
                body.stmt(stmt)
            self.merge([self.copy(), body])
            self.merge([self.copy(), self.block(node.orelse)])
        elif isinstance(node, ast.While):
            self.read(node.test)
            self.merge([self.copy(), self.block(node.body)])
            self.merge([self.copy(), self.block(node.orelse)])
        elif isinstance(node, ast.If):
            self.read(node.test)
            self.merge([self.block(node.body), self.block(node.orelse)])
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.read(item.context_expr)
                if item.optional_vars is not None:
                    self.bind_target(item.optional_vars)
            for stmt in node.body:
                self.stmt(stmt)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            branches = [self.block(node.body + node.orelse)]
            for handler in node.handlers:
                if handler.type is not None:
                    self.read(handler.type)
                flow = self.copy()
                if handler.name:
                    flow.bind(handler.name, definite=False)
                for stmt in handler.body:
                    flow.stmt(stmt)
                branches.append(flow)
            self.merge(branches)
            for stmt in node.finalbody:
                self.stmt(stmt)
        elif isinstance(node, ast.Match):
            self.read(node.subject)
            branches = [self.copy()]
            for case in node.match_cases:
                flow = self.copy()
                pattern_names = _Reads(case.pattern)
                for name in pattern_names.now:    # value patterns such as Color.RED read names
                    if name not in flow.definite:
                        _add(flow.reads, name)
                for name in _pattern_binds(case.pattern):
                    flow.bind(name, definite=False)
                if case.guard is not None:
                    flow.read(case.guard)
                for stmt in case.body:
                    flow.stmt(stmt)
                branches.append(flow)
            self.merge(branches)
        elif isinstance(node, (ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)):
            pass
        else:                                     # Expr, Assert, Raise, Return ...
            self.read(node)


def _pattern_binds(pattern) -> list[str]:
    names = []
    for node in ast.walk(pattern):
        name = getattr(node, "name", None) if isinstance(node, (ast.MatchAs, ast.MatchStar)) else None
        if isinstance(node, ast.MatchMapping):
            name = node.rest
        if name:
            names.append(name)
    return names


def analyze(source: str) -> CellNames:
    """The names `source` (a cell's Python code) reads and assigns. Raises SyntaxError."""
    tree = ast.parse(source)
    flow = _Flow()
    for stmt in tree.body:
        flow.stmt(stmt)
    # Functions and lambdas read their globals when called: names the cell surely binds are
    # there by then (unless called before the binding, which fails locally just the same).
    for name in sorted(flow.deferred):
        if name not in flow.definite:
            _add(flow.reads, name)
    last_expr = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
    return CellNames(reads=flow.reads, required=flow.required, assigns=flow.assigns, deletes=flow.deletes,
                     last_expr=last_expr)
