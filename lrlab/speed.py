"""How fast training runs: FLOPs per example, the GPU's matmul peak, images per second.

``lrlab bench train`` divides the measured throughput times :func:`training_flops` by
:func:`matmul_peak` to report model FLOPs utilisation (MFU), the measure of PaLM
(Chowdhery et al., 2022): what fraction of the hardware's practical peak the training
step turns into useful model arithmetic.

>>> from torch import nn
>>> training_flops(nn.Linear(10, 5), (10,))
200.0
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from lrlab import _check

__all__ = ["matmul_peak", "throughput", "training_flops"]


def training_flops(model: nn.Module, input_shape, batch_size: int = 2) -> float:
    """FLOPs of one training step per example: forward and backward, matmuls and convolutions.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` on a copy of the model (a
    multiply-add is 2 FLOPs; element-wise work such as BatchNorm is not counted, the usual
    convention for model FLOPs utilisation).

    Examples
    --------
    >>> training_flops(nn.Linear(10, 5), (10,))  # forward 2·10·5, weight gradient 2·10·5
    200.0
    """
    from copy import deepcopy

    from torch.utils.flop_counter import FlopCounterMode

    batch_size = _check.integer("batch_size", batch_size, minimum=1)
    copy = deepcopy(model).train()
    param = next(copy.parameters())
    x = torch.randn(batch_size, *input_shape, device=param.device)
    counter = FlopCounterMode(display=False)
    with counter:
        logits = copy(x)
        F.cross_entropy(
            logits, torch.zeros(batch_size, dtype=torch.long, device=x.device)
        ).backward()
    return counter.get_total_flops() / batch_size


def matmul_peak(device, dtype=torch.bfloat16, size: int = 8192, repeats: int = 20) -> float:
    """Measured FLOP/s of a large square matmul: the practical peak for MFU.

    Parameters
    ----------
    device : torch.device or str
        A CUDA device (on the CPU this would measure BLAS, not a meaningful peak).
    dtype : torch.dtype
    size : int
        Matrix side; 8192 saturates current GPUs.
    repeats : int
        Timed multiplications (after 3 warm-up ones).

    Returns
    -------
    float
        ``2 size³ repeats / seconds``.
    """
    size = _check.integer("size", size, minimum=1)
    repeats = _check.integer("repeats", repeats, minimum=1)
    device = torch.device(device)
    if device.type != "cuda":
        raise ValueError(f"device must be a CUDA device, got {device}")
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def throughput(step, batches, steps: int, warmup: int = 2, lr: float = 0.01) -> float:
    """Images per second of a training ``step`` fed from an iterator of ``(x, y)`` batches.

    Runs ``warmup`` untimed steps, then times ``steps`` steps (including fetching each
    batch, so the input pipeline counts), waiting for the GPU at both ends.

    Examples
    --------
    >>> from lrlab.step import make_train_step
    >>> net = nn.Linear(4, 2)
    >>> step = make_train_step(net, torch.optim.SGD(net.parameters(), lr=0.1))
    >>> batches = iter([(torch.randn(8, 4), torch.zeros(8, dtype=torch.long))] * 5)
    >>> throughput(step, batches, steps=3, warmup=1) > 0
    True
    """
    steps = _check.integer("steps", steps, minimum=1)
    warmup = _check.integer("warmup", warmup, minimum=0)

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    for _ in range(warmup):
        x, y = next(batches)
        step(x, y, lr)
    sync()
    start, images = time.perf_counter(), 0
    for _ in range(steps):
        x, y = next(batches)
        step(x, y, lr)
        images += len(y)
    sync()
    return images / (time.perf_counter() - start)
