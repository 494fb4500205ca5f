"""Models for the book's experiments, built by name with :func:`build`.

Each family lives in its own module and exposes ``BUILDERS``, a mapping from a model
name to a function ``(num_classes, input_shape, **options) -> torch.nn.Module``:

- :mod:`lrlab.models.small` — ``"mlp"``, ``"small_cnn"``
- :mod:`lrlab.models.sequence` — ``"cnn1d"`` (1-D sequences such as MNIST-1D)
- :mod:`lrlab.models.resnet` — ``"resnet18"``, ``"resnet20"``, ``"resnet56"``, ``"resnet110"``
- :mod:`lrlab.models.scale_invariant` — ``"scale_invariant_mlp"``, ``"scale_invariant_cnn"``
- :mod:`lrlab.models.wide` — ``"wrn28_10"`` (wide residual network, SGDR's CIFAR net)
- :mod:`lrlab.models.ntk` — ``"two_layer_relu"`` (NTK parametrisation, the catapult's net)

:func:`preserved` (from :mod:`lrlab.models.state`) restores a model's weights and train/eval
mode after a measurement.
"""

from __future__ import annotations

from importlib import import_module

from lrlab import _check
from lrlab.models.state import preserved

__all__ = ["build", "names", "preserved"]

_FAMILIES = ("small", "sequence", "resnet", "scale_invariant", "wide", "ntk")


def _builders() -> dict:
    builders: dict = {}
    for family in _FAMILIES:
        builders.update(import_module(f"lrlab.models.{family}").BUILDERS)
    return builders


def names() -> list[str]:
    """Return the names :func:`build` accepts, sorted."""
    return sorted(_builders())


def build(name: str, num_classes: int = 10, input_shape=(3, 32, 32), *, seed=None, **options):
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
    seed : int, optional
        Seed PyTorch's global generator with it first (``torch.manual_seed``), so that the
        initial weights are a function of the seed; by default the generator is used as
        it stands.
    **options
        Passed to the family's builder (widths, depth, ...).

    Returns
    -------
    torch.nn.Module

    Examples
    --------
    >>> a, b = (build("mlp", 10, (1, 8, 8), seed=0) for _ in range(2))
    >>> bool((a[1].weight == b[1].weight).all())
    True
    """
    builders = _builders()
    _check.choice("name", name, sorted(builders))
    num_classes = _check.integer("num_classes", num_classes, minimum=1)
    if seed is not None:
        import torch

        torch.manual_seed(_check.integer("seed", seed, minimum=0))
    return builders[name](num_classes, tuple(input_shape), **options)
