"""The :class:`Dataset`: train and test tensors on one device, batches normalised and augmented
there (:func:`crop_flip`); what the built-in data sets, a user's own tensors and subsets all
are."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lrlab import _check

__all__ = ["SPLITS", "TASKS", "Dataset", "crop_flip"]

SPLITS = ("train", "test")
#: What a data set's targets are: class labels, or real numbers (see :attr:`Dataset.task`).
TASKS = ("classification", "regression")


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
    padding = _check.integer("padding", padding, minimum=0)
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
        scale = _check.number("scale", scale, low=0, low_open=True)
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
        return _check.choice("split", split, SPLITS)

    def size(self, split: str) -> int:
        """Number of examples in ``split`` (``"train"`` or ``"test"``)."""
        return len(self._labels[self._split(split)])

    def num_batches(self, split: str, batch_size: int) -> int:
        """Batches per pass over ``split``: ``ceil(size / batch_size)`` (the last may be short).

        Examples
        --------
        >>> from lrlab.data import load
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
    if n:
        _check.integer(f"{split} labels", int(labels.min()), minimum=0)
        _check.integer(f"{split} labels", int(labels.max()), maximum=num_classes - 1)
    return "classification"


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
