"""Which trigger_hgq source files a function runs, read from the imports in the sources (nothing is imported).

Two kinds of module are read differently:

- a *library* module counts whole: its file and, transitively, every trigger_hgq module it imports (at the top or
  inside a function);
- a module of a *hub* package (``trigger_hgq.pipeline``, whose modules serve every stage) counts per function: a
  function brings its module's file and what its body names: module-level imports, functions and classes of its
  module, ``module.function`` of another hub module, ``self.method`` of its class and the values ``__init__``
  stores in ``self.attr``. A hub class brings its body but its methods, and each method whose name the walked
  code reads as an attribute (``cfg.section``: ``section`` of every hub class reached).

Importing a submodule runs its packages' ``__init__`` files: an ``__init__`` that only re-exports names (imports,
``__all__``, a docstring) is skipped, any other counts, and one that lists its package at run time
(``pkgutil.iter_modules``) brings every module of the package. The top package's ``__init__`` counts for every
function; its lazy names (``trigger_hgq.NAME``, ``from trigger_hgq import NAME``) bring the module they name.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import NamedTuple

import trigger_hgq

PACKAGE = trigger_hgq.__name__
ROOT = Path(trigger_hgq.__file__).resolve().parent
HUBS = (f"{PACKAGE}.pipeline",)


class SourceGraph:
    """The import graph of the ``package`` sources under ``root``; ``hubs``: packages read per function."""

    def __init__(self, root: Path = ROOT, package: str = PACKAGE, hubs: tuple[str, ...] = HUBS):
        self.root = Path(root)
        self.package = package
        self.hubs = hubs
        self._trees: dict[str, ast.Module] = {}
        self._imports: dict[str, list[tuple[str, str | None]]] = {}
        self._bindings: dict[str, dict[str, tuple[str, str | None]]] = {}

    # ------------------------------------------------------------------------------------ files and trees
    def file(self, module: str) -> Path | None:
        """The source file of ``module`` (a package's ``__init__.py``), or None when it is not in the tree."""
        if module != self.package and not module.startswith(self.package + "."):
            return None
        parts = module.split(".")[1:]
        base = self.root.joinpath(*parts)
        for f in (base / "__init__.py", base.with_suffix(".py")):
            if f.is_file():
                return f
        return None

    def tree(self, module: str) -> ast.Module:
        """The parsed source of ``module`` (parsed once per graph)."""
        if module not in self._trees:
            self._trees[module] = ast.parse(self.file(module).read_text(), filename=str(self.file(module)))
        return self._trees[module]

    def is_package(self, module: str) -> bool:
        return self.file(module).name == "__init__.py"

    def is_hub(self, module: str) -> bool:
        return any(module == h or module.startswith(h + ".") for h in self.hubs) and not self.is_package(module)

    # ------------------------------------------------------------------------------------ imports
    def target(self, node: ast.Import | ast.ImportFrom, alias: ast.alias, module: str) -> tuple[str, str | None] | None:
        """The ``(module, name)`` one name of an import statement in ``module`` reads (``name`` None: the module
        itself), or None for an import from outside the package."""
        if isinstance(node, ast.Import):
            return (alias.name, None) if self.file(alias.name) is not None else None
        base = node.module or ""
        if node.level:
            anchor = module.split(".")
            anchor = anchor[:len(anchor) - node.level + (1 if self.is_package(module) else 0)]
            base = ".".join([*anchor, *([base] if base else [])])
        if self.file(base) is None:
            return None
        return (f"{base}.{alias.name}", None) if self.file(f"{base}.{alias.name}") is not None else (base, alias.name)

    def targets(self, node: ast.Import | ast.ImportFrom, module: str) -> list[tuple[str, str | None]]:
        """What an import statement in ``module`` reads from the package."""
        return [t for a in node.names if (t := self.target(node, a, module)) is not None]

    def bindings(self, module: str) -> dict[str, tuple[str, str | None]]:
        """The names the top-level imports of ``module`` bind, with what each reads."""
        if module in self._bindings:
            return self._bindings[module]
        out = self._bindings[module] = {}
        for node in self.tree(module).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    target = self.target(node, alias, module)
                    if target is None:
                        continue
                    if isinstance(node, ast.Import) and alias.asname is None and "." in alias.name:
                        continue  # ``import pkg.sub``: see ``dotted_imports``
                    out[alias.asname or alias.name] = target
        return out

    def dotted_imports(self, module: str) -> list[tuple[str, str | None]]:
        """The modules of the top-level ``import pkg.sub`` statements of ``module`` (they bind ``pkg``; a hub
        function that could read them through it counts them all)."""
        return [(a.name, None) for node in self.tree(module).body if isinstance(node, ast.Import)
                for a in node.names if a.asname is None and "." in a.name and self.file(a.name) is not None]

    def imports(self, module: str) -> list[tuple[str, str | None]]:
        """Everything ``module`` imports from the package, anywhere in it; a package ``__init__`` that lists its
        modules at run time (``pkgutil.iter_modules``) imports all of them."""
        if module not in self._imports:
            out = self._imports[module] = []
            for node in ast.walk(self.tree(module)):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    out += self.targets(node, module)
                elif isinstance(node, ast.Attribute) and node.attr == "iter_modules" and self.is_package(module):
                    out += [(f"{module}.{f.stem}", None) for f in sorted(self.file(module).parent.glob("*.py"))
                            if f.stem != "__init__"]
        return self._imports[module]

    def top_reads(self, module: str) -> set[str]:
        """The names ``module`` reads as ``<package>.NAME`` (after ``import <package>``)."""
        return {n.attr for n in ast.walk(self.tree(module)) if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name) and n.value.id == self.package}

    def lazy(self, name: str) -> list[tuple[str, str | None]]:
        """What reading the top package's lazy name ``name`` imports: the module a top-level ``{name: module}``
        table names, or the imports of the function ``name`` (any other name: those of ``__getattr__``)."""
        tree = self.tree(self.package)
        for node in tree.body:
            value = getattr(node, "value", None)
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(value, ast.Dict):
                for k, v in zip(value.keys, value.values, strict=True):
                    if _text(k) == name and _text(v) is not None and self.file(_text(v)) is not None:
                        return [(_text(v), name)]
        fn = _find(tree, name) or _find(tree, "__getattr__")
        if fn is None:
            return []
        out = []
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                out += self.targets(node, self.package)
            elif isinstance(node, ast.Call) and node.args and self.file(_text(node.args[0]) or "") is not None:
                out.append((_text(node.args[0]), None))  # import_module("trigger_hgq.layers")
        return out

    def reexports_only(self, module: str) -> bool:
        for node in self.tree(module).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            dunder_all = isinstance(node, (ast.Assign, ast.AnnAssign)) and "__all__" in ast.unparse(node)
            if not (isinstance(node, (ast.Import, ast.ImportFrom)) or docstring or dunder_all):
                return False
        return True

    # ------------------------------------------------------------------------------------ the walk
    def modules(self, module: str, qualname: str | None = None) -> set[str]:
        """The modules the function (or class) ``module.qualname`` runs; ``qualname`` None: the whole module."""
        if qualname is not None and _find(self.tree(module), qualname) is None:
            raise LookupError(f"{module} has no function or class {qualname!r}")
        walk = _Walk(self)
        walk.module(self.package)
        walk.reference(module, qualname)
        return walk.seen


