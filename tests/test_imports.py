"""tfhm's imports: no import circle, and `import tfhm` loads no TensorFlow.

The graph (issue 26: `tfhm.export.export_cli` imported `tfhm.cli`, whose
`export` command imports `tfhm.export`) is read from the source with `ast`,
so it sees what a run may never reach. Its nodes are the modules of `tfhm/`
(a package is its `__init__.py`); an edge `a -> b` is an import statement
of `a`, at module level or inside a function, or an
`importlib.import_module("b")` call, naming the tfhm module `b`:

- `import tfhm.x.y` is an edge to `tfhm.x.y`; relative imports are resolved
  against the importing module's package;
- `from tfhm.x import y` is an edge to `tfhm.x.y` when `y` is a submodule,
  to the module named for `y` in `tfhm.x`'s lazy table (`tfhm._lazy.attach`:
  reading the attribute imports that module), and else to `tfhm.x` itself
  (a name its `__init__.py` defines or re-exports);
- importing `tfhm.x.y` also runs the package `tfhm.x` first: an edge to it
  too, unless the importer is inside `tfhm.x` itself (see below);
- imports under `if TYPE_CHECKING:` are left out (they never run), and so
  are imports of a module named at run time (a lazy table, a registry's
  table of the modules that register in it): reading them, the package or
  registry looks up a module that depends on it, not the reverse.

A package importing its own submodule is not a circle: Python runs a
package before any of its submodules, and the submodule's implicit
dependency on it is not an edge (else every package that re-exports its
submodules' names, eagerly or lazily, or dispatches to them, would be a
circle). A submodule that imports a name its package itself defines (in
its `__init__.py`) has an edge to the package, and is in a circle once the
package, or anything it imports, imports the submodule back: their code
then depends on each other, whether the imports run at module level
(where the order of the lines decides whether the half-run package has the
name yet) or inside functions.
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tfhm"
HEAVY = ("tensorflow", "keras", "tensorflow_probability")


# ----------------------------------------------------------------- the graph
def _module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.Module):
    """Every node of `tree` outside `if TYPE_CHECKING:` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)  # its `else:` does run
            else:
                stack.append(child)


def _lazy_table(tree: ast.Module) -> dict[str, str]:
    """Attribute -> module of a package's `_lazy.attach(name, globals(), TABLE, ...)`."""
    assigned = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    table = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("attach")
                and len(node.args) >= 3):
            value = node.args[2]
            value = assigned.get(value.id, value) if isinstance(value, ast.Name) else value
            if isinstance(value, ast.Dict):
                table.update(ast.literal_eval(value))
    return table


