"""Argument checks shared by every module: one notion of an integer and a number, one message.

Each check returns the value as a plain Python ``int``/``float`` (so NumPy integers and floats
are accepted wherever Python ones are) or raises before any work is done, naming the parameter,
the allowed range and the value received::

    ValueError: num_iter must be an integer >= 2, got 1
    ValueError: momentum must be in [0, 1), got 1.0
    TypeError: epochs must be an integer, got 2.5

Wrong types (a float where an integer is needed, a string where a number is) raise
``TypeError``; right types out of range raise ``ValueError``. ``bool`` is never a number here,
although Python counts it as one.

>>> import numpy as np
>>> integer("num_iter", np.int64(100), minimum=2)
100
>>> number("momentum", np.float32(0.5), low=0, high=1, high_open=True)
0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["array", "choice", "flag", "integer", "integers", "number", "rates"]


def _shown(value) -> str:
    """The value as the message shows it: NumPy scalars as the Python number they hold."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def integer(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int`` if it is a Python or NumPy integer in ``[minimum, maximum]``.

    Examples
    --------
    >>> integer("steps", 3, minimum=0)
    3
    >>> integer("steps", -1, minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: steps must be an integer >= 0, got -1
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {_shown(value)}")
    value = int(value)
    if minimum is not None and maximum is not None:
        if not minimum <= value <= maximum:
            raise ValueError(
                f"{name} must be an integer in [{minimum}, {maximum}], got {_shown(value)}"
            )
    elif minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {_shown(value)}")
    elif maximum is not None and value > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {_shown(value)}")
    return value


def integers(name: str, values, minimum: int | None = None) -> tuple[int, ...]:
    """``values`` as a non-empty tuple of ``int``, each a Python or NumPy integer >= ``minimum``.

    Examples
    --------
    >>> integers("hidden", [256, np.int64(128)], minimum=1)
    (256, 128)
    >>> integers("hidden", (), minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: hidden must be a non-empty sequence of integers >= 1, got ()
    """
    try:
        values = tuple(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of integers, got {_shown(values)}") from None
    bound = "" if minimum is None else f" >= {minimum}"
    if not values or not all(
        isinstance(v, (int, np.integer))
        and not isinstance(v, (bool, np.bool_))
        and (minimum is None or v >= minimum)
        for v in values
    ):
        shown = "(" + ", ".join(_shown(v) for v in values) + ("," if len(values) == 1 else "") + ")"
        raise ValueError(f"{name} must be a non-empty sequence of integers{bound}, got {shown}")
    return tuple(int(v) for v in values)


def number(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    finite: bool = True,
    low_name: str | None = None,
    high_name: str | None = None,
) -> float:
    """``value`` as a ``float`` if it is a real number within the bounds.

    Parameters
    ----------
    name : str
        The parameter's name, for the message.
    value
        A Python or NumPy integer or float (not ``bool``).
    low, high : float, optional
        Bounds; ``None`` for none.
    low_open, high_open : bool
        Exclude the bound itself (``> low`` rather than ``>= low``).
    finite : bool
        Reject NaN and infinities (NaN is always rejected when a bound is given).
    low_name, high_name : str, optional
        The parameter a bound is the value of, for the message: ``min_lr must be <
        max_lr (0.3), got 0.5``.

    Examples
    --------
    >>> number("lr", 0.1, low=0, low_open=True)
    0.1
    >>> number("lr", -0.1, low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: lr must be > 0, got -0.1
    >>> number("momentum", 1.0, 0, 1, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: momentum must be in [0, 1), got 1.0
    >>> number("min_lr", 0.5, high=0.3, high_open=True, high_name="max_lr")
    Traceback (most recent call last):
    ...
    ValueError: min_lr must be < max_lr (0.3), got 0.5
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {_shown(value)}")
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"{name} must be a real number, got {_shown(value)}")
    value = float(value)
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    if above and below and (math.isfinite(value) or not finite):
        return value
    lo = "" if low is None else f"{low:g}" if low_name is None else f"{low_name} ({low:g})"
    hi = "" if high is None else f"{high:g}" if high_name is None else f"{high_name} ({high:g})"
    if low is not None and high is not None:
        allowed = f"in {'(' if low_open else '['}{lo}, {hi}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f"{'>' if low_open else '>='} {lo}"
    elif high is not None:
        allowed = f"{'<' if high_open else '<='} {hi}"
    else:
        allowed = "a finite number"
    raise ValueError(f"{name} must be {allowed}, got {_shown(value)}")


def choice(name: str, value, allowed: Iterable):
    """``value`` if it is one of ``allowed``.

    Examples
    --------
    >>> choice("mode", "exp", ("exp", "linear"))
    'exp'
    >>> choice("mode", "cos", ("exp", "linear"))
    Traceback (most recent call last):
    ...
    ValueError: mode must be one of ('exp', 'linear'), got 'cos'
    """
    allowed = tuple(allowed)
    try:
        if value in allowed:
            return value
    except (TypeError, ValueError):  # an array or another value that does not compare
        pass
    raise ValueError(f"{name} must be one of {allowed}, got {_shown(value)}")


def flag(name: str, value) -> bool:
    """``value`` as a ``bool`` if it is a Python or NumPy boolean.

    Examples
    --------
    >>> flag("nesterov", False)
    False
    >>> flag("nesterov", "no")
    Traceback (most recent call last):
    ...
    TypeError: nesterov must be True or False, got 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_shown(value)}")
    return bool(value)


def rates(name: str, value) -> tuple[np.ndarray, bool]:
    """Step sizes given as a scalar or a 1-D array, each finite and > 0.

    Returns
    -------
    (numpy.ndarray, bool)
        The rates as a 1-D float64 array, and whether ``value`` was a scalar (so that a
        vectorised computation can drop its leading axis at the end: a scalar goes through
        the same array code as an array).

    Examples
    --------
    >>> rates("lr", 0.5)
    (array([0.5]), True)
    >>> rates("lr", [0.1, -1.0])
    Traceback (most recent call last):
    ...
    ValueError: lr must be finite and > 0, got [0.1, -1.0]
    """
    values = np.asarray(value, dtype=float)
    if values.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array, got shape {values.shape}")
    if values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return np.atleast_1d(values), values.ndim == 0


def array(
    name: str,
    value,
    *,
    finite: bool = True,
    positive: bool = False,
    min_size: int = 1,
    ndim: int | None = None,
) -> np.ndarray:
    """``value`` as a float64 NumPy array, if it has at least ``min_size`` entries (and
    ``ndim`` dimensions), all finite (``finite``) and > 0 (``positive``).

    Examples
    --------
    >>> array("x0", [0.5, 1.0]).tolist()
    [0.5, 1.0]
    >>> array("h", [1.0, float("nan")])
    Traceback (most recent call last):
    ...
    ValueError: h must hold finite numbers, got [1.0, nan]
    """
    try:
        values = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a number or an array of numbers, got {_shown(value)}"
        ) from None
    if ndim is not None and values.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {values.shape}")
    if values.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} value(s), got {values.size}")
    kind = "finite numbers > 0" if positive else "finite numbers"
    if (finite or positive) and not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must hold {kind}, got {_shown(value)}")
    if positive and np.any(values <= 0):
        raise ValueError(f"{name} must hold {kind}, got {_shown(value)}")
    return values
