"""Self-checks for exercises: is my answer right, how far off is it, and a hint.

Each exercise with a numeric answer registers a function that *computes* the expected
answer with ``lrlab`` when a student checks (no stored digits, so a check cannot drift
from the code the chapter runs), together with what the answer is, a hint and the
tolerances. A student calls::

    from lrlab import classroom
    classroom.check("quadratic-ex-kappa", [60, 690, 6900])

and reads whether the answer is right, close or wrong, how far off it is (the largest
relative error, and which entries are off) and a hint; the expected answer itself is
never printed or returned.

Registering a check for a new exercise takes a few lines in a module of
``lrlab/classroom/checks/`` (one module per chapter; every module there is loaded on the
first check)::

    from lrlab.classroom.selfcheck import exercise

    @exercise(
        "chapter-ex-label",  # the label of the {exercise} directive
        asks="the largest stable step size for h = 10, one number",
        hint="Gradient descent converges when |1 - lr h| < 1.",
        rtol=1e-3,  # within 0.1 %: right
        close=0.05,  # within 5 %: close
    )
    def _():
        return dynamics.max_stable_lr(10.0)
"""

from __future__ import annotations

import difflib
import functools
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lrlab import _check

__all__ = ["Exercise", "Feedback", "check", "exercise", "registered"]


@dataclass(frozen=True)
class Exercise:
    """An exercise's self-check: how to compute its answer and how strictly to compare.

    An answer is *right* when every entry is within ``atol + rtol * |expected|`` of the
    expected one, *close* when within ``atol + close * |expected|``, else *wrong*.

    Parameters
    ----------
    label : str
        The exercise's label in its chapter (``:label:`` of the ``{exercise}`` directive).
    expected : callable
        ``expected() -> number or array``, computed with ``lrlab`` at every check.
    asks : str
        What the answer is, in words, with its form ("three integers").
    hint : str
        A hint for a wrong or close answer; it must not give the answer away.
    rtol, close, atol : float
        Relative tolerance of a right answer, relative tolerance of a close one
        (``close >= rtol``), absolute slack of both (for integer answers or zeros).
    """

    label: str
    expected: Callable[[], Any]
    asks: str
    hint: str
    rtol: float = 1e-6
    close: float = 0.1
    atol: float = 0.0


@dataclass(frozen=True)
class Feedback:
    """What :func:`check` says about an answer. ``repr`` is the message, for notebooks.

    Attributes
    ----------
    label : str
        The exercise.
    verdict : str
        ``"right"``, ``"close"``, ``"wrong"`` or ``"no answer"``.
    error : float or None
        The largest relative error of the entries (absolute where the expected entry is
        0); ``None`` without a comparable answer.
    message : str
        The sentence shown to the student (never the expected answer).
    """

    label: str
    verdict: str
    error: float | None
    message: str

    def __repr__(self) -> str:
        return self.message

    __str__ = __repr__


_REGISTRY: dict[str, Exercise] = {}


