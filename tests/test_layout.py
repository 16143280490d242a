"""The package stays readable: modules and functions of the size of one idea.

A loose guard, not a layout rule (issue 26: the old gate of 470 lines moved
code to wherever it fitted): a module of `tfhm/` over 800 lines, or a
function over about 60 lines of code (its docstring not counted: a long
`Args` section is documentation, not logic), is a sign that it holds more
than one idea; where code goes is decided in review.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "tfhm"
MAX_MODULE_LINES = 800
MAX_FUNCTION_CODE_LINES = 60


def _modules():
    return sorted(ROOT.rglob("*.py"))


def test_no_module_is_too_long():
    long = {str(p.relative_to(ROOT)): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these modules (lines): {long}"


def test_no_function_is_too_long():
    long = {}
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                doc_lines = len(doc.splitlines()) if doc else 0
                code = node.end_lineno - node.lineno + 1 - doc_lines
                if code > MAX_FUNCTION_CODE_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = code
    assert not long, f"cut these functions into steps (code lines): {long}"
