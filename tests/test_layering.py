"""The package's layering rule (docs/design.md): a lower subpackage never imports a higher one,
and no two modules import each other, directly or through others."""

import ast
from pathlib import Path

import keraslab

PACKAGE = Path(keraslab.__file__).parent
# What each part of keraslab may import from keraslab itself.
ALLOWED = {
    "errors": set(),
    "files": set(),
    "ops": {"errors", "ops"},
    "data": {"errors", "data"},
    "layers": {"layers"},
    "models": {"layers", "models"},
    "training": {"errors", "files", "ops", "layers", "models", "training"},
    "analysis": {"errors", "ops", "layers", "models", "analysis"},
    "export": {"errors", "files", "export"},
    "evaluation": {"errors", "ops", "data", "layers", "models", "training", "analysis"}
    | {"evaluation"},
    "zoo": {"errors", "files", "data", "layers", "models", "training", "evaluation", "export"}
    | {"zoo"},
    "serving": {"errors", "files", "export", "serving"},
    "cli": {"errors", "files", "ops", "data", "layers", "models", "training", "analysis"}
    | {"evaluation", "export", "zoo", "serving", "cli"},
}


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root``: dotted name → file (``__init__.py`` is the
    package itself)."""
    names = {}
    for path in root.rglob("*.py"):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` imports anywhere in its file (inside functions
    too), relative imports resolved. ``from p import name`` is an edge to ``p.name`` when that
    is a module, else to the package ``p``; the parent packages Python initializes on the way
    are not edges (they are already being imported when one of their modules runs)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return (found & known) - {module}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """module → the package's modules it imports."""
    names = module_names(root, package)
    return {m: imported_modules(m, p, set(names)) for m, p in names.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan 1972), each sorted:
    every module in one can reach every other through imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def test_lower_layers_never_import_higher_ones():
    violations = []
    for module, imports in import_graph(PACKAGE, "keraslab").items():
        if module == "keraslab":
            continue
        part = module.split(".")[1]
        bad = {m.split(".")[1] for m in imports if m != "keraslab"} - ALLOWED[part]
        violations += [f"{module} imports keraslab.{b}" for b in sorted(bad)]
    assert violations == []


def test_no_import_cycles_between_modules():
    graph = import_graph(PACKAGE, "keraslab")
    # The graph is real: the registry imports the penalties, they import the base class.
    assert "keraslab.training.jacobian" in graph["keraslab.training.penalties"]
    assert graph["keraslab.training.jacobian"] >= {"keraslab.training.penalty"}
    assert import_cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}) == [
        ["a", "b", "c"]
    ]
    assert import_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [
        ["a", "b"],
        ["c", "d"],
    ]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_import_graph_sees_imports_inside_functions_and_relative_ones(tmp_path):
    # penalties.py's old shape: a registry importing inside a function what imports it back.
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("from pkg.sub.base import Base\n")
    (root / "sub" / "base.py").write_text(
        "class Base: ...\n\ndef factories():\n    from . import concrete\n    return concrete\n"
    )
    (root / "sub" / "concrete.py").write_text("from .base import Base\nfrom .. import other\n")
    (root / "other.py").write_text("import os\nfrom pkg import sub\n")
    graph = import_graph(root, "pkg")
    assert graph == {
        "pkg": set(),
        "pkg.other": {"pkg.sub"},
        "pkg.sub": {"pkg.sub.base"},
        "pkg.sub.base": {"pkg.sub.concrete"},
        "pkg.sub.concrete": {"pkg.sub.base", "pkg.other"},
    }
    assert import_cycles(graph) == [["pkg.other", "pkg.sub", "pkg.sub.base", "pkg.sub.concrete"]]


def test_bare_import_gives_lazy_subpackages():
    assert [e.name for e in keraslab.zoo.list()][:1] == ["lenet"]
    assert "zoo" in dir(keraslab)