def import_graph(root: pathlib.Path = ROOT) -> dict[str, set[str]]:
    """Module -> the tfhm modules it imports (the edges of the module docstring)."""
    trees = {_module_name(path, root): (path, ast.parse(path.read_text(encoding="utf-8")))
             for path in sorted(root.rglob("*.py"))}
    lazy = {name: _lazy_table(tree) for name, (path, tree) in trees.items()
            if path.name == "__init__.py"}
    top = root.name

    def target(module: str, name: str | None = None) -> str | None:
        if name is not None:
            if f"{module}.{name}" in trees:
                return f"{module}.{name}"
            if name in lazy.get(module, {}):
                return lazy[module][name]
        return module if module in trees else None

    graph = {}
    for name, (path, tree) in trees.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                edges.update(target(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                edges.update(target(base, alias.name) for alias in node.names)
            elif (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module")
                  and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str)):
                edges.add(target(node.args[0].value))
        edges = {e for e in edges if e is not None and e.split(".")[0] == top}
        graph[name] = {run for e in edges for run in _with_packages_run(e, name)} - {name}
    return graph


def _with_packages_run(imported: str, importer: str) -> set[str]:
    """`imported`, and the packages above it that Python runs first, but those above `importer`."""
    parts = imported.split(".")
    above = {".".join(parts[:n]) for n in range(1, len(parts))}
    return {imported} | {p for p in above if not importer.startswith(p + ".")}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle `[a, b, ..., a]` of `graph`, or None (depth-first search)."""
    state = {}  # 1: on the current path, 2: done
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_tfhm_has_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


# ------------------------------------------------------ the graph's own rules
def _write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_the_old_export_cli_circle_is_found(tmp_path):
    # The circle of issue 26 as it was: function-level imports both ways, the
    # second through a name the package defines and one of its lazy table.
    root = _write(tmp_path, {
        "__init__.py": "",
        "export/__init__.py": (
            "from pkg import _lazy\n"
            "DEFAULT = None\n"
            "_LAZY = {'export_model': 'pkg.export.writer'}\n"
            "__getattr__, __dir__ = _lazy.attach(__name__, globals(), _LAZY)\n"
            "def export_cli():\n    from pkg.cli import main\n"),
        "export/writer.py": "def export_model(): pass\n",
        "_lazy.py": "def attach(*args): pass\n",
        "cli/__init__.py": "def main():\n    from pkg.cli import _commands\n",
        "cli/_commands.py": (
            "def cmd_export():\n    from pkg.export import DEFAULT, export_model\n")})
    graph = import_graph(root)
    assert graph["pkg.cli._commands"] == {"pkg.export", "pkg.export.writer"}
    assert graph["pkg.export"] == {"pkg._lazy", "pkg.cli"}
    assert find_cycle(graph) == ["pkg.cli", "pkg.cli._commands", "pkg.export", "pkg.cli"]


def test_packages_may_import_their_submodules(tmp_path):
    # A package re-exporting (eagerly, lazily, for type checkers) or
    # dispatching to its submodules, which import their siblings and their
    # package's lazy names, relatively too: no circle.
    files = {
        "__init__.py": (
            "import importlib\nfrom typing import TYPE_CHECKING\n"
            "from pkg import _lazy\n"
            "if TYPE_CHECKING:\n    from pkg import sub\n"
            "_ATTRIBUTES = {'Model': 'pkg.model'}\n"
            "__getattr__, __dir__ = _lazy.attach(__name__, globals(), _ATTRIBUTES)\n"
            "def load():\n    importlib.import_module('pkg.model')\n"),
        "_lazy.py": "",
        "model.py": "from . import _lazy\nfrom .sub import helper\n",
        "sub/__init__.py": "from pkg.sub.helper import f\nCONSTANT = 1\n",
        "sub/helper.py": "import pkg._lazy\nfrom .. import _lazy\ndef f(): pass\n",
        "user.py": "from pkg import Model\nfrom pkg.sub import CONSTANT\n"}
    graph = import_graph(_write(tmp_path, files))
    assert graph == {"pkg": {"pkg._lazy", "pkg.model"}, "pkg._lazy": set(),
                     "pkg.model": {"pkg._lazy", "pkg.sub", "pkg.sub.helper"},
                     "pkg.sub": {"pkg.sub.helper"}, "pkg.sub.helper": {"pkg._lazy"},
                     "pkg.user": {"pkg.model", "pkg.sub"}}
    assert find_cycle(graph) is None
    # A submodule importing a lazy name of its package: the module defining
    # it, which imports the submodule back.
    files["sub/helper.py"] = "def f():\n    from pkg import Model\n"
    assert find_cycle(import_graph(_write(tmp_path, files))) == [
        "pkg.model", "pkg.sub", "pkg.sub.helper", "pkg.model"]
    # A submodule importing a name its package defines, while the package
    # imports the submodule (here at module level: the order of the lines
    # decides whether `CONSTANT` exists yet).
    files["sub/helper.py"] = "from pkg.sub import CONSTANT\ndef f(): pass\n"
    assert find_cycle(import_graph(_write(tmp_path, files))) == [
        "pkg.sub", "pkg.sub.helper", "pkg.sub"]
    # Importing pkg.sub.helper runs pkg.sub first, which imports the importer.
    files["sub/helper.py"] = "def f(): pass\n"
    files["sub/__init__.py"] = "def load():\n    import pkg.model\n"
    assert find_cycle(import_graph(_write(tmp_path, files))) == [
        "pkg.model", "pkg.sub", "pkg.model"]


# ------------------------------------------------------------ light imports
@pytest.mark.parametrize("statement", [
    "import tfhm",
    "import tfhm.export, tfhm.training, tfhm.estimators, tfhm.cli",
])
def test_import_tfhm_loads_no_tensorflow(statement):
    # `python -X importtime` lists every module the import loads (issue 26,
    # acceptance 6); sys.modules must hold none of TensorFlow's either.
    code = f"import sys; {statement}; print(sorted(sys.modules))"
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                            capture_output=True, text=True, timeout=120, check=True)
    timed = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()
             if line.startswith("import time:") and "|" in line]
    assert "tfhm" in {name.strip() for name in timed}, result.stderr[-2000:]
    heavy = sorted({name for name in timed + ast.literal_eval(result.stdout.strip())
                    if name.split(".")[0] in HEAVY})
    assert not heavy, f"{statement!r} imports {heavy[:10]}"
