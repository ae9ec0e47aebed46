"""The sandbox package and the CLI sit in no import cycle (grimp's graph, function-level imports included).

A cycle here once read: ``backend.cli.registry`` -> ``gateway.cli`` ->
``backend.cli.main`` -> ``backend.cli.registry``; and ``backend.tools.sandbox``
-> ``backend.tools.sandboxed_executor`` -> ``backend.tools.sandbox``.
"""

from __future__ import annotations

import grimp
import pytest

ROOTS = ("backend", "gateway", "app")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*ROOTS, cache_dir=None)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every group of this project's modules that import each other in a ring (Tarjan's algorithm)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in ROOTS)
    known = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & known) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(edges[target])))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                ring = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    ring.append(member)
                    if member == node:
                        break
                if len(ring) > 1:
                    cycles.append(sorted(ring))
    return cycles


def test_the_cycle_finder_finds_a_ring() -> None:
    ring = grimp.ImportGraph()
    for name in ("backend.a", "backend.b", "backend.c", "backend.d"):
        ring.add_module(name)
    ring.add_import(importer="backend.a", imported="backend.b")
    ring.add_import(importer="backend.b", imported="backend.c")
    ring.add_import(importer="backend.c", imported="backend.a")
    ring.add_import(importer="backend.c", imported="backend.d")
    assert import_cycles(ring) == [["backend.a", "backend.b", "backend.c"]]


@pytest.mark.parametrize("package", ["backend.sandbox", "backend.cli"])
def test_no_import_cycle_runs_through(graph: grimp.ImportGraph, package: str) -> None:
    touching = [ring for ring in import_cycles(graph)
                if any(m == package or m.startswith(package + ".") for m in ring)]
    assert touching == [], f"{package} is in an import cycle: {touching}"


def test_backend_never_imports_gateway_or_the_desk(graph: grimp.ImportGraph) -> None:
    # gateway and app import backend; backend finds their commands as entry points instead.
    back = sorted((d["importer"], d["imported"]) for d in graph.find_matching_direct_imports(
        import_expression="backend.** -> gateway.**") + graph.find_matching_direct_imports(
        import_expression="backend.** -> app.**"))
    assert back == []


def test_the_sandbox_imports_nothing_above_it(graph: grimp.ImportGraph) -> None:
    above = ("backend.pipeline", "backend.supervisor", "backend.apps", "backend.cli", "gateway", "app")
    found = sorted((d["importer"], d["imported"])
                   for target in above
                   for d in graph.find_matching_direct_imports(import_expression=f"backend.sandbox.** -> {target}.**"))
    assert found == []


def test_the_sandbox_is_one_package(graph: grimp.ImportGraph) -> None:
    modules = graph.find_descendants("backend.sandbox")
    for name in ("executor", "factory", "in_process", "process", "docker_backend", "kubernetes_backend",
                 "isolation", "staging", "runner", "outcome", "probe", "floor", "settings_store"):
        assert f"backend.sandbox.{name}" in modules
    assert not {m for m in graph.modules if m.startswith("backend.tools")}
    assert "backend.supervisor.sandbox_settings" not in graph.modules
