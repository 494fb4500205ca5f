"""The coordinate check: does each layer's activation size stay put as the network widens?

Yang et al. (2021, *Tensor Programs V*, Section 7.2 and Appendix D.1) check a
parametrization by training networks of growing width for a few steps at one learning rate
and plotting, per layer, the average size of an activation's coordinates against width. In
the standard parametrization some blow up with width after the first step (the output
layer's, under SGD); in μP every curve is flat. :func:`coordinate_check` measures those
curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from lrlab import _check
from lrlab.scaling.parametrization import mup_param_groups
from lrlab.step import choose_loss, epoch_seed, prepare

__all__ = ["coordinate_check"]


def _batches(data, batch_size: int, seed: int):
    """Training batches, unaugmented, epoch after epoch, each epoch shuffled by (seed, epoch)."""
    epoch = 0
    while True:
        yield from data.batches("train", batch_size, augment=False, seed=epoch_seed(seed, epoch))
        epoch += 1


def _recorder(store: list):
    """A forward hook appending the mean absolute value of the module's output to ``store``."""

    def record(module, inputs, output):
        store.append(output.detach().abs().mean().double())

    return record


def coordinate_check(
    build: Callable[[int], nn.Module],
    widths: Sequence[int],
    data,
    *,
    steps: int = 4,
    lr: float = 0.1,
    optimizer: str = "sgd",
    base_width: int | None = None,
    batch_size: int = 64,
    seed: int = 0,
    loss: str | None = None,
) -> dict[str, np.ndarray]:
    """Mean absolute activation of every layer, per width, over the first training steps.

    For each width, ``build(width)`` makes a network (with PyTorch's generator seeded by
    ``seed``), which then takes ``steps`` optimizer steps at rate ``lr`` on the same
    batches for every width; forward hooks record, in each step's forward pass, the mean of
    ``|activation|`` over the batch and the coordinates, for the output of every module that
    has no submodules (Yang et al. 2021, Appendix D.1: the "l1" of the ``mup`` package's
    coordinate check). Step ``t``'s record is taken after ``t`` updates (``t = 0``: at
    initialisation). PyTorch's global random generators are left as they were.

    Parameters
    ----------
    build : callable
        ``build(width) -> torch.nn.Module`` for ``data``, e.g. ``lambda w:
        models.build("mlp", 10, shape, width=w, parametrization="mup", base_width=64)``.
    widths : sequence of int
        Widths to build, each >= 1.
    data : lrlab.data.Dataset
    steps : int
        Optimizer steps per width, >= 1.
    lr : float
        The rate, > 0 (the base rate η with ``base_width``).
    optimizer : {"sgd", "adam"}
        Plain SGD (no momentum, no weight decay) or Adam.
    base_width : int, optional
        Train with μP's per-layer rates (:func:`lrlab.scaling.mup_param_groups`) relative
        to this width; the networks must then be μP MLPs built with it. By default every
        parameter takes ``lr``.
    batch_size : int
        >= 1.
    seed : int
        Seed of the initial weights and the batch order, >= 0.
    loss : {"cross_entropy", "mse"}, optional
        By default the one :func:`lrlab.train.fit` picks for ``data``.

    Returns
    -------
    dict of str to numpy.ndarray
        Module name (as ``model.named_modules()`` gives it) to an array
        ``(len(widths), steps)`` of mean absolute activations.

    Examples
    --------
    >>> from lrlab import data, models
    >>> digits = data.load("digits", device="cpu")
    >>> build = lambda w: models.build("mlp", 10, (1, 8, 8), width=w)
    >>> sizes = coordinate_check(build, [32, 64], digits, steps=2)
    >>> list(sizes)  # Flatten, then Linear and ReLU, then the readout
    ['0', '1', '2', '3', '4', '5']
    >>> sizes["5"].shape
    (2, 2)
    """
    if not callable(build):
        raise TypeError(f"build must be a callable build(width) -> module, got {build!r}")
    widths = _check.integers("widths", widths, minimum=1)
    steps = _check.integer("steps", steps, minimum=1)
    lr = _check.number("lr", lr, low=0, low_open=True)
    _check.choice("optimizer", optimizer, ("sgd", "adam"))
    if base_width is not None:
        base_width = _check.integer("base_width", base_width, minimum=1)
    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    seed = _check.integer("seed", seed, minimum=0)
    loss = choose_loss(loss, getattr(data, "task", "classification"))
    device = data.device
    sizes: dict[str, np.ndarray] = {}
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for i, width in enumerate(widths):
            torch.manual_seed(seed)
            model = build(width).to(device)
            groups = (
                [{"params": list(model.parameters())}]
                if base_width is None
                else mup_param_groups(model, base_width, optimizer, lr=lr)
            )
            opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(groups, lr=lr)
            run = prepare(
                model, device, optimizer=opt, precision="fp32", channels_last=False, loss=loss
            )
            leaves = [(n, m) for n, m in model.named_modules() if not any(m.children())]
            records: dict[str, list[torch.Tensor]] = {name: [] for name, _ in leaves}
            handles = [
                module.register_forward_hook(_recorder(records[name])) for name, module in leaves
            ]
            try:
                model.train()
                for _, (x, y) in zip(range(steps), _batches(data, batch_size, seed), strict=False):
                    run.step(x, y, lr)
            finally:
                for handle in handles:
                    handle.remove()
            for name, values in records.items():
                sizes.setdefault(name, np.zeros((len(widths), steps)))[i] = (
                    torch.stack(values).cpu().numpy()
                )
    return sizes
