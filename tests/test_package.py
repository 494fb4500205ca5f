"""The package's promises: `import lrlab` does no work, and every advertised module exists."""

import subprocess
import sys

import pytest

import lrlab


def test_import_lrlab_does_not_import_torch():
    code = "import sys, lrlab; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", lrlab._SUBMODULES)
def test_every_listed_submodule_loads_on_first_use(name):
    assert getattr(lrlab, name).__name__ == f"lrlab.{name}"


def test_unknown_attributes_raise_attribute_error():
    # A made-up name: a planned module (lrlab.sensitivity ...) would make this test fail the
    # day it lands.
    with pytest.raises(AttributeError, match="no attribute 'no_such_module'"):
        lrlab.no_such_module  # noqa: B018


def _imports_of_every_module():
    """{module: [(imported module, imported name or None), ...]} over every lrlab source file,
    imports inside functions included (a lazy import still makes a circle)."""
    import ast
    from pathlib import Path

    root = Path(lrlab.__file__).parent
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        imports = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imports += [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imports += [(node.module, alias.name) for alias in node.names]
        found[name] = [(m, n) for m, n in imports if m == "lrlab" or m.startswith("lrlab.")]
    return found


def test_no_module_imports_another_modules_private_names():
    """Private helpers stay in their module: sharing one means making it public (or moving
    it into the private modules lrlab._check and lrlab._io, which exist to be shared)."""
    offences = [
        f"{module}: from {source} import {name}"
        for module, imports in _imports_of_every_module().items()
        for source, name in imports
        if name and name.startswith("_") and source != "lrlab"
    ]
    assert offences == []


def test_there_is_no_import_circle():
    """Follow every import between lrlab's modules (a `from lrlab import x` of a submodule x
    counts as importing it); the graph must have no cycle."""
    modules = _imports_of_every_module()
    graph = {}
    for module, imports in modules.items():
        targets = set()
        for source, name in imports:
            if name and f"{source}.{name}" in modules:  # `from package import submodule`
                targets.add(f"{source}.{name}")
            elif source != "lrlab" and not _under(module, source):  # a package's own
                targets.add(source)  # __init__, seen from inside the package, is no edge
        graph[module] = targets & set(modules)
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                raise AssertionError(" -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


#: The package's top floors: the experiments wing stands on the tools, the faces (the
#: command line, lrlab reproduce, the classroom helpers) on everything.
WING = "lrlab.experiments"
FACES = ("lrlab.cli", "lrlab.reproduce", "lrlab.classroom")


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_tools_never_import_the_experiments_wing_or_the_faces():
    """Imports run downward only: a tool (schedules, curvature, fit ...) importing an
    experiment or the CLI would be an upward arrow, and experiments importing the CLI too."""
    offences = []
    for module, imports in _imports_of_every_module().items():
        targets = {
            f"{source}.{name}" if source == "lrlab" and name else source for source, name in imports
        }
        for target in targets:
            if any(_under(module, face) for face in FACES):
                continue
            upward = any(_under(target, face) for face in FACES) or (
                _under(target, WING) and not _under(module, WING)
            )
            if upward:
                offences.append(f"{module} imports {target}")
    assert offences == []


def test_no_module_is_longer_than_one_read():
    """STYLE.md: modules that fit in one read. 500 lines at most, but lrlab.schedules, whose
    factories are one family of small functions that read best side by side."""
    from pathlib import Path

    root = Path(lrlab.__file__).parent
    long = {
        str(path.relative_to(root.parent)): n
        for path in sorted(root.rglob("*.py"))
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 500
        and path.name != "schedules.py"
    }
    assert long == {}
