"""Which source files a function runs (trigger_hgq.sources), on a small package written for the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from trigger_hgq.sources import SourceGraph

FILES = {
    "__init__.py": '_EXPORTS = {"thing": "pkg.lib.a"}\n\n\ndef __getattr__(name):\n    import importlib\n\n'
                   '    return getattr(importlib.import_module(_EXPORTS[name]), name)\n',
    "lib/__init__.py": '"""Re-exports only."""\nfrom pkg.lib.a import f\n\n__all__ = ["f"]\n',
    "lib/a.py": "from pkg.lib import b\n\n\ndef f():\n    return b.y\n\n\nthing = 1\n",
    "lib/b.py": "y = 2\n",
    "lib/c.py": "x = 3\n",
    "lib/d.py": "z = 4\n",
    "hub/__init__.py": "",
    "hub/config.py": "class Cfg:\n    def size(self):\n        from pkg.lib.d import z\n\n        return z\n\n"
                     "    def other(self):\n        from pkg.lib.c import x\n\n        return x\n",
    "hub/tasks.py": "def t1():\n    from pkg.lib import c\n\n    return c.x\n\n\n"
                    "def t2():\n    import pkg\n\n    return pkg.thing\n",
    "hub/run.py": "from pkg.hub import tasks\nfrom pkg.hub.config import Cfg\nfrom pkg.lib.a import f\n\n\n"
                  "class R:\n    def __init__(self, cfg: Cfg):\n        self.cfg = cfg\n\n"
                  "    def one(self):\n        return tasks.t1()\n\n"
                  "    def two(self):\n        return f() + self.cfg.size() + self.helper()\n\n"
                  "    def helper(self):\n        return 0\n",
}


@pytest.fixture
def graph(tmp_path) -> SourceGraph:
    root = tmp_path / "pkg"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return SourceGraph(root, "pkg", ("pkg.hub",))


def short(modules: set[str]) -> set[str]:
    return {m.removeprefix("pkg.") for m in modules}


def test_hub_functions_count_what_they_name(graph):
    # a task reached as ``tasks.t1``; the re-exporting lib/__init__ does not count, the top package does
    assert short(graph.modules("pkg.hub.run", "R.one")) == {"pkg", "hub.run", "hub.tasks", "lib.c"}
    # a library module counts whole (a imports b); the config object, stored by __init__ from an annotated
    # parameter, brings the methods read from it (size, not other); self.helper is in run.py itself
    assert short(graph.modules("pkg.hub.run", "R.two")) == {"pkg", "hub.run", "hub.config", "lib.a", "lib.b",
                                                            "lib.d"}


def test_lazy_name_of_the_top_package(graph):
    assert short(graph.modules("pkg.hub.tasks", "t2")) == {"pkg", "hub.tasks", "lib.a", "lib.b"}


def test_a_library_module_counts_whole(graph):
    assert short(graph.modules("pkg.lib.a")) == {"pkg", "lib.a", "lib.b"}


def test_an_init_with_code_counts(graph, tmp_path: Path):
    (tmp_path / "pkg" / "lib" / "__init__.py").write_text("from pkg.lib.a import f\n\nREGISTRY = [f]\n")
    assert short(SourceGraph(tmp_path / "pkg", "pkg", ("pkg.hub",)).modules("pkg.hub.tasks", "t1")) == {
        "pkg", "hub.tasks", "lib", "lib.a", "lib.b", "lib.c"}


def test_unknown_function(graph):
    with pytest.raises(LookupError, match="R.three"):
        graph.modules("pkg.hub.run", "R.three")
