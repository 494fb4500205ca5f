"""Models for the book's experiments, built by name with :func:`build`.

Each family lives in its own module and exposes ``BUILDERS``, a mapping from a model
name to a function ``(num_classes, input_shape, **options) -> torch.nn.Module``:

- :mod:`lrlab.models.small` — ``"mlp"``, ``"small_cnn"``
- :mod:`lrlab.models.sequence` — ``"cnn1d"`` (1-D sequences such as MNIST-1D)
- :mod:`lrlab.models.resnet` — ``"resnet18"``, ``"resnet20"``, ``"resnet56"``, ``"resnet110"``
- :mod:`lrlab.models.scale_invariant` — ``"scale_invariant_mlp"``, ``"scale_invariant_cnn"``
- :mod:`lrlab.models.wide` — ``"wrn28_10"`` (wide residual network, SGDR's CIFAR net)
"""

from __future__ import annotations

from importlib import import_module

_FAMILIES = ("small", "sequence", "resnet", "scale_invariant", "wide")


def _builders() -> dict:
    builders: dict = {}
    for family in _FAMILIES:
        builders.update(import_module(f"lrlab.models.{family}").BUILDERS)
    return builders


def names() -> list[str]:
    """Return the names :func:`build` accepts, sorted."""
    return sorted(_builders())


def build(name: str, num_classes: int = 10, input_shape=(3, 32, 32), **options):
    """Build a model by name.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    num_classes : int
        Number of output logits.
    input_shape : tuple of int
        Shape of one input example, ``(channels, height, width)`` or, for sequences,
        ``(channels, length)``; a data set's ``input_shape`` attribute gives it
        (``(1, 8, 8)`` for digits, ``(1, 40)`` for MNIST-1D).
    **options
        Passed to the family's builder (widths, depth, ...).

    Returns
    -------
    torch.nn.Module
    """
    builders = _builders()
    if name not in builders:
        raise ValueError(f"name must be one of {sorted(builders)}, got {name!r}")
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return builders[name](int(num_classes), tuple(input_shape), **options)
