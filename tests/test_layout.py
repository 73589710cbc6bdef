"""The worker's tree shows its layers, and no module imports another that imports it back."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "worker"


def _module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path, known: set[str]) -> set[str]:
    """Every worker module this file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("worker"):
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                found.add(name if name in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
    return found & known


def test_worker_modules_import_no_cycle():
    files = {_module(p): p for p in WORKER.rglob("*.py")}
    graph = {name: _imports(path, set(files)) - {name} for name, path in files.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            raise AssertionError("import cycle: " + " -> ".join(trail[trail.index(name):] + [name]))
        if name in done:
            return
        for dep in sorted(graph[name]):
            visit(dep, trail + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert len(done) >= 20  # the walk saw the whole package


def test_the_worker_tree_has_layer_folders_and_the_faces_on_top():
    layers = {p.name for p in WORKER.iterdir() if (p / "__init__.py").exists()}
    assert {"core", "text", "model", "sound", "service"} <= layers
    top = {p.name for p in WORKER.glob("*.py")}
    assert {"handler.py", "server.py", "fetch_weights.py"} <= top
    for folder in [WORKER, *(WORKER / name for name in layers)]:
        assert len(list(folder.glob("*.py"))) <= 15, folder
