"""Rules the test suite itself keeps (STYLE.md, "Tests"): no timed assertions.

Speed depends on the machine and on what else runs on it; a test that asserts a wall-clock
bound fails on a slow or busy CI machine without any code being wrong. Speed is measured by
the scripts in ``benchmarks/``, which print a table instead.
"""

from __future__ import annotations

import ast
import re
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


# --- argument checks go through lrlab._check ---------------------------------------------

LRLAB = TESTS.parent / "lrlab"
#: The messages of the checks lrlab._check offers (an integer in a range, a number in a
#: range, a choice, a flag): a raise with one of these outside _check is a hand-written copy.
CHECK_MESSAGES = re.compile(
    r"must be (an integer|a number|a real number|True or False|one of \{|in [\[(]|[<>]=? )"
)


def hand_written_checks(source: str) -> list[int]:
    """Line numbers of ``raise ValueError/TypeError(...)`` whose message reads like one of
    lrlab._check's (see :data:`CHECK_MESSAGES`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
            continue
        func = node.exc.func
        if not (isinstance(func, ast.Name) and func.id in ("ValueError", "TypeError")):
            continue
        text = "".join(
            part.value if isinstance(part, ast.Constant) else "{"
            for arg in node.exc.args
            for part in (arg.values if isinstance(arg, ast.JoinedStr) else [arg])
            if isinstance(part, (ast.Constant, ast.FormattedValue))
        )
        if CHECK_MESSAGES.search(text):
            found.append(node.lineno)
    return found


def test_the_rule_finds_a_hand_written_argument_check():
    source = 'def f(n):\n    if n < 1:\n        raise ValueError(f"n must be >= 1, got {n}")\n'
    assert hand_written_checks(source) == [3]
    choice = 'def f(m):\n    raise ValueError(f"mode must be one of {MODES}, got {m!r}")\n'
    assert hand_written_checks(choice) == [2]
    assert hand_written_checks('raise ValueError("steps must be a multiple of 4")\n') == []


def test_argument_checks_go_through_the_check_module():
    """One notion of an integer, a number, a choice and a flag (lrlab._check), one message."""
    found = {
        str(path.relative_to(LRLAB.parent)): lines
        for path in sorted(LRLAB.rglob("*.py"))
        if path.name != "_check.py"
        and (lines := hand_written_checks(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"hand-written argument checks (use lrlab._check): {found}"
