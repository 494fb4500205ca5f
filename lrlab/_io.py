"""Writing files safely and the JSON codec every lrlab file format uses.

- :func:`atomic_write`: readers see a file's old content or its new one, never half of it
  (results files, checkpoints, data caches).
- :func:`encode` / :func:`decode`: JSON has no NaN or infinity, and a diverged run has both;
  non-finite floats are stored as the strings ``"nan"``, ``"inf"``, ``"-inf"``.
- :func:`plain`: tensors and NumPy values as Python numbers and lists.
- :func:`dumps`: JSON with one key per line but each list of numbers on one line.
- :func:`read_json`: a JSON file through :func:`decode`; a damaged one is named.
- :func:`writable_folder`, :func:`writable_file`: check, before any work, that an output
  can be written, so that hours of work never end in ``NotADirectoryError``.

>>> decode(encode({"loss": [1.0, float("inf")]}))
{'loss': [1.0, inf]}
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

__all__ = [
    "atomic_write",
    "decode",
    "dumps",
    "encode",
    "plain",
    "read_json",
    "writable_file",
    "writable_folder",
]

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


def read_json(path: str | os.PathLike, what: str = "file"):
    """Read a JSON file and :func:`decode` it; a file that is not JSON raises a ValueError
    naming it.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file is, for the message (``"results file"``, ``"cache entry"``).

    Returns
    -------
    object
        The decoded content.

    Raises
    ------
    ValueError
        ``<path>: <what> is damaged: <why>`` for a file that is empty, truncated, not
        UTF-8 or not JSON.
    OSError
        Where the file cannot be read at all (its message names it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.json"
    >>> _ = path.write_text('{"loss": "nan"}')
    >>> read_json(path)
    {'loss': nan}
    >>> _ = path.write_text('{"loss": ')
    >>> read_json(path, "results file")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ...x.json: results file is damaged: Expecting value: line 1 column 10 (char 9)
    """
    path = Path(path)
    try:
        return decode(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ValueError(f"{path}: {what} is damaged: {err}") from err


def writable_folder(folder: str | os.PathLike, name: str) -> Path:
    """Make sure files can be written into ``folder`` (created if missing), before work.

    A temporary file is created there and removed: this finds a path through a file
    (``NotADirectoryError``), a read-only file system and a folder without write
    permission alike.

    Parameters
    ----------
    folder : str or path-like
    name : str
        What the folder is for the user (an option's name: ``"--cache"``), for the message.

    Returns
    -------
    pathlib.Path
        ``folder``.

    Raises
    ------
    ValueError
        ``<name>: cannot write into <folder>: <why>``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> writable_folder(base / "new", "--cache") == base / "new"
    True
    >>> _ = (base / "file").write_text("x")
    >>> writable_folder(base / "file" / "sub", "--cache")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --cache: cannot write into .../file/sub: Not a directory
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"{name}: cannot write into {folder}: {err.strerror or err}") from None
    return folder


def writable_file(path: str | os.PathLike, name: str) -> Path:
    """Make sure the file ``path`` can be written (its folder is writable, and it is not
    a folder itself), before work; see :func:`writable_folder`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> writable_file(base / "run.json", "--out") == base / "run.json"
    True
    >>> writable_file(base, "--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: --out: ... is a folder, not a file
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{name}: {path} is a folder, not a file")
    writable_folder(path.parent, name)
    return path
