"""MNIST-1D (Greydanus 2020), generated locally by the ``mnist1d`` package and cached.

The package builds the data set procedurally: 10 one-dimensional digit templates are
padded, sheared, scaled, translated, and given correlated and i.i.d. noise, then
resampled to 40 points. With its standard arguments (``get_dataset_args()``: 5,000
examples, seed 42) it yields 4,000 training and 1,000 test sequences. It standardises
the whole set (both splits) by one global mean and standard deviation; :func:`lrlab.data.load`
then normalises by the training split's own mean and standard deviation, as for every
data set, which changes the values by well under 1%.

Generation takes about two seconds; the tensors are cached in ``root/mnist1d.pt``.
The package's own download function is never called.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

_CACHE_NAME = "mnist1d.pt"


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
        return torch.load(cache, weights_only=True)
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
