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

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lrlab import _check
from lrlab._cifar import SOURCES, ChecksumError, CifarSource, cifar_tensors

__all__ = [
    "NAMES",
    "SOURCES",
    "ChecksumError",
    "CifarSource",
    "Dataset",
    "crop_flip",
    "from_tensors",
    "load",
    "torchvision_loader",
]

SPLITS = ("train", "test")
#: What a data set's targets are: class labels, or real numbers (see :attr:`Dataset.task`).
TASKS = ("classification", "regression")


#: Every name :func:`load` accepts.
NAMES: tuple[str, ...] = ("digits", "mnist1d", *SOURCES)


def crop_flip(x: torch.Tensor, shifts: torch.Tensor, flips: torch.Tensor, padding: int = 4):
    """Random-crop-with-padding and horizontal flip of a whole batch at once.

    Image ``i`` is zero-padded by ``padding`` pixels on each side, cropped back to its
    size at offset ``shifts[i] = (dy, dx)`` and mirrored left-right where ``flips[i]``:
    exactly torchvision's ``RandomCrop(size, padding)`` followed by
    ``RandomHorizontalFlip`` with those random draws, for all images at once.

    Parameters
    ----------
    x : torch.Tensor
        Images ``(batch, channels, height, width)``, any dtype.
    shifts : torch.Tensor
        Integer offsets ``(batch, 2)`` in ``[0, 2 * padding]``, on ``x``'s device.
    flips : torch.Tensor
        Booleans ``(batch,)``, on ``x``'s device.
    padding : int
        Zero padding on each side, >= 0.

    Returns
    -------
    torch.Tensor
        Same shape and dtype as ``x``.

    Examples
    --------
    >>> x = torch.arange(4.0).reshape(1, 1, 2, 2)
    >>> crop_flip(x, torch.tensor([[1, 1]]), torch.tensor([True]), padding=1)[0, 0]
    tensor([[1., 0.],
            [3., 2.]])
    """
    if x.ndim != 4:
        raise ValueError(f"x must be a batch of images (batch, channels, h, w), got {x.shape}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    batch, channels, height, width = x.shape
    if shifts.shape != (batch, 2) or flips.shape != (batch,):
        raise ValueError(
            f"shifts must have shape ({batch}, 2) and flips ({batch},), "
            f"got {tuple(shifts.shape)} and {tuple(flips.shape)}"
        )
    padded = F.pad(x, (padding, padding, padding, padding))
    dev = x.device
    # Two gathers: pick each image's rows, then its (possibly mirrored) columns.
    rows = shifts[:, 0, None] + torch.arange(height, device=dev)
    rows = rows.view(batch, 1, height, 1).expand(batch, channels, height, width + 2 * padding)
    col = torch.arange(width, device=dev)
    cols = shifts[:, 1, None] + torch.where(flips[:, None], width - 1 - col, col)
    cols = cols.view(batch, 1, 1, width).expand(batch, channels, height, width)
    return padded.gather(2, rows).gather(3, cols)


class Dataset:
    """Train and test images on one device; batches normalised and augmented there.

    Parameters
    ----------
    name : str
        Name for display and results files.
    train, test : tuple of tensors
        ``(images, labels)``: images ``(n, channels, height, width)``, or
        ``(n, channels, length)`` for sequences, stored as ``uint8`` (pixels up to
        ``scale``) or ``float32`` (values already real numbers, ``scale=1``); with
        ``normalize=False``, ``float32`` inputs of any shape ``(n, ...)``. Labels: integers
        ``(n,)`` in ``[0, len(classes))``, or floating-point targets ``(n,)`` or ``(n, k)``
        for regression (stored as ``float32``).
    classes : sequence of str
        Class names; their number is ``num_classes``. For regression, names of the ``k``
        target values (one for targets of shape ``(n,)``): ``num_classes`` is then the
        number of outputs a model needs.
    scale : float
        Pixel value that means full intensity (255 for CIFAR, 16 for digits).
    augment_crop_flip : bool
        Whether ``batches(..., augment=True)`` applies random crops with 4-pixel padding
        and horizontal flips. Sensible for natural images (CIFAR), not for digits (a
        mirrored 2 is no 2 and a 4-pixel shift moves an 8×8 digit half out of frame).
    device : torch.device or str, optional
        Where the tensors live; ``lrlab.device()`` by default.
    normalize : bool
        Normalise each batch by the training split's per-channel mean and standard
        deviation; ``False`` serves the inputs as stored (``mean`` 0 and ``std`` 1).

    Attributes
    ----------
    name, classes, num_classes, input_shape, device
    task : {"classification", "regression"}
        Integer labels or real-valued targets, by the labels' dtype.
    normalized : bool
        The ``normalize`` option: whether batches are normalised.
    augmentation : str or None
        ``"crop+flip"`` or ``None`` (``augment=True`` then changes nothing).
    scale : float
    mean, std : torch.Tensor
        Per-channel mean and standard deviation of the training pixels (in ``[0, 1]``
        units) used to normalise every batch.

    Examples
    --------
    >>> x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    >>> y = torch.tensor([0, 1, 0, 1, 0, 1])
    >>> ds = Dataset("tiny", (x[:4], y[:4]), (x[4:], y[4:]), ["cat", "dog"], device="cpu")
    >>> ds.input_shape, ds.num_classes, ds.size("test")
    ((3, 32, 32), 2, 2)
    """

    def __init__(
        self,
        name: str,
        train: tuple[torch.Tensor, torch.Tensor],
        test: tuple[torch.Tensor, torch.Tensor],
        classes,
        *,
        scale: float = 255.0,
        augment_crop_flip: bool = True,
        device=None,
        normalize: bool = True,
    ):
        import lrlab

        classes = [str(c) for c in classes]
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        normalize = _check.flag("normalize", normalize)
        self.device = torch.device(device) if device is not None else lrlab.device()
        self._images, self._labels = {}, {}
        tasks = set()
        for split, (images, labels) in zip(SPLITS, (train, test), strict=True):
            images, labels = torch.as_tensor(images), torch.as_tensor(labels)
            if normalize and (
                images.ndim not in (3, 4)
                or not (images.dtype == torch.uint8 or images.dtype == torch.float32)
            ):
                raise ValueError(
                    f"{split} images must be uint8 or float32 (n, channels, h, w) or "
                    f"(n, channels, length), got {images.dtype} {tuple(images.shape)}"
                )
            if not normalize and (images.ndim < 2 or images.dtype != torch.float32):
                raise ValueError(
                    f"{split} inputs must be float32 (n, ...) with normalize=False, got "
                    f"{images.dtype} {tuple(images.shape)}"
                )
            tasks.add(_task(split, labels, len(images), len(classes)))
            self._images[split] = images.to(self.device)
            dtype = torch.float32 if labels.is_floating_point() else torch.int64
            self._labels[split] = labels.to(self.device, dtype)
        if len(tasks) > 1:
            raise ValueError("train and test labels must both be integers or both be floats")
        if self._images["train"].shape[1:] != self._images["test"].shape[1:]:
            raise ValueError("train and test images must have the same shape")
        if self._labels["train"].shape[1:] != self._labels["test"].shape[1:]:
            raise ValueError("train and test targets must have the same shape")
        self.name = name
        self.task = tasks.pop()
        self.classes = classes
        self.num_classes = len(classes)
        self.input_shape = tuple(self._images["train"].shape[1:])
        self.augmentation = "crop+flip" if augment_crop_flip else None
        self.scale = float(scale)
        self.normalized = normalize
        self._gain = self._bias = None
        if not normalize:
            channels = self.input_shape[0]
            self.mean, self.std = torch.zeros(channels), torch.ones(channels)
            return
        self.mean, self.std = _channel_stats(self._images["train"], scale)
        # x_normalised = (x / scale - mean) / std, folded into one multiply-add.
        per_channel = (1, -1) + (1,) * (len(self.input_shape) - 1)
        self._gain = (1.0 / (scale * self.std)).view(per_channel).to(self.device)
        self._bias = (-self.mean / self.std).view(per_channel).to(self.device)

    def __repr__(self) -> str:
        task = ", task='regression'" if self.task == "regression" else ""
        return (
            f"Dataset({self.name!r}, train={self.size('train')}, test={self.size('test')}, "
            f"input_shape={self.input_shape}, num_classes={self.num_classes}{task}, "
            f"device={self.device})"
        )

    def _split(self, split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return split

    def size(self, split: str) -> int:
        """Number of examples in ``split`` (``"train"`` or ``"test"``)."""
        return len(self._labels[self._split(split)])

    def num_batches(self, split: str, batch_size: int) -> int:
        """Batches per pass over ``split``: ``ceil(size / batch_size)`` (the last may be short).

        Examples
        --------
        >>> load("digits", device="cpu").num_batches("train", 128)
        11
        """
        batch_size = _check.integer("batch_size", batch_size, minimum=1)
        return -(-self.size(split) // batch_size)

    def raw(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The split as stored: ``uint8`` images ``(n, c, h, w)`` and int64 labels (float32
        targets for regression)."""
        split = self._split(split)
        return self._images[split], self._labels[split]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """Turn ``uint8`` images of this data set into normalised float32 (as they are,
        in float32, for a data set made with ``normalize=False``)."""
        if self._gain is None:
            return images.float()
        return images.float() * self._gain + self._bias

    def tensors(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split, model-ready: normalised float32 images and int64 labels
        (float32 targets for regression).

        Makes a float copy of the split (4 bytes per pixel) on the device; for large
        sets iterate :meth:`batches` with ``shuffle=False, augment=False`` instead.
        """
        split = self._split(split)
        return self.normalize(self._images[split]), self._labels[split]

    def batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = True,
        augment: bool = True,
        seed: int = 0,
    ):
        """Iterate over one pass of ``split`` in batches, on the device.

        Parameters
        ----------
        split : {"train", "test"}
        batch_size : int
            >= 1; the last batch holds the remainder.
        shuffle : bool
            Visit the examples in a random order.
        augment : bool
            Apply :attr:`augmentation` (random crop with 4-pixel padding and horizontal
            flip for CIFAR; nothing for digits, see the class docstring).
        seed : int
            Seed of the order and the augmentation: the same seed gives the same batches,
            on any device.

        Returns
        -------
        iterator of (torch.Tensor, torch.Tensor)
            Normalised float32 images and int64 labels (float32 targets for regression).
        """
        split = self._split(split)
        batch_size = _check.integer("batch_size", batch_size, minimum=1)
        images, labels = self._images[split], self._labels[split]
        n = len(labels)
        gen = torch.Generator().manual_seed(int(seed))
        order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
        order = order.to(self.device)
        crop = augment and self.augmentation == "crop+flip"
        if crop:  # one epoch's random draws, made on the CPU so every device sees the same
            shifts = torch.randint(0, 9, (n, 2), generator=gen).to(self.device)
            flips = (torch.rand(n, generator=gen) < 0.5).to(self.device)

        def generate():
            for start in range(0, n, batch_size):
                window = slice(start, start + batch_size)
                idx = order[window]
                x = images[idx]
                if crop:
                    x = crop_flip(x, shifts[window], flips[window], padding=4)
                yield self.normalize(x), labels[idx]

        return generate()


def _task(split: str, labels: torch.Tensor, n: int, num_classes: int) -> str:
    """Check one split's labels: ``"classification"`` for integers in ``[0, num_classes)``,
    ``"regression"`` for floats of shape ``(n,)`` or ``(n, num_classes)``."""
    if labels.is_floating_point():
        k = labels.shape[1] if labels.ndim == 2 else 1
        if labels.ndim not in (1, 2) or len(labels) != n or k != num_classes:
            raise ValueError(
                f"{split} targets must have shape ({n},) or ({n}, k) with k = "
                f"len(classes) = {num_classes}, got {tuple(labels.shape)}"
            )
        return "regression"
    if labels.shape != (n,) or labels.dtype == torch.bool:
        raise ValueError(f"{split} labels must be integers of shape ({n},)")
    if n and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{split} labels must be in [0, {num_classes})")
    return "classification"


class _PilImages(torch.utils.data.Dataset):
    """Images as torchvision's CIFAR10 serves them: one PIL image per item, then transforms."""

    def __init__(self, images, labels, transform):
        self.images = images.permute(0, 2, 3, 1).cpu().numpy()  # (n, h, w, c) like torchvision
        self.labels = labels.cpu().tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        image = self.images[i]
        image = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        return self.transform(image), self.labels[i]


def torchvision_loader(
    dataset: Dataset,
    split: str,
    batch_size: int,
    shuffle: bool = True,
    augment: bool = True,
    num_workers: int = 2,
    seed: int = 0,
) -> torch.utils.data.DataLoader:
    """The classic CPU input pipeline over the same images, for comparison.

    Per image on CPU worker processes: PIL image, ``RandomCrop(size, padding=4)`` and
    ``RandomHorizontalFlip()`` (when ``augment`` and the data set augments), ``ToTensor()``,
    ``Normalize(mean, std)``; batches come out in (pinned, on CUDA) CPU memory and must be
    copied to the device. ``lrlab bench train`` times it against :meth:`Dataset.batches`.

    Returns
    -------
    torch.utils.data.DataLoader
        Yielding ``(x, y)`` float32/int64 CPU tensors.
    """
    from torchvision import transforms

    split = dataset._split(split)
    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    steps = []
    if augment and dataset.augmentation == "crop+flip":
        size = dataset.input_shape[1:]
        steps += [transforms.RandomCrop(size, padding=4), transforms.RandomHorizontalFlip()]
    # ToTensor divides by 255; rescale the statistics to match data sets stored in other units.
    units = dataset.scale / 255.0
    mean, std = (dataset.mean * units).tolist(), (dataset.std * units).tolist()
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    images, labels = dataset.raw(split)
    return torch.utils.data.DataLoader(
        _PilImages(images, labels, transforms.Compose(steps)),
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        pin_memory=dataset.device.type == "cuda",
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed),
    )


def _channel_stats(images: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of ``images / scale``, accumulated in float64 chunks."""
    total = torch.zeros(images.shape[1], dtype=torch.float64, device=images.device)
    squares = torch.zeros_like(total)
    dims = (0, *range(2, images.ndim))  # all but the channel
    for chunk in images.split(4096):
        chunk = chunk.to(torch.float64) / scale
        total += chunk.sum(dim=dims)
        squares += (chunk**2).sum(dim=dims)
    count = images.numel() // images.shape[1]
    mean = total / count
    std = (squares / count - mean**2).clamp_min(1e-12).sqrt()
    return mean.float().cpu(), std.float().cpu()


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
    if name not in NAMES:
        raise ValueError(f"name must be one of {list(NAMES)}, got {name!r}")
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


def from_tensors(
    x_train,
    y_train,
    x_test,
    y_test,
    *,
    name: str = "tensors",
    classes=None,
    device=None,
) -> Dataset:
    """A :class:`Dataset` of your own tensors, served as they are (no normalisation).

    The inputs are stored as ``float32`` and every batch is a slice of them, unchanged:
    prepare them (standardise, whiten, reshape) before. The targets decide the task:

    - integer labels ``(n,)``: classification into ``num_classes`` classes, the number
      ``classes`` gives (or the largest label + 1); :func:`lrlab.train.fit` then trains
      with cross-entropy by default and measures accuracy;
    - floating-point targets ``(n,)`` or ``(n, k)``: regression (``task="regression"``,
      ``num_classes = k`` outputs, 1 for ``(n,)``); ``fit`` then trains with the square loss
      :math:`\\tfrac12\\lVert f(x) - y\\rVert^2` (``loss="mse"``) and records no
      accuracy (NaN).

    ``fit``, the range test, :class:`lrlab.curvature.SharpnessTracker` and
    :class:`lrlab.scaling.NoiseScaleTracker` accept the result like a built-in data set.

    Parameters
    ----------
    x_train, x_test : torch.Tensor or numpy.ndarray
        Inputs ``(n, ...)`` of real numbers; the shape after the first axis is
        ``input_shape`` and must agree between the splits.
    y_train, y_test : torch.Tensor or numpy.ndarray
        Integer labels ``(n,)``, or floating-point targets ``(n,)`` / ``(n, k)``; both
        splits the same kind.
    name : str
        Name for display and results files.
    classes : int or sequence of str, optional
        The number of classes or their names (of the ``k`` targets for regression); by
        default the largest label + 1 (``k``), named by number (``"y0"``, ...; ``"y"``
        for one target).
    device : torch.device or str, optional
        ``lrlab.device()`` by default.

    Returns
    -------
    Dataset

    Examples
    --------
    >>> x = torch.randn(100, 3)
    >>> y = x @ torch.tensor([1.0, -2.0, 0.5])
    >>> ds = from_tensors(x[:80], y[:80], x[80:], y[80:], name="line", device="cpu")
    >>> ds.task, ds.input_shape, ds.num_classes, ds.size("test")
    ('regression', (3,), 1, 20)
    >>> torch.equal(next(ds.batches("train", 80, shuffle=False))[0], x[:80])
    True
    >>> labels = (y > 0).long()
    >>> from_tensors(x[:80], labels[:80], x[80:], labels[80:], device="cpu").num_classes
    2
    """
    xs, ys = [], []
    for which, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        x, y = torch.as_tensor(x), torch.as_tensor(y)
        for what, t in ((f"x_{which}", x), (f"y_{which}", y)):
            if t.dtype == torch.bool or t.is_complex():
                raise TypeError(f"{what} must hold real numbers, got {t.dtype}")
        if x.ndim < 2:
            raise ValueError(f"x_{which} must have shape (n, ...) with >= 2 axes, got {x.shape}")
        if len(y) != len(x):
            raise ValueError(
                f"y_{which} must hold one target per example of x_{which} ({len(x)}), got {len(y)}"
            )
        xs.append(x.detach().to(torch.float32))
        ys.append(y.detach())
    regression = ys[0].is_floating_point()
    if ys[1].is_floating_point() != regression:
        raise ValueError("y_train and y_test must both be integers or both be floats")
    if regression:
        count = ys[0].shape[1] if ys[0].ndim == 2 else 1
    else:
        count = 1 + max(int(y.max()) if len(y) else 0 for y in ys)
    if classes is None:
        names = [str(c) for c in range(count)]
        if regression:
            names = ["y"] if ys[0].ndim == 1 else [f"y{c}" for c in range(count)]
    elif isinstance(classes, (int, np.integer)) and not isinstance(classes, bool):
        names = [str(c) for c in range(_check.integer("classes", classes, minimum=1))]
    else:
        names = [str(c) for c in classes]
    return Dataset(
        name,
        (xs[0], ys[0]),
        (xs[1], ys[1]),
        names,
        scale=1.0,
        augment_crop_flip=False,
        device=device,
        normalize=False,
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