class _Walk:
    def __init__(self, graph: SourceGraph):
        self.g = graph
        self.seen: set[str] = set()
        self.functions: set[tuple[str, str]] = set()
        self.live: list[tuple[str, ast.ClassDef]] = []
        self.attrs: set[str] = set()

    def reference(self, module: str, name: str | None) -> None:
        """What reading ``name`` from ``module`` runs."""
        if self.g.is_hub(module):
            if name is not None and _find(self.g.tree(module), name) is not None:
                self.function(module, name)
        else:
            self.module(module)
            if module == self.g.package and name is not None:
                self.lazy(name)

    def packages_of(self, module: str) -> None:
        parts = module.split(".")
        for i in range(2, len(parts)):
            pkg = ".".join(parts[:i])
            if not self.g.reexports_only(pkg):
                self.module(pkg)

    def module(self, module: str) -> None:
        if module in self.seen:
            return
        self.seen.add(module)
        self.packages_of(module)
        if module == self.g.package:
            return  # its lazy names import nothing until read (see ``lazy``)
        for target in self.g.imports(module):
            self.reference(*target) if self.g.is_hub(target[0]) or target[0] == self.g.package else \
                self.module(target[0])
        for name in self.g.top_reads(module):
            self.lazy(name)

    def lazy(self, name: str) -> None:
        for target in self.g.lazy(name):
            self.reference(*target)

    def function(self, module: str, qualname: str) -> None:
        """What the ``def`` or ``class`` ``module.qualname`` runs (a class: all of its body)."""
        if (module, qualname) in self.functions:
            return
        self.functions.add((module, qualname))
        self.seen.add(module)
        self.packages_of(module)
        tree = self.g.tree(module)
        cls = _find(tree, qualname.split(".")[0]) if "." in qualname else None
        for target in self.g.dotted_imports(module):
            self.reference(*target)
        scope = _Scope(module, self.g.bindings(module), {n.name for n in tree.body if isinstance(n, _DEFS)}, cls)
        node = _find(tree, qualname)
        if not isinstance(node, ast.ClassDef):
            self.body(scope, node)
            return
        # a class: its body but the methods, and those of its methods whose names the walked code reads
        scope = scope._replace(cls=node)
        for part in node.body:
            if not isinstance(part, (ast.FunctionDef, ast.AsyncFunctionDef)) or part.name.startswith("__"):
                self.body(scope, part)
        for part in (*node.decorator_list, *node.bases):
            self.body(scope, part)
        self.live.append((module, node))
        for attr in sorted(self.attrs):
            self.method(attr)

    def method(self, attr: str) -> None:
        """The methods named ``attr`` of the classes reached so far (``obj.attr`` on an object of any of them)."""
        for module, cls in self.live:
            if isinstance(_find(cls, attr), (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function(module, f"{cls.name}.{attr}")

    def body(self, scope: _Scope, node: ast.AST) -> None:
        """What the names read in ``node`` (a function, class or expression of ``scope.module``) run."""
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Import, ast.ImportFrom)):
                for target in self.g.targets(sub, scope.module):
                    self.reference(*target)
            elif isinstance(sub, ast.Name):
                if sub.id in scope.top:
                    self.function(scope.module, sub.id)
                elif sub.id in scope.bindings:
                    self.reference(*scope.bindings[sub.id])
            if isinstance(sub, ast.Attribute) and sub.attr not in self.attrs:
                self.attrs.add(sub.attr)
                self.method(sub.attr)
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                bound = scope.bindings.get(sub.value.id)
                if sub.value.id == self.g.package:
                    self.reference(self.g.package, sub.attr)  # ``trigger_hgq.custom_objects``
                elif bound is not None and bound[1] is None and self.g.is_hub(bound[0]):
                    self.reference(bound[0], sub.attr)  # ``tasks.export_task``
                elif sub.value.id == "self" and scope.cls is not None:
                    if _find(scope.cls, sub.attr) is not None:
                        self.function(scope.module, f"{scope.cls.name}.{sub.attr}")
                    else:
                        self.stored(scope, sub.attr)

    def stored(self, scope: _Scope, attr: str) -> None:
        """What ``__init__`` stores in ``self.attr``: the names in the value and, for a parameter, its annotation."""
        init = _find(scope.cls, "__init__")
        if init is None or (scope.module, f"{scope.cls.name}.{attr}") in self.functions:
            return
        self.functions.add((scope.module, f"{scope.cls.name}.{attr}"))
        params = {a.arg: a.annotation for a in [*init.args.args, *init.args.kwonlyargs] if a.annotation}
        plain = scope._replace(cls=None)
        for sub in ast.walk(init):
            if isinstance(sub, (ast.Assign, ast.AnnAssign)) and sub.value is not None and any(
                    isinstance(t, ast.Attribute) and t.attr == attr and isinstance(t.value, ast.Name)
                    and t.value.id == "self" for t in getattr(sub, "targets", [getattr(sub, "target", None)])):
                self.body(plain, sub.value)
                for name in ast.walk(sub.value):
                    if isinstance(name, ast.Name) and name.id in params:
                        self.body(plain, params[name.id])


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class _Scope(NamedTuple):
    """Where a hub function's names are looked up: its module's imports and top-level defs, and its class."""

    module: str
    bindings: dict[str, tuple[str, str | None]]
    top: set[str]
    cls: ast.ClassDef | None


def _find(scope: ast.AST, qualname: str) -> ast.AST | None:
    """The ``def`` or ``class`` named by a dotted ``qualname`` directly inside ``scope``."""
    node = scope
    for part in qualname.split("."):
        node = next((n for n in getattr(node, "body", []) if isinstance(n, _DEFS) and n.name == part), None)
        if node is None:
            return None
    return node


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def digest(graph: SourceGraph, modules: set[str]) -> str:
    """SHA-256 (hex, 12 characters) of the modules' names and source bytes."""
    h = hashlib.sha256()
    for module in sorted(modules):
        h.update(module.encode())
        h.update(graph.file(module).read_bytes())
    return h.hexdigest()[:12]
