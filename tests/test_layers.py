"""The layer rule of the README's architecture section, checked on the source (``ast``, no imports run):
every ``nmcluster`` import, at module level or inside a function, and under ``TYPE_CHECKING`` too,
points to the same layer or one below, and no import cycle spans several modules outside the emulator
backends (which, like PyNN's own backends, are one package whose modules refer to each other).

    0  shared infrastructure: errors, identity, config (+ station files), command, infra (Slurm CLI, locks)
    1  hwdrivers, emulators
    2  calib (store, formats, measurement code)
    3  partitions
    4  executors (+ the job runner they start)
    5  jobs, accounting (collabs and quotas on Slurm's accounting database)
    6  cli, client, remote, compat, plotting, modules, benchmarks, calib.runs (runs calibrations)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "nmcluster"

#: most specific prefix wins
LAYERS: dict[str, int] = {
    "nmcluster": 0, "nmcluster.errors": 0, "nmcluster.config": 0, "nmcluster.stationfiles": 0,
    "nmcluster.command": 0, "nmcluster.infra": 0, "nmcluster._pynn_alias": 0, "nmcluster.identity": 0,
    "nmcluster.slurmopts": 0, "nmcluster._compat_names": 0,
    "nmcluster.hwdrivers": 1, "nmcluster.emulators": 1,
    "nmcluster.calib": 2,
    "nmcluster.partitions": 3,
    "nmcluster.executors": 4,
    "nmcluster.jobs": 5, "nmcluster.accounting": 5,
    "nmcluster.cli": 6, "nmcluster.client": 6, "nmcluster.remote": 6, "nmcluster.compat": 6,
    "nmcluster.plotting": 6, "nmcluster.modules": 6, "nmcluster.calib.runs": 6, "nmcluster.benchmarks": 6,
    "nmcluster.server": 6,
}
#: cycles inside these packages are allowed (the PyNN backends' modules import each other)
CYCLES_ALLOWED_IN = ("nmcluster.emulators.",)


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _known(name: str, mods: dict[str, Path]) -> str:
    while name not in mods and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def import_graph() -> dict[str, set[str]]:
    """module -> the nmcluster modules it imports (``from a.b import c`` counts a.b.c when that is a
    module, else a.b; the package ``__init__`` of a plain ``import a.b`` is not counted twice)."""
    mods = modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets: set[str] = set()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(_known(a.name, mods) for a in node.names if a.name.startswith("nmcluster"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if mod.startswith("nmcluster"):
                    for a in node.names:
                        full = f"{mod}.{a.name}"
                        targets.add(full if full in mods else _known(mod, mods))
        targets.discard(name)
        graph[name] = targets
    return graph


def layer(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def test_every_module_has_a_layer():
    assert all(layer(m) >= 0 for m in modules())


def test_imports_point_down():
    upward = sorted(f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
                    for m, ts in import_graph().items() for t in ts if layer(t) > layer(m))
    assert upward == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iteratively (the graph has a few hundred nodes)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
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
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycle_outside_the_emulator_backends():
    cycles = [c for c in strongly_connected(import_graph())
              if not all(m.startswith(CYCLES_ALLOWED_IN) for m in c)]
    assert cycles == []


def test_the_checker_sees_upward_imports_and_cycles():
    """The checker itself: an upward import and a two-module cycle in a made-up graph are found."""
    graph = {"nmcluster.config": {"nmcluster.jobs.spec"}, "nmcluster.jobs.spec": {"nmcluster.config"},
             "nmcluster.emulators.a": {"nmcluster.emulators.b"}, "nmcluster.emulators.b": {"nmcluster.emulators.a"}}
    assert layer("nmcluster.config") < layer("nmcluster.jobs.spec")
    assert layer("nmcluster.calib.runs") == 6 and layer("nmcluster.calib.store") == 2
    assert strongly_connected(graph) == [["nmcluster.config", "nmcluster.jobs.spec"],
                                         ["nmcluster.emulators.a", "nmcluster.emulators.b"]]
