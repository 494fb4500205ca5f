"""Put a model back as it was: its parameters, buffers and train/eval mode.

Measurements on a model (a Hessian eigenvalue at some other weights, a loss surface, an
evaluation in eval mode) must leave it exactly as they found it, even when they fail.
:func:`preserved` is the one context manager that every module doing so uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from lrlab import _check

__all__ = ["preserved"]


@contextmanager
def preserved(model: nn.Module, *, weights: bool = True, mode: bool = True) -> Iterator[nn.Module]:
    """Restore ``model``'s parameters and buffers (``weights``) and its train/eval mode
    (``mode``, of every submodule) when the block ends, normally or by an exception.

    The weights are copied once on entry (a clone of each parameter and buffer, on its
    device) and written back in place on exit, so references to the parameters (an
    optimizer's) stay valid.

    Parameters
    ----------
    model : torch.nn.Module
    weights : bool
        Restore every parameter and buffer (BatchNorm's running statistics included).
    mode : bool
        Restore each submodule's ``training`` flag.

    Yields
    ------
    torch.nn.Module
        ``model`` itself.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    >>> before = net[0].weight.detach().clone()
    >>> with preserved(net):
    ...     _ = net.eval()
    ...     with torch.no_grad():
    ...         _ = net[0].weight.zero_()
    >>> net.training, torch.equal(net[0].weight, before)
    (True, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    weights = _check.flag("weights", weights)
    mode = _check.flag("mode", mode)
    saved = (
        {name: t.detach().clone() for name, t in model.state_dict(keep_vars=True).items()}
        if weights
        else {}
    )
    modes = [(m, m.training) for m in model.modules()] if mode else []
    try:
        yield model
    finally:
        if weights:
            current = model.state_dict(keep_vars=True)
            with torch.no_grad():
                for name, value in saved.items():
                    current[name].copy_(value)
        for module, training in modes:
            module.training = training
