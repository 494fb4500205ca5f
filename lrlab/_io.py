"""Writing files safely and the JSON codec every lrlab file format uses.

- :func:`atomic_write`: readers see a file's old content or its new one, never half of it
  (results files, checkpoints, data caches).
- :func:`encode` / :func:`decode`: JSON has no NaN or infinity, and a diverged run has both;
  non-finite floats are stored as the strings ``"nan"``, ``"inf"``, ``"-inf"``.
- :func:`plain`: tensors and NumPy values as Python numbers and lists.
- :func:`dumps`: JSON with one key per line but each list of numbers on one line.

>>> decode(encode({"loss": [1.0, float("inf")]}))
{'loss': [1.0, inf]}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "decode", "dumps", "encode", "plain"]

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write a file so that readers see either the old content or the new, never half.

    The data go to a temporary file in the same folder, are flushed to disk, and the
    temporary file is then renamed over ``path`` (an atomic operation on POSIX and
    Windows). The folder is created if missing.

    Parameters
    ----------
    path : str or path-like
        Destination.
    data : bytes or str
        Content; ``str`` is written as UTF-8.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = atomic_write(pathlib.Path(tempfile.mkdtemp()) / "x.txt", "hello")
    >>> p.read_text()
    'hello'
    """
    if not isinstance(data, (bytes, bytearray, str)):
        raise TypeError(f"data must be bytes or str, got {type(data).__name__}")
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def encode(value):
    """JSON has no NaN/inf: store non-finite floats as the strings "nan", "inf", "-inf".

    Examples
    --------
    >>> encode([1.0, float("nan"), {"a": -float("inf")}])
    [1.0, 'nan', {'a': '-inf'}]
    """
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    return value


def decode(value):
    """Inverse of :func:`encode`.

    Examples
    --------
    >>> decode(["nan", "inf", "x"])
    [nan, inf, 'x']
    """
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    return value


def plain(value):
    """Tensors and NumPy values as Python numbers and lists (JSON- and checkpoint-safe).

    Examples
    --------
    >>> import numpy as np
    >>> plain((np.float32(0.5), {"a": np.arange(2)}))
    [0.5, {'a': [0, 1]}]
    """
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def dumps(value, indent: str = "") -> str:
    """JSON with one key per line but each list of numbers on one line (short, diffable).

    Examples
    --------
    >>> print(dumps({"lr": [0.1, 0.2], "name": "x"}))
    {
     "lr": [0.1, 0.2],
     "name": "x"
    }
    """
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {dumps(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + indent + "}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, allow_nan=False)