def exercise(
    label: str,
    *,
    asks: str,
    hint: str,
    rtol: float = 1e-6,
    close: float = 0.1,
    atol: float = 0.0,
) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
    """Register the decorated function as the answer of exercise ``label``.

    Parameters
    ----------
    label : str
        The exercise's label, unique across the book.
    asks, hint, rtol, close, atol
        See :class:`Exercise`.

    Returns
    -------
    callable
        A decorator that registers a function ``() -> answer`` and returns it unchanged.

    Examples
    --------
    >>> @exercise("demo-ex-two", asks="one plus one, a number", hint="Count.", close=0.5)
    ... def _():
    ...     return 1 + 1
    >>> check("demo-ex-two", 2).verdict
    'right'
    >>> _REGISTRY.pop("demo-ex-two").label
    'demo-ex-two'
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    rtol = _check.number("rtol", rtol, low=0)
    atol = _check.number("atol", atol, low=0)
    close = _check.number("close", close, low=rtol)
    if not asks or not hint:
        raise ValueError(f"asks and hint must be non-empty, got {asks!r} and {hint!r}")

    def register(expected: Callable[[], Any]) -> Callable[[], Any]:
        if label in _REGISTRY:
            raise ValueError(f"label must be unique: {label!r} is already registered")
        _REGISTRY[label] = Exercise(label, expected, asks, hint, rtol, close, atol)
        return expected

    return register


@functools.cache
def _load_checks() -> None:
    """Import every module of ``lrlab.classroom.checks`` once: they register the checks."""
    from lrlab.classroom import checks

    for module in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"{checks.__name__}.{module.name}")


def registered() -> dict[str, Exercise]:
    """Every exercise with a self-check, by label.

    Examples
    --------
    >>> "quadratic-ex-kappa" in registered()
    True
    """
    _load_checks()
    return dict(_REGISTRY)


def _as_numbers(answer) -> np.ndarray:
    """A student's answer (a number or a list of numbers) as a float array; NaN and
    infinities pass (they are wrong answers, not bad input)."""
    return _check.array("answer", answer, finite=False, min_size=0)


def _percent(error: float) -> str:
    return f"{100 * error:.2g} %" if error < 0.1 else f"{100 * error:,.0f} %"


def _entries(indices: np.ndarray) -> str:
    names = [str(i + 1) for i in indices]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"entry {listed} is" if len(names) == 1 else f"entries {listed} are"


def check(label: str, answer) -> Feedback:
    """Check an answer to exercise ``label``: right, close or wrong, how far off, a hint.

    The expected answer is computed now, with ``lrlab``, and never shown.

    Parameters
    ----------
    label : str
        The exercise's label, as in its chapter (e.g. ``"quadratic-ex-kappa"``).
    answer : number, list of numbers, array, or None
        Your answer, in the form the exercise asks for; ``None`` if you have none yet.

    Returns
    -------
    Feedback
        Shown as its message in a notebook; ``.verdict`` is ``"right"``, ``"close"``,
        ``"wrong"`` or ``"no answer"``.

    Raises
    ------
    ValueError
        For an unknown label (the message suggests the nearest ones).
    TypeError
        For an answer that is not numeric.

    Examples
    --------
    >>> check("schedules-ex-restarts", None).verdict
    'no answer'
    >>> print(check("schedules-ex-restarts", [50, 200, 650, 2001]))  # doctest: +ELLIPSIS
    Close: entry 4 is off, by up to 0.05 % (relative error). Hint: ...
    """
    known = registered()
    if label not in known:
        nearest = difflib.get_close_matches(str(label), known, n=3)
        also = f"; did you mean {', '.join(map(repr, nearest))}?" if nearest else ""
        raise ValueError(f"label must be one of the {len(known)} exercises with a check{also}")
    ex = known[label]
    if answer is None:
        return Feedback(
            label,
            "no answer",
            None,
            f"No answer yet: set `answer` to {ex.asks}, then run this cell again.",
        )
    given = _as_numbers(answer)
    expected = np.asarray(ex.expected(), dtype=np.float64)
    if given.size != expected.size:
        count = "one number" if expected.size == 1 else f"{expected.size} numbers"
        return Feedback(
            label,
            "wrong",
            None,
            f"Not the right form: the answer is {ex.asks} ({count}), you gave {given.size}.",
        )
    given, expected = given.reshape(-1), expected.reshape(-1)
    if not np.all(np.isfinite(given)):
        return Feedback(
            label, "wrong", None, f"Your answer has entries that are not finite. Hint: {ex.hint}"
        )
    distance = np.abs(given - expected)
    scale = np.abs(expected)
    relative = np.where(scale > 0, distance / np.where(scale > 0, scale, 1.0), distance)
    error = float(relative.max())
    off = np.flatnonzero(distance > ex.atol + ex.rtol * scale)
    if off.size == 0:
        within = f", within {_percent(error)}" if error > 0 else ""
        return Feedback(label, "right", error, f"Right{within}. Well done.")
    if np.all(scale[off] > 0):
        amount = f"{_percent(float(relative[off].max()))} (relative error)"
    else:
        amount = f"{float(relative[off].max()):.2g} (absolute error)"
    if expected.size == 1:
        how_far = f"your answer is off by {amount}"
    else:
        how_far = f"{_entries(off)} off, by up to {amount}"
    if np.all(distance <= ex.atol + ex.close * scale):
        return Feedback(label, "close", error, f"Close: {how_far}. Hint: {ex.hint}")
    return Feedback(label, "wrong", error, f"Not yet: {how_far}. Hint: {ex.hint}")
