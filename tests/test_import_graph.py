"""The package's import graph: no cycles, and the layering the architecture promises."""
import ast
import os

import bmtrace

ROOT = os.path.dirname(bmtrace.__file__)


def _modules():
    mods = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = "bmtrace." + os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
                mods[dotted[:-len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return mods


def _imports(mods):
    """Every bmtrace module each module imports, at any depth of its code (lazy imports too)."""
    graph = {}
    for mod, path in mods.items():
        package = mod if path.endswith("__init__.py") else mod.rsplit(".", 1)[0]
        targets = set()
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
                for alias in node.names:
                    full = base + "." + alias.name
                    targets.add(full if full in mods else base)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[mod] = {t for t in targets if t in mods and t != mod}
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_inside_bmtrace():
    """No module of bmtrace imports, directly or through others, a module that imports it back."""
    assert _cycles(_imports(_modules())) == []


def test_results_and_renderers_are_layered():
    """Results import no renderer; renderers import no diff machinery; the reader never imports the index."""
    graph = _imports(_modules())
    for mod, targets in graph.items():
        if mod.startswith(("bmtrace.diff", "bmtrace.compare")):
            assert not any(t.startswith("bmtrace.report") for t in targets), (mod, targets)
        if mod.startswith("bmtrace.report"):
            assert not any(t.startswith("bmtrace.diff") for t in targets), (mod, targets)
    assert "bmtrace.store.index" not in graph["bmtrace.store.reader"]
