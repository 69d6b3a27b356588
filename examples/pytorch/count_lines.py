"""Counts the lines of code of each numbered Borel example and of its PyTorch twin.

A line of code is any line but a blank one or a comment-only one: `//`, `///` and `//!`
lines in Rust; `#` lines and docstrings (module, class and function) in Python, the
twins of Rust's doc comments. The `#[test]` functions at the end of the Rust files are
left out: the Python twins have no tests.

python3 examples/pytorch/count_lines.py
"""
import ast
import re
from pathlib import Path

PYTORCH_DIR = Path(__file__).resolve().parent
EXAMPLES_DIR = PYTORCH_DIR.parent
STRING_LITERAL = re.compile(r'"(?:\\.|[^"\\])*"')


def test_function_lines(lines):
    """The numbers of the lines of each `#[test]` function, from the attribute to the
    closing brace."""
    excluded = set()
    inside, opened, depth = False, False, 0
    for number, line in enumerate(lines):
        code = STRING_LITERAL.sub('""', line)
        if not inside and code.strip() == "#[test]":
            inside, opened, depth = True, False, 0
        if not inside:
            continue
        excluded.add(number)
        depth += code.count("{") - code.count("}")
        opened = opened or "{" in code
        if opened and depth == 0:
            inside = False
    return excluded


def code_lines(lines, excluded, comment):
    """How many lines are neither excluded, blank nor comment-only."""
    return sum(
        1
        for number, line in enumerate(lines)
        if number not in excluded
        and line.strip()
        and not line.strip().startswith(comment)
    )


def rust_lines(path):
    lines = path.read_text().splitlines()
    return code_lines(lines, test_function_lines(lines), "//")


def docstring_lines(source):
    """The numbers of the lines that hold a docstring."""
    excluded = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
            continue
        first = node.body[0] if node.body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            excluded.update(range(first.lineno - 1, first.end_lineno))
    return excluded


def python_lines(path):
    source = path.read_text()
    return code_lines(source.splitlines(), docstring_lines(source), "#")


def main():
    print(f"{'example':<24} {'Borel':>6} {'PyTorch':>8} {'ratio':>6}")
    for twin in sorted(PYTORCH_DIR.glob("[0-9][0-9]_*.py")):
        rust = EXAMPLES_DIR / twin.with_suffix(".rs").name
        borel, pytorch = rust_lines(rust), python_lines(twin)
        print(f"{twin.stem:<24} {borel:>6} {pytorch:>8} {borel / pytorch:>6.2f}")


if __name__ == "__main__":
    main()
