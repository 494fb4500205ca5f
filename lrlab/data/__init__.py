"""Data sets as tensors on the device, with augmentation done on the device too.

:func:`load` returns a :class:`Dataset` that keeps both splits as ``uint8`` image tensors
on the device (CIFAR-10's 50,000 training images take 150 MB) and turns each batch into
normalised float32 only when it is drawn. Nothing goes through the CPU per batch, which
is what keeps a GPU busy: the index permutation and the random crop offsets of a whole
epoch are drawn at its start and copied once.

Names:

- ``"digits"``: scikit-learn's 1,797 real 8×8 handwritten digits (Alpaydin & Kaynak
  1998), bundled with scikit-learn, no download. A fixed stratified split gives 1,347
  training and 450 test images.
- ``"mnist1d"``: MNIST-1D (Greydanus 2020), 4,000 training and 1,000 test sequences of
  length 40 in 10 classes, generated locally by the ``mnist1d`` package with its standard
  arguments and seed (no download), cached in ``root/mnist1d.pt``; see :func:`load`.
- ``"cifar10"``, ``"cifar100"``: the official python archives of Krizhevsky (2009),
  downloaded into ``root``, checked against their published MD5, read, and cached as
  ``uint8`` tensors in ``root/<name>.pt`` so that the second load takes a second.

:func:`from_tensors` makes a :class:`Dataset` of the user's own tensors, as they are (no
normalisation): class labels, or real-valued targets for regression.

>>> from lrlab import data
>>> digits = data.load("digits", device="cpu")
>>> digits.input_shape, digits.num_classes, digits.size("train"), digits.size("test")
((1, 8, 8), 10, 1347, 450)
>>> x, y = next(digits.batches("train", 128))
>>> tuple(x.shape), x.dtype, y.dtype
((128, 1, 8, 8), torch.float32, torch.int64)
"""

from __future__ import annotations

from lrlab._cifar import SOURCES, ChecksumError, CifarSource
from lrlab.data.builtin import INFO, NAMES, Info, load
from lrlab.data.dataset import SPLITS, TASKS, Dataset, crop_flip
from lrlab.data.loader import torchvision_loader
from lrlab.data.own import from_tensors, holdout, subset

__all__ = [
    "INFO",
    "NAMES",
    "SOURCES",
    "SPLITS",
    "TASKS",
    "ChecksumError",
    "CifarSource",
    "Dataset",
    "Info",
    "crop_flip",
    "from_tensors",
    "holdout",
    "load",
    "subset",
    "torchvision_loader",
]
