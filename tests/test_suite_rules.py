"""Rules the test suite itself keeps (STYLE.md, "Tests"): no timed assertions.

Speed depends on the machine and on what else runs on it; a test that asserts a wall-clock
bound fails on a slow or busy CI machine without any code being wrong. Speed is measured by
the scripts in ``benchmarks/``, which print a table instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CLOCKS = {"perf_counter", "perf_counter_ns", "monotonic", "monotonic_ns", "time", "time_ns"}


def _reads_a_clock(node: ast.AST) -> bool:
    """Whether ``node`` calls ``time.<clock>()`` or a clock imported by name."""
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in CLOCKS:
            if isinstance(func.value, ast.Name) and func.value.id == "time":
                return True
        if isinstance(func, ast.Name) and func.id in CLOCKS - {"time"}:
            return True
    return False


def timed_assertions(source: str) -> list[int]:
    """Line numbers of the ``assert`` statements in ``source`` that read a clock."""
    tree = ast.parse(source)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Assert) and _reads_a_clock(node)
    ]


def test_the_rule_finds_a_timed_assertion():
    source = "import time\nstart = time.perf_counter()\nassert time.perf_counter() - start < 30\n"
    assert timed_assertions(source) == [3]
    assert timed_assertions("from time import monotonic\nassert monotonic() > 0\n") == [2]
    assert timed_assertions("import time\nt = time.perf_counter()\nassert t\n") == []


def test_no_test_asserts_a_wall_clock_bound():
    found = {
        path.name: lines
        for path in sorted(TESTS.glob("*.py"))
        if (lines := timed_assertions(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"timed assertions (move them to benchmarks/): {found}"
