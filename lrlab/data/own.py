"""Data sets made from others or from a user's own tensors: :func:`subset` (the first
examples, some classes), :func:`holdout` (a validation split) and :func:`from_tensors`."""

from __future__ import annotations

import numpy as np
import torch

from lrlab import _check
from lrlab.data.dataset import SPLITS, Dataset

__all__ = ["from_tensors", "holdout", "subset"]


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


def subset(
    dataset: Dataset,
    train: int | None = None,
    test: int | None = None,
    *,
    classes=None,
    augment: bool | None = None,
    device=None,
) -> Dataset:
    """The first ``train`` training and ``test`` test examples of a data set, optionally of
    some classes only, as a new :class:`Dataset`.

    Full-batch gradient descent needs a training set small enough to take whole: Cohen et
    al. (2021) use the first 5,000 CIFAR-10 images, the book a few hundred digits. The
    subset is normalised by its own training pixels' statistics.

    Parameters
    ----------
    dataset : Dataset
    train, test : int, optional
        How many of the first examples of each split to keep (all by default).
    classes : sequence of int, optional
        Keep only these labels, renumbered 0, 1, ... in the order given.
    augment : bool, optional
        Whether the subset's batches are augmented (random crops and flips); as
        ``dataset``'s by default. Full-batch gradient descent wants ``False``.
    device : torch.device or str, optional
        Where the subset lives; ``dataset.device`` by default.

    Examples
    --------
    >>> from lrlab.data import load
    >>> digits = load("digits", device="cpu")
    >>> subset(digits, 100, 50)
    Dataset('digits-100', train=100, test=50, input_shape=(1, 8, 8), num_classes=10, device=cpu)
    >>> subset(digits, 64, 64, classes=[0, 1]).classes
    ['0', '1']
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be an lrlab.data.Dataset, got {type(dataset).__name__}")
    counts = {}
    for split, count in (("train", train), ("test", test)):
        if count is not None:
            count = _check.integer(split, count, minimum=1)
        counts[split] = count
    kept = list(range(dataset.num_classes))
    if classes is not None:
        kept = [
            _check.integer("classes", c, minimum=0, maximum=dataset.num_classes - 1)
            for c in classes
        ]
        if len(set(kept)) != len(kept) or not kept:
            raise ValueError(f"classes must be distinct labels, got {list(classes)!r}")
    splits = []
    for split in SPLITS:
        x, y = dataset.raw(split)
        if classes is not None:
            keep = torch.isin(y, torch.tensor(kept, device=y.device))
            x, y = x[keep], y[keep]
            relabel = torch.full((dataset.num_classes,), -1, dtype=y.dtype, device=y.device)
            relabel[torch.tensor(kept, device=y.device)] = torch.arange(
                len(kept), dtype=y.dtype, device=y.device
            )
            y = relabel[y]
        splits.append((x[: counts[split]], y[: counts[split]]))
    label = f"{dataset.name}-" + ("v".join(str(c) for c in kept) + "-" if classes else "")
    return Dataset(
        label + str(len(splits[0][1])),
        splits[0],
        splits[1],
        [dataset.classes[c] for c in kept],
        scale=dataset.scale,
        augment_crop_flip=(
            dataset.augmentation is not None if augment is None else _check.flag("augment", augment)
        ),
        device=device if device is not None else dataset.device,
        normalize=dataset.normalized,
    )


def holdout(dataset: Dataset, fraction: float = 0.2, *, device=None) -> Dataset:
    """A validation split: the training set alone, its last ``fraction`` held out as the
    test split.

    Tuning on it never sees the real test set. The held-out examples are the last
    ``round(fraction * n)`` of the ``n`` training examples (at least one, and at least one
    left to train on), in the stored order; the split is normalised by its own training
    part's statistics, as :func:`subset` does.

    Parameters
    ----------
    dataset : Dataset
    fraction : float
        In (0, 1).
    device : torch.device or str, optional
        ``dataset.device`` by default.

    Examples
    --------
    >>> from lrlab.data import load
    >>> held = holdout(load("digits", device="cpu"), 0.25)
    >>> held.name, held.size("train"), held.size("test")
    ('digits-holdout', 1010, 337)
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be an lrlab.data.Dataset, got {type(dataset).__name__}")
    fraction = _check.number("fraction", fraction, 0, 1, low_open=True, high_open=True)
    images, labels = dataset.raw("train")
    n = len(labels)
    if n < 2:
        raise ValueError(f"dataset must hold at least 2 training examples, got {n}")
    keep = n - min(max(1, round(fraction * n)), n - 1)
    return Dataset(
        f"{dataset.name}-holdout",
        (images[:keep], labels[:keep]),
        (images[keep:], labels[keep:]),
        dataset.classes,
        scale=dataset.scale,
        augment_crop_flip=dataset.augmentation is not None,
        device=device if device is not None else dataset.device,
        normalize=dataset.normalized,
    )
