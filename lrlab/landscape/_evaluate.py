"""Shared machinery of :mod:`lrlab.landscape`: argument checks, restoring the model, and the
loss at many weight vectors (batched with vmap or one point at a time; see the package note).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn

LossFn = Callable[[nn.Module], torch.Tensor]


@contextlib.contextmanager
def restored(model: nn.Module) -> Iterator[None]:
    """Put the model in eval mode; on exit restore its mode and parameter values."""
    saved = [p.detach().clone() for p in model.parameters()]
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        with torch.no_grad():
            for p, value in zip(model.parameters(), saved, strict=True):
                p.copy_(value)
        model.train(was_training)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def check_vector(model: nn.Module, v, name: str, *, nonzero: bool = False) -> torch.Tensor:
    """Check that ``v`` is a finite flat vector with one entry per parameter."""
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(v).__name__}")
    n = count_parameters(model)
    if v.shape != (n,):
        raise ValueError(
            f"{name} must be a flat vector of length {n} (the model's parameters), "
            f"got shape {tuple(v.shape)}"
        )
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"{name} must be finite")
    if nonzero and float(v.norm()) == 0.0:
        raise ValueError(f"{name} must have a norm > 0, got a zero vector")
    first = next(model.parameters())
    return v.detach().to(first.device, first.dtype)


def check_grid(values, name: str) -> np.ndarray:
    """Check a 1-D array of finite numbers (radii, alphas, grid coordinates)."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got {values!r}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array[~np.isfinite(array)][:3].tolist()}")
    return array


def check_chunk(chunk) -> int:
    if isinstance(chunk, bool) or int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be an integer >= 1, got {chunk!r}")
    return int(chunk)


# --- evaluating the loss at many weight vectors ------------------------------------------


class _LossOf(nn.Module):
    """``forward()`` is ``loss_fn(model)``: lets functional_call swap the model's weights."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self) -> torch.Tensor:
        return self.loss_fn(self.model)


class Plane:
    """The weight vectors ``base + coefficients[i] @ directions``, made a chunk at a time.

    A 41 × 41 grid of an 85,000-parameter model would take 570 MB as one matrix (and a
    ResNet's far more); only ``chunk`` rows exist at once.
    """

    def __init__(self, base: torch.Tensor, directions: torch.Tensor, coefficients: np.ndarray):
        self.base, self.directions = base, directions
        self.coefficients = torch.as_tensor(coefficients, dtype=base.dtype, device=base.device)

    def __len__(self) -> int:
        return len(self.coefficients)

    def rows(self, start: int, stop: int) -> torch.Tensor:
        return self.base + self.coefficients[start:stop] @ self.directions


def _losses_batched(model, plane: Plane, loss_fn, chunk: int) -> torch.Tensor:
    from torch.func import functional_call, vmap

    wrapper = _LossOf(model, loss_fn)
    named = list(model.named_parameters())
    sizes = [p.numel() for _, p in named]

    def loss_at(vector: torch.Tensor) -> torch.Tensor:
        pieces = torch.split(vector, sizes)
        params = {
            f"model.{name}": piece.view_as(p)
            for (name, p), piece in zip(named, pieces, strict=True)
        }
        return functional_call(wrapper, params, ())

    batched = vmap(loss_at)
    return torch.cat([batched(plane.rows(i, i + chunk)) for i in range(0, len(plane), chunk)])


def _losses_one_by_one(model, plane: Plane, loss_fn) -> torch.Tensor:
    params = list(model.parameters())
    sizes = [p.numel() for p in params]
    out = []
    for i in range(len(plane)):
        vector = plane.rows(i, i + 1)[0]
        for p, piece in zip(params, torch.split(vector, sizes), strict=True):
            p.copy_(piece.view_as(p))
        out.append(loss_fn(model).detach().reshape(()))
    return torch.stack(out)


def _batch_by_default(device: torch.device) -> bool:
    """Whether ``batched=None`` tries vmap on ``device``.

    Measured with ``benchmarks/landscape.py``: on a CPU one forward pass per point over a
    whole data set is already a large, efficient matrix product, and vmap's batched pass was
    slower; on a GPU, batching grid points is what fills the device.
    """
    return device.type == "cuda"


def losses_at(model, plane: Plane, loss_fn, chunk: int, batched: bool | None) -> np.ndarray:
    """Loss at each weight vector of ``plane``; see the note on vmap in :mod:`lrlab.landscape`."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(model), got {loss_fn!r}")
    if batched not in (None, True, False):
        raise ValueError(
            f"batched must be None (try, then fall back), True or False, got {batched!r}"
        )
    with restored(model), torch.no_grad():
        if batched is None and not _batch_by_default(plane.base.device):
            batched = False
        if batched is not False:
            try:
                values = _losses_batched(model, plane, loss_fn, chunk)
            except RuntimeError:
                # vmap refuses data-dependent Python (``.item()``, in-place buffer updates):
                # such a loss is evaluated one point at a time.
                if batched:
                    raise
            else:
                return values.double().cpu().numpy()
        return _losses_one_by_one(model, plane, loss_fn).double().cpu().numpy()
