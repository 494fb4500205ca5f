"""The built-in data sets by name: scikit-learn's digits, MNIST-1D (generated locally) and
CIFAR-10/100 (downloaded, MD5-checked, cached as tensors)."""

from __future__ import annotations

from pathlib import Path

import torch

from lrlab import _check
from lrlab._cifar import SOURCES, cifar_tensors
from lrlab.data.dataset import Dataset

__all__ = ["NAMES", "load"]

#: Every name :func:`load` accepts.
NAMES: tuple[str, ...] = ("digits", "mnist1d", *SOURCES)


def load(name: str, root="data/cache", device=None, download: bool = True) -> Dataset:
    """Load a data set by name onto the device.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`: ``"digits"``, ``"mnist1d"``, ``"cifar10"``, ``"cifar100"``.
    root : str or path
        Folder for CIFAR downloads and the CIFAR and MNIST-1D caches (unused by digits).
    device : torch.device or str, optional
        ``lrlab.device()`` by default.
    download : bool
        Download a missing CIFAR archive from :data:`SOURCES`. With ``False`` and no
        archive or cache in ``root``, a ``FileNotFoundError`` says where to put it.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    ChecksumError
        When an archive's MD5 is not the published one; the message names the file
        and both hashes, and no cache is written.

    Examples
    --------
    >>> load("digits", device="cpu")
    Dataset('digits', train=1347, test=450, input_shape=(1, 8, 8), num_classes=10, device=cpu)
    """
    _check.choice("name", name, NAMES)
    if name == "digits":
        return _digits(device)
    if name == "mnist1d":
        from lrlab._mnist1d import mnist1d_tensors

        blob = mnist1d_tensors(Path(root))
        return Dataset(
            "mnist1d",
            (blob["train_x"], blob["train_y"]),
            (blob["test_x"], blob["test_y"]),
            [str(c) for c in range(10)],
            scale=1.0,
            augment_crop_flip=False,
            device=device,
        )
    blob = cifar_tensors(name, SOURCES[name], Path(root), download)
    return Dataset(
        name,
        (blob["train_x"], blob["train_y"]),
        (blob["test_x"], blob["test_y"]),
        blob["classes"],
        scale=255.0,
        augment_crop_flip=True,
        device=device,
    )


def _digits(device) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images.astype("uint8")).unsqueeze(1)  # values 0..16
    labels = torch.from_numpy(bunch.target.astype("int64"))
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, labels, test_size=450, random_state=0, stratify=bunch.target
    )
    return Dataset(
        "digits",
        (x_tr, y_tr),
        (x_te, y_te),
        [str(c) for c in bunch.target_names],
        scale=16.0,
        augment_crop_flip=False,
        device=device,
    )
