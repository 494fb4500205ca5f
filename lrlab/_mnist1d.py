"""MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package and cached.

The package builds the data set procedurally: 10 one-dimensional digit templates are
padded, sheared, scaled, translated, and given correlated and i.i.d. noise, then
resampled to 40 points. With its standard arguments (``get_dataset_args()``: 5,000
examples, seed 42) it yields 4,000 training and 1,000 test sequences. It standardises
the whole set (both splits) by one global mean and standard deviation; :func:`lrlab.data.load`
then normalises by the training split's own mean and standard deviation, as for every
data set, which changes the values by well under 1%.

Generation takes about two seconds; the tensors are cached in ``root/mnist1d.pt``.
The package's own download function is never called. A cache that cannot be read, or
lacks a tensor, or holds one of another shape or type, is derived data: it is generated
again (with a warning naming the file) and rewritten.
"""

from __future__ import annotations

import io
import random
import warnings
from pathlib import Path

import numpy as np
import torch

_CACHE_NAME = "mnist1d.pt"
#: The tensors of the package's standard data set: name -> (shape, dtype).
_LAYOUT = {
    "train_x": ((4000, 1, 40), torch.float32),
    "train_y": ((4000,), torch.int64),
    "test_x": ((1000, 1, 40), torch.float32),
    "test_y": ((1000,), torch.int64),
}


def generate() -> dict[str, np.ndarray]:
    """The package's standard data set: ``x, y, x_test, y_test`` as NumPy arrays.

    ``mnist1d`` seeds NumPy's and Python's global generators; their states are restored
    afterwards so that loading the data does not change a caller's random numbers.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:  # pragma: no cover - it is a dependency of lrlab
        raise ImportError("MNIST-1D needs the mnist1d package: pip install mnist1d") from exc
    numpy_state, python_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        return make_dataset(get_dataset_args())
    finally:
        np.random.set_state(numpy_state)  # noqa: NPY002
        random.setstate(python_state)


def mnist1d_tensors(root: Path) -> dict:
    """Training and test tensors, from the cache in ``root`` or generated (then cached)."""
    from lrlab._io import atomic_write

    cache = root / _CACHE_NAME
    if cache.is_file():
        problem = None
        try:
            blob = torch.load(cache, weights_only=True)
        except Exception as err:  # noqa: BLE001 - whatever the damage, the data are derived
            problem = f"it cannot be read ({type(err).__name__}: {err})"
        else:
            problem = _layout_problem(blob)
        if problem is None:
            return blob
        warnings.warn(
            f"{cache}: {problem}; generating MNIST-1D again", RuntimeWarning, stacklevel=3
        )
    raw = generate()
    blob = {
        "train_x": torch.from_numpy(raw["x"].astype(np.float32)).unsqueeze(1),
        "train_y": torch.from_numpy(raw["y"].astype(np.int64)),
        "test_x": torch.from_numpy(raw["x_test"].astype(np.float32)).unsqueeze(1),
        "test_y": torch.from_numpy(raw["y_test"].astype(np.int64)),
    }

    buffer = io.BytesIO()
    torch.save(blob, buffer)
    atomic_write(cache, buffer.getvalue())
    return blob


def _layout_problem(blob) -> str | None:
    """What is wrong with a loaded cache (a missing tensor, a wrong shape or type), or None."""
    if not isinstance(blob, dict):
        return f"it holds a {type(blob).__name__}, not the tensors"
    for name, (shape, dtype) in _LAYOUT.items():
        tensor = blob.get(name)
        if not isinstance(tensor, torch.Tensor):
            return f"it lacks the tensor {name!r}"
        if tuple(tensor.shape) != shape or tensor.dtype != dtype:
            return f"its {name} is {tuple(tensor.shape)} {tensor.dtype}, not {shape} {dtype}"
    return None
