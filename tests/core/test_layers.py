"""The floors of core/: every import statement in core/ (at module level or inside a function, read with
``ast``, nothing imported) must point down or sideways within its own package, never up, and the
import graph must have no circle.

Floors, bottom to top:
  0. base modules: core/*.py (images, assets, geometry, scenes, limits, errors, train, ...): import
     nothing from a feature package;
  1. feature packages, in this order: embeddings, vision, live, fcn, detection -- a package may import
     the base and the packages before it (fcn's DeepLab loader uses the vision zoo, live's camera modes
     use vision's attribution);
  2. the command line and what walks the whole lecture: core/cli.py, core/report.py, core/__main__.py,
     every package's cli module, core/lecture.py (the lecture path and its command) and core/questions.py
     (live questions whose answers the feature packages compute), which may import anything below.

Above core/: dashboard/ (what runs inside a page) and serving/ (process management); see the end of this file.
"""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"
FEATURES = ("embeddings", "vision", "live", "fcn", "detection")
TOP = {"core.cli", "core.report", "core.__main__", "core.lecture", "core.questions"}


def module_name(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, known: set[str]) -> set[str]:
    """The core modules ``path`` imports (``from core.x import y`` counts core.x.y when that is a module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names}
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in CORE.rglob("*.py")}
    return {name: imports(path, set(paths)) for name, path in paths.items()}


def floor(module: str) -> tuple[int, int]:
    """(floor, rank within the feature floor)."""
    parts = module.split(".")
    if module in TOP or parts[-1] in ("cli", "cli_helpers"):
        return (2, 0)
    if len(parts) > 1 and parts[1] in FEATURES:
        return (1, FEATURES.index(parts[1]))
    return (0, 0)


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, targets in edges.items() for b in targets
                  if floor(b) > floor(a) and not (floor(a)[0] == 2 and floor(b)[0] == 2))


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_core_has_no_import_circle():
    assert circles(graph()) == []


def test_no_import_runs_up_a_floor():
    assert upward(graph()) == []


def test_base_modules_import_no_feature_package():
    edges = graph()
    base = [m for m in edges if floor(m)[0] == 0]
    assert {"core.geometry", "core.scenes", "core.limits", "core.errors", "core.images"} <= set(base)
    assert [f"{a} -> {b}" for a in base for b in edges[a] if floor(b)[0] > 0] == []


def test_the_checks_catch_what_they_look_for():
    """The two checks fail on the shapes this project once had."""
    old = {"core.detection.anchors": {"core.detection.darknet"}, "core.detection.darknet": {"core.detection.yolo"},
           "core.detection.yolo": {"core.detection.anchors"}, "core.vision.synthetic": {"core.detection.boxes"},
           "core.detection.boxes": set()}
    assert circles(old) == [["core.detection.anchors", "core.detection.darknet", "core.detection.yolo"]]
    assert upward(old) == ["core.vision.synthetic -> core.detection.boxes"]
    assert upward({"core.images": {"core.vision.zoo"}, "core.vision.zoo": set()}) == ["core.images -> core.vision.zoo"]


# ----------------------------------------------------------------------------- the packages above core/
# core/ (the library) < dashboard/ (what runs inside a page) < serving/ (process management: servers, the
# classroom, the proxy config, the scripted students). dashboard/ may use serving.patches, the one module of
# Streamlit's private API, which imports nothing of this project; core/ imports neither package.
PAGE_SIDE = {"serving", "serving.patches"}  # what dashboard/ may import from serving/


def project_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for package in ("core", "dashboard", "serving") for p in (CORE.parent / package).rglob("*.py")}
    return {name: imports(path, set(paths)) for name, path in paths.items()}


def misplaced(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for a, targets in edges.items():
        for b in targets:
            top_a, top_b = a.split(".")[0], b.split(".")[0]
            if top_a == "core" and top_b != "core":
                bad.append(f"{a} -> {b}")
            elif top_a == "dashboard" and top_b == "serving" and b not in PAGE_SIDE:
                bad.append(f"{a} -> {b}")
            elif a in PAGE_SIDE and b != a:
                bad.append(f"{a} -> {b}")
    return sorted(bad)


def test_dashboard_holds_no_process_management_and_core_no_ui():
    edges = project_graph()
    assert {"serving.serve", "serving.classroom", "serving.student", "serving.health", "serving.haproxy",
            "serving.patches"} <= set(edges)
    assert not {"dashboard.serve", "dashboard.classroom", "dashboard.student"} & set(edges)
    assert misplaced(edges) == []
    assert circles(edges) == []


def test_the_package_check_catches_what_it_looks_for():
    assert misplaced({"dashboard.app": {"serving.patches"}, "serving.patches": set()}) == []
    assert misplaced({"dashboard.follow": {"serving.student"}}) == ["dashboard.follow -> serving.student"]
    assert misplaced({"serving.patches": {"dashboard.theme"}}) == ["serving.patches -> dashboard.theme"]
    assert misplaced({"core.lecture": {"dashboard.lecture"}}) == ["core.lecture -> dashboard.lecture"]
