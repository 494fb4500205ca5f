"""Shared machinery of :mod:`lrlab.landscape`: argument checks, eval mode with the model
restored, and the loss at many weight vectors of a plane (see the package note).

The loss at the weight vector ``w`` is ``loss_fn(model)`` with ``w`` swapped in for the
model's parameters by ``torch.func.functional_call``; ``torch.func.vmap`` evaluates a chunk of
grid points in one pass. A linear or convolutional layer that sees an input independent of
the weights (the data, typically: the first layer) is linear in its own weights, so on the
plane ``base + Σ_k c_k d_k`` its output is ``f(x; base) + Σ_k c_k f(x; d_k)``: where its
fan-in makes that worth it, the layer runs once per direction for the whole grid, and each
point only adds the products.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, vmap

from lrlab.models import preserved

LossFn = Callable[[nn.Module], torch.Tensor]

# Layers whose output is linear in their (weight, bias) jointly, for a fixed input. Exact
# types: a subclass may override forward with something that is not.
LINEAR_IN_PARAMETERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

# Combining stored outputs costs a pass over the layer's output per direction (memory-bound);
# running the layer costs its fan-in (inputs per output) multiply-adds per output, in a fast
# matrix product. Measured on one CPU thread, with two directions, against running the
# layer at every point, the stored outputs lost 8-10% at fan-in 5 (cnn1d) and 27 (a 3x3
# convolution of RGB images) and broke even at 64 (the digits MLP, 4% ahead, within noise);
# at 3,072 (an MLP on CIFAR-shaped images) the surface took a sixth of the loop's time
# (benchmarks/landscape.py --case cifar-mlp). They are used from a fan-in of this many per
# direction.
FAN_IN_PER_DIRECTION = 32

# Bytes of activations and weight vectors that one batched pass may hold on a CPU. There,
# batching pays only against Python's overhead per point: a 6-16-12-3 network on 64
# examples (a few kB a point) ran 6 times faster with a 21 x 21 grid in one pass, while on
# the digits MLP (6 MB a point) eight points per pass took 1.6 times as long as one, and on
# 100 of its examples 1, 10 or 32 points per pass were within noise of each other. On a GPU,
# batching is what fills the device: a quarter of its free memory.
CPU_BUDGET = 2**23


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[None]:
    """Eval mode inside the block; weights, buffers and every submodule's mode restored."""
    with preserved(model):
        model.eval()
        yield


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


def check_chunk(chunk) -> int | None:
    if chunk is None:
        return None
    if isinstance(chunk, bool) or int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be None or an integer >= 1, got {chunk!r}")
    return int(chunk)


class Plane:
    """The weight vectors ``base + coefficients[i] @ directions``, ``directions`` of shape
    ``(k, n_parameters)``, ``coefficients`` of shape ``(points, k)``.

    The vectors are made a chunk at a time, inside the batched pass: a 41 × 41 grid of an
    85,000-parameter model would take 570 MB as one matrix (and a ResNet's far more).
    """

    def __init__(self, base: torch.Tensor, directions: torch.Tensor, coefficients: np.ndarray):
        self.base, self.directions = base, directions
        self.coefficients = torch.as_tensor(coefficients, dtype=base.dtype, device=base.device)

    def __len__(self) -> int:
        return len(self.coefficients)


