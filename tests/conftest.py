"""Fixtures shared by the test modules: the two built-in data sets, loaded once per session.

Both are read-only in every test (a ``Dataset`` holds tensors that ``fit`` only reads), so one
copy serves the whole session. MNIST-1D is generated into a temporary folder, never into
the repository's ``data/cache``.
"""

from __future__ import annotations

import pytest

from lrlab import data


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's handwritten digits (1,347 training and 450 test images) on the CPU."""
    return data.load("digits", device="cpu")


@pytest.fixture(scope="session")
def mnist1d(tmp_path_factory):
    """MNIST-1D (4,000 training and 1,000 test sequences of length 40) on the CPU."""
    return data.load("mnist1d", root=tmp_path_factory.mktemp("mnist1d"), device="cpu")
