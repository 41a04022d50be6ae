"""The code's shape: one phase per function (ruff's C90 checks complexity; this checks length)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "alignment"
MAX_FUNCTION_LINES = 100


def test_no_function_in_the_package_is_longer_than_a_screenful_or_two():
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == [], "split these along their phases: " + "; ".join(long)


def test_the_review_is_a_package_of_small_rules():
    import importlib

    verdict_module = importlib.import_module("alignment.review.verdict")
    assert all(callable(rule) for rule in verdict_module.RULES)
    assert not (PACKAGE / "review.py").exists() and not (PACKAGE / "report.py").exists()
