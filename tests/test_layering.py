"""The package's layering rule (docs/design.md): a lower subpackage never imports a higher one."""

import ast
from pathlib import Path

import keraslab

PACKAGE = Path(keraslab.__file__).parent
# What each part of keraslab may import from keraslab itself.
ALLOWED = {
    "errors": set(),
    "files": set(),
    "data": {"errors", "data"},
    "layers": {"layers"},
    "models": {"layers", "models"},
    "training": {"errors", "files", "layers", "models", "training"},
    "analysis": {"errors", "layers", "models", "analysis"},
    "export": {"errors", "files", "export"},
    "evaluation": {"errors", "data", "layers", "models", "training", "analysis", "evaluation"},
    "zoo": {
        "errors",
        "files",
        "data",
        "layers",
        "models",
        "training",
        "evaluation",
        "export",
        "zoo",
    },
    "cli": {
        "errors",
        "files",
        "data",
        "layers",
        "models",
        "training",
        "analysis",
        "evaluation",
        "export",
        "zoo",
        "cli",
    },
}


def keraslab_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "keraslab" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_lower_layers_never_import_higher_ones():
    violations = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        part = rel.parts[0].removesuffix(".py")
        if part == "__init__":
            continue
        bad = keraslab_imports(path) - ALLOWED[part] - {"__version__"}
        violations += [f"{rel} imports keraslab.{b}" for b in sorted(bad)]
    assert violations == []


def test_bare_import_gives_lazy_subpackages():
    assert [e.name for e in keraslab.zoo.list()][:1] == ["lenet"]
    assert "zoo" in dir(keraslab)