class _Layout:
    """Where each parameter sits in the flat vector (the order of ``model.parameters()``)."""

    def __init__(self, model: nn.Module):
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.sizes = [p.numel() for _, p in named]
        self.index = {id(p): i for i, (_, p) in enumerate(named)}

    def split(self, vector: torch.Tensor) -> list[torch.Tensor]:
        pieces = torch.split(vector, self.sizes)
        return [p.view(s) for p, s in zip(pieces, self.shapes, strict=True)]

    def named(self, vector: torch.Tensor, prefix: str = "") -> dict[str, torch.Tensor]:
        return dict(zip([prefix + n for n in self.names], self.split(vector), strict=True))

    def own(self, module: nn.Module, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """The pieces of ``vector`` that are ``module``'s own parameters, by local name."""
        pieces = self.split(vector)
        return {
            name: pieces[self.index[id(p)]] for name, p in module.named_parameters(recurse=False)
        }


class _LossOf(nn.Module):
    """``forward()`` is ``loss_fn(model)``: lets functional_call swap the model's weights."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self) -> torch.Tensor:
        return self.loss_fn(self.model)


def _probe(wrapper: _LossOf, layout: _Layout, plane: Plane) -> tuple[dict, int]:
    """Run the loss once at ``plane.base`` with parameters that require gradients, and record

    - for each :data:`LINEAR_IN_PARAMETERS` layer with a fan-in of at least
      :data:`FAN_IN_PER_DIRECTION` per direction, the inputs it received that need no
      gradient while its output does (autograd was on, so the input came from the data
      alone, not from the weights);
    - the bytes one grid point takes: every leaf module's output and the weight vector.

    Autograd only marks what depends on the weights here: the tensors it would save for a
    backward pass are dropped at once, so the probe takes no more memory than a plain pass.
    """
    base, directions = plane.base, plane.directions
    inputs: dict[nn.Module, list[torch.Tensor]] = {}
    size = [base.numel() * base.element_size()]

    def record(module, args, kwargs, output):
        if isinstance(output, torch.Tensor) and next(module.children(), None) is None:
            size[0] += output.numel() * output.element_size()
        x = args[0] if len(args) == 1 and not kwargs else None
        if (
            type(module) in LINEAR_IN_PARAMETERS
            and module.weight[0].numel() >= FAN_IN_PER_DIRECTION * len(directions)
            and isinstance(x, torch.Tensor)
            and not x.requires_grad
            and output.requires_grad
            and not any(_same_tensor(x, seen) for seen in inputs.get(module, []))
        ):
            inputs.setdefault(module, []).append(x.detach())

    handles = [m.register_forward_hook(record, with_kwargs=True) for m in wrapper.modules()]
    leaves = {k: v.clone().requires_grad_() for k, v in layout.named(base, "model.").items()}
    try:
        with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(_drop, _drop):
            functional_call(wrapper, leaves, ())
    finally:
        for handle in handles:
            handle.remove()
    return inputs, size[0]


def _drop(_) -> None:
    return None


def _same_tensor(x: torch.Tensor, recorded: torch.Tensor) -> bool:
    """Whether ``x`` is ``recorded`` or a view of the same memory with the same layout.

    While ``recorded`` is alive no new tensor can take its memory, so a layer that gets the
    same memory again gets the same data (unless someone wrote into it in place).
    """
    try:
        address = x.data_ptr()
    except RuntimeError:  # a tensor batched by vmap has no storage of its own
        return False
    return (
        address == recorded.data_ptr()
        and x.shape == recorded.shape
        and x.stride() == recorded.stride()
        and x.dtype == recorded.dtype
        and x.device == recorded.device
    )


def _fixed_outputs(inputs: dict, layout: _Layout, plane: Plane) -> dict:
    """For each recorded input of each layer: the layer's output at ``plane.base`` and at
    each of the ``k`` directions."""

    def outputs(module: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
        return [
            functional_call(module, layout.own(module, v), (x,))
            for v in (plane.base, *plane.directions)
        ]

    return {
        module: [(x, outputs(module, x)) for x in recorded] for module, recorded in inputs.items()
    }


@contextlib.contextmanager
def _substituted(fixed: dict, point: list) -> Iterator[None]:
    """Inside the block, a layer of ``fixed`` called on one of its recorded inputs returns its
    output at the grid point ``c = point[0]``, ``base + Σ_k c_k along[k]``; called on anything
    else, it runs as usual."""

    def lookup(module: nn.Module, known: list) -> Callable:
        original = module.forward

        def forward(*args, **kwargs):
            if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
                for x, (base, *along) in known:
                    if _same_tensor(args[0], x):
                        # addcmul: one pass over memory per direction, also under vmap
                        # (which has no batching rule for the in-place addcmul_)
                        for k, output in enumerate(along):
                            base = torch.addcmul(base, output, point[0][k])
                        return base
            return original(*args, **kwargs)

        return forward

    saved = {module: module.__dict__.get("forward") for module in fixed}
    for module, known in fixed.items():
        module.forward = lookup(module, known)
    try:
        yield
    finally:
        for module, forward in saved.items():
            if forward is None:
                del module.forward
            else:
                module.forward = forward


def _chunk_for(bytes_per_point: int, device: torch.device) -> int:
    if device.type == "cuda":
        budget = torch.cuda.mem_get_info(device)[0] // 4
    else:
        budget = CPU_BUDGET
    return max(1, budget // max(1, bytes_per_point))


def losses_at(model: nn.Module, plane: Plane, loss_fn: LossFn, chunk: int | None) -> np.ndarray:
    """The loss at each weight vector of ``plane``, ``chunk`` grid points per vmapped pass
    (``None``: as many as fit the memory budget); see the module note."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(model), got {loss_fn!r}")
    layout = _Layout(model)
    wrapper = _LossOf(model, loss_fn)
    with evaluating(model), torch.no_grad():
        inputs, bytes_per_point = _probe(wrapper, layout, plane)
        fixed = _fixed_outputs(inputs, layout, plane)
        if chunk is None:
            chunk = _chunk_for(bytes_per_point, plane.base.device)
        point: list = [None]

        def loss_at(coefficients: torch.Tensor) -> torch.Tensor:
            point[0] = coefficients
            params = layout.named(plane.base + coefficients @ plane.directions, "model.")
            return functional_call(wrapper, params, ()).reshape(())

        # one point needs no batching: vmap's batched bias additions would only cost time
        batched = vmap(loss_at) if chunk > 1 else lambda c: loss_at(c[0])[None]
        values = []
        with _substituted(fixed, point):
            for start in range(0, len(plane), chunk):
                try:
                    values.append(batched(plane.coefficients[start : start + chunk]))
                except torch.OutOfMemoryError:
                    raise
                except RuntimeError as error:
                    if chunk == 1:
                        raise
                    raise RuntimeError(
                        f"loss_fn could not be evaluated at {chunk} points at once with "
                        f"torch.func.vmap ({error}); write it without .item(), data-dependent "
                        "control flow or random draws, or pass chunk=1"
                    ) from error
    return torch.cat(values).double().cpu().numpy()
