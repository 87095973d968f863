"""The packages import downward, in layers, and no module imports itself through others.

    runtime            (loads and scores bundles)
    training, service  (each on runtime only)
    batch              (on runtime, and the client's resume helper)
    client             (on nothing of ours)

Every import counts, a function's late import too: the graph is read from the
source with ``ast``, so a circle fails here before anyone meets it at run time.
Bundles written by version 0.1 (before ``runtime/`` existed) still load.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.model import TopicModel
from runtime.scorer import HashedScorer, LinearScorer

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runtime", "training", "service", "batch", "client")
ALLOWED = {
    "runtime": {"runtime"},
    "training": {"runtime", "training"},
    "service": {"runtime", "service"},
    "batch": {"runtime", "batch", "client"},
    "client": {"client"},
}


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Map each first-party module to the first-party modules it imports (anywhere in its body)."""
    modules = {_module_name(p, root): p for package in PACKAGES for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # "from runtime import bundle" imports the module runtime.bundle
                targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                               for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_through_others():
    assert cycles(import_graph()) == []


def test_the_circle_check_finds_a_circle(tmp_path):
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "training" / "a.py").write_text("from training import b\n")
    (tmp_path / "training" / "b.py").write_text("def late():\n    from training.c import x\n")
    (tmp_path / "training" / "c.py").write_text("from .a import y\n")
    assert cycles(import_graph(tmp_path)) == [["training.a", "training.b", "training.c"]]


def test_each_package_imports_only_the_layers_below_it():
    wrong = [f"{module} imports {target}" for module, targets in import_graph().items()
             for target in sorted(targets) if target.split(".")[0] not in ALLOWED[module.split(".")[0]]]
    assert wrong == []


@pytest.mark.parametrize("entry, absent", [
    ("service", ["training", "batch", "matplotlib"]),
    ("batch.local", ["service", "training", "flask", "matplotlib"]),
    ("runtime.model", ["service", "training", "flask", "matplotlib"]),
    ("client", ["runtime", "numpy", "flask"]),
])
def test_importing_a_package_loads_nothing_it_does_not_need(entry, absent):
    code = f"import sys, {entry}; print(sorted(m for m in {absent!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("kind, scorer", [("streaming", HashedScorer), ("in-memory", LinearScorer)])
def test_bundles_of_version_0_1_still_load(kind, scorer):
    # Written by `python -m training.train` before runtime/ existed; the streaming one pickles
    # training.streaming.IncrementalOneVsRest, which now lives in runtime.estimators.
    model = TopicModel.load(ROOT / "tests" / "data" / "bundles-v0.1" / kind)
    assert isinstance(model.scorer, scorer)
    texts = ["Ministers agree to cut steel tariffs after talks", "The striker scored twice on Saturday"]
    expected = np.asarray(model.pipeline.predict_proba([model.compose([t], [None])[0] for t in texts]))
    np.testing.assert_allclose(model.predict_proba(texts), expected, rtol=1e-9, atol=1e-12)
    assert model.manifest["git_commit"]  # written by a committed version of the trainer
