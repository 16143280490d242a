"""The `#### Examples` blocks of tfhm's docstrings run as written (doctests).

Every ```python block under a `#### Examples` heading of a module, class or
function docstring in `tfhm/` is executed on its own, in a fresh namespace
and an empty temporary working directory (examples may write run folders or
SavedModels there). A block must be self-contained: it imports what it uses
and makes its own data, as a reader who copies it would. The sources are read
with `ast`, so a docstring is tested without importing its module first.
"""

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tfhm"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _docstrings(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(
        n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in nodes:
        text = ast.get_docstring(node, clean=True)
        if text and "#### Examples" in text:
            yield getattr(node, "name", "<module>"), getattr(node, "lineno", 1), text


def _examples():
    cases = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for name, line, text in _docstrings(path):
            section = text.split("#### Examples", 1)[1].split("####", 1)[0]
            for i, block in enumerate(_BLOCK.findall(section)):
                rel = path.relative_to(ROOT)
                cases.append(pytest.param(block, id=f"{rel}:{line}:{name}:{i}"))
    return cases


EXAMPLES = _examples()


def test_examples_were_found():
    # The harness itself must not silently test nothing.
    assert len(EXAMPLES) >= 8


@pytest.mark.parametrize("source", EXAMPLES)
def test_docstring_example_runs(source, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = compile(source, "<docstring example>", "exec")
    exec(code, {"__name__": "__doctest__"})  # noqa: S102 - the point of the test
