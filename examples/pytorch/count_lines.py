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
    start = None
    depth = 0
    for number, line in enumerate(lines):
        code = STRING_LITERAL.sub('""', line)
        if start is None and code.strip() == "#[test]":
            start, depth, opened = number, 0, False
        if start is None:
            continue
        excluded.add(number)
        depth += code.count("{") - code.count("}")
        opened = opened or "{" in code
        if opened and depth == 0:
            start = None
    return excluded


def rust_lines(path):
    lines = path.read_text().splitlines()
    tests = test_function_lines(lines)
    return sum(
        1
        for number, line in enumerate(lines)
        if number not in tests and line.strip() and not line.strip().startswith("//")
    )


def docstring_lines(source):
    """The numbers of the lines that hold a docstring."""
    excluded = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
            continue
        first = node.body[0] if node.body else None
        is_string = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        if is_string and isinstance(first.value.value, str):
            excluded.update(range(first.lineno - 1, first.end_lineno))
    return excluded


def python_lines(path):
    source = path.read_text()
    docstrings = docstring_lines(source)
    return sum(
        1
        for number, line in enumerate(source.splitlines())
        if number not in docstrings and line.strip() and not line.strip().startswith("#")
    )


def main():
    print(f"{'example':<24} {'Borel':>6} {'PyTorch':>8} {'ratio':>6}")
    for twin in sorted(PYTORCH_DIR.glob("[0-9][0-9]_*.py")):
        rust = EXAMPLES_DIR / twin.with_suffix(".rs").name
        borel, pytorch = rust_lines(rust), python_lines(twin)
        print(f"{twin.stem:<24} {borel:>6} {pytorch:>8} {borel / pytorch:>6.2f}")


if __name__ == "__main__":
    main()
