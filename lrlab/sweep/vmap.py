"""The ``"vmap"`` engine of :func:`lrlab.sweep.run`: many tiny models trained at once.

Configs of a grid that differ only in ``seed``, ``lr`` and ``schedule`` form a *stack*
(:func:`stacks`). Its M models are built one by one exactly as
:func:`~lrlab.sweep.run_one` builds them (``torch.manual_seed(seed)``, then
:func:`lrlab.models.build`), their parameters stacked along a new leading axis
(:func:`torch.func.stack_module_state`), and one call of
``vmap(grad_and_value(loss))`` over a :func:`torch.func.functional_call` of the shared
architecture computes all M losses and gradients of a step: the "model ensembling" recipe
of the PyTorch tutorials, turned into training. Each member keeps

- its own initial weights (its seed);
- its own data order: the permutation :meth:`lrlab.data.Dataset.batches` draws for its
  seed and epoch (:func:`lrlab.step.epoch_seed`), one ``(M, batch)`` index tensor per step;
- its own learning rate: its schedule's rate at each step, a length-M tensor;
- its own momentum buffers, updated by :func:`sgd_step`, PyTorch's SGD (dampening 0)

.. math::

    g = \\nabla L(\\theta) + \\lambda\\theta,\\quad
    b \\leftarrow \\mu b + g\\ (b = g \\text{ at the first step}),

    \\theta \\leftarrow \\theta - \\eta\\,(g + \\mu b \\text{ if Nesterov, else } b),

and it is evaluated on the test split after every epoch as :func:`lrlab.train.fit` does.
Every member's record is the one :func:`~lrlab.sweep.run_one` returns for its config, with
the same keys and the same cache files, so a sweep can switch engines and resume; a
member whose loss or gradient stops being finite records what a diverged ``run_one``
records (the others train on: vmap keeps the members' arithmetic apart).

The numbers agree with the sequential engine up to float rounding: the stacked
arithmetic (batched matrix products, grouped convolutions) rounds differently from one
model's, by about 1e-7 relatively per step, and training carries that along. At moderate
rates, test losses agree to about 1e-6 relatively and accuracies exactly; near the edge
of stability the differences grow (to about 1e-3 and a test example or so), as much as
the sequential engine's own results move between one and two CPU threads
(``tests/test_sweep_vmap.py``, ``benchmarks/sweep_vmap.py``).

What it cannot do, it refuses before any work, with a ``ValueError`` pointing to engine
``"local"``: models with buffers (BatchNorm) or dropout, optimizers other than SGD,
precision other than fp32 (``"auto"`` is fp32 on the CPU; set ``"precision": "fp32"``
for a GPU), and CIFAR (its random crops and flips). The memory layout option
``channels_last`` is a speed option the engine ignores.

Whether it pays depends on the device: on a GPU, M tiny models fill it as one would
not; on a CPU the saving is Python and dispatch overhead only
(``benchmarks/sweep_vmap.py`` measures both ways side by side).

>>> from lrlab import sweep
>>> grid = {"data": "digits", "model": "mlp", "epochs": 1, "seed": [0, 1], "lr": [0.05, 0.1]}
>>> fast = sweep.run(grid, engine="vmap", cache=None, progress=False, device="cpu")
>>> slow = sweep.run(grid, engine="local", cache=None, progress=False, device="cpu")
>>> [r["config"]["seed"] for r in fast] == [r["config"]["seed"] for r in slow]
True
>>> max(abs(f["result"]["final_test_loss"] - s["result"]["final_test_loss"])
...     for f, s in zip(fast, slow)) < 1e-4
True
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from lrlab.schedules import rate_at
from lrlab.sweep.grid import dataset, make_schedule

__all__ = ["run_stacks", "sgd_step", "stacks"]

#: The options in which the members of one stack may differ.
PER_MEMBER = ("seed", "lr", "schedule")
_USE_LOCAL = 'use engine "local"'
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
_DROPOUTS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
_DROPOUTS += (nn.FeatureAlphaDropout,)


def stacks(configs: Mapping[str, Mapping[str, Any]]) -> list[dict[str, dict]]:
    """Group configs (``key -> config``) into stacks: equal in all but seed, lr and schedule.

    Stacks come in the order of their first config, members in the given order.

    Examples
    --------
    >>> from lrlab.sweep import config_key, expand
    >>> configs = expand({"seed": [0, 1], "lr": [0.1, 0.3], "batch_size": [64, 128]})
    >>> [len(s) for s in stacks({config_key(c): c for c in configs})]
    [4, 4]
    """
    groups: dict[str, dict[str, dict]] = {}
    for key, config in configs.items():
        shared = {k: v for k, v in config.items() if k not in PER_MEMBER}
        groups.setdefault(json.dumps(shared, sort_keys=True), {})[key] = dict(config)
    return list(groups.values())


def sgd_step(
    params: Mapping[str, torch.Tensor],
    grads: Mapping[str, torch.Tensor],
    buffers: Mapping[str, torch.Tensor] | None,
    lr: torch.Tensor,
    *,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """One step of :class:`torch.optim.SGD` (dampening 0) for M stacked models at M rates.

    With weight decay ``λ``, momentum ``μ`` and rate ``η``: ``g = ∇ + λθ``; the buffer
    ``b = g`` at the first step, else ``b = μ b + g``; the direction is ``g + μ b``
    (Nesterov) or ``b``; ``θ ← θ − η · direction`` (the formula of PyTorch's SGD
    documentation, after Sutskever et al. 2013).

    Parameters
    ----------
    params, grads : mapping of str to torch.Tensor
        Stacked parameters and their gradients, shape ``(M, ...)``.
    buffers : mapping or None
        Momentum buffers from the previous step; ``None`` at the first.
    lr : torch.Tensor
        ``(M,)`` rates, one per member.
    momentum, nesterov, weight_decay
        As for :class:`torch.optim.SGD`.

    Returns
    -------
    (dict, dict or None)
        The new parameters and momentum buffers (``None`` without momentum).

    Examples
    --------
    >>> p, g = {"w": torch.ones(2, 3)}, {"w": torch.ones(2, 3)}
    >>> new, buf = sgd_step(p, g, None, torch.tensor([0.1, 0.5]), momentum=0.9)
    >>> new["w"][:, 0].tolist()
    [0.8999999761581421, 0.5]
    """
    new_params: dict[str, torch.Tensor] = {}
    new_buffers: dict[str, torch.Tensor] = {}
    for name, param in params.items():
        grad = grads[name]
        if weight_decay != 0:
            grad = grad + weight_decay * param
        if momentum != 0:
            buffer = grad if buffers is None else momentum * buffers[name] + grad
            new_buffers[name] = buffer
            grad = grad + momentum * buffer if nesterov else buffer
        rate = lr.view(-1, *(1,) * (param.ndim - 1))
        new_params[name] = param - rate * grad
    return new_params, new_buffers if momentum != 0 else None


def _refuse_unsupported(configs: list[dict], device: torch.device, data_root) -> None:
    """Raise ValueError for any config the engine cannot train the way ``run_one`` does."""
    from lrlab import data, models, step

    built: set[str] = set()
    for config in configs:
        if config["optimizer"] != "sgd":
            raise ValueError(
                f"engine 'vmap' trains with optimizer 'sgd' only, got {config['optimizer']!r}: "
                f"{_USE_LOCAL}"
            )
        for option, supported in (("loss", ("cross_entropy", None)), ("compile", (False,))):
            if config[option] not in supported:
                raise ValueError(
                    f"engine 'vmap' trains with {option} {supported[0]!r} only, got "
                    f"{config[option]!r}: {_USE_LOCAL}"
                )
        precision = step.choose_precision(
            config["precision"], device.type, step.bf16_supported(device)
        )
        if precision != "fp32":
            raise ValueError(
                f"engine 'vmap' trains in precision 'fp32' only, got {config['precision']!r} "
                f"({precision} on {device.type}): set precision 'fp32' or {_USE_LOCAL}"
            )
        if config["data"] in data.SOURCES:
            raise ValueError(
                f"engine 'vmap' does not do {config['data']}'s random crops and flips: {_USE_LOCAL}"
            )
        what = json.dumps([config["data"], config["model"], config["model_options"]])
        if what in built:
            continue
        built.add(what)
        shapes = dataset(config["data"], data_root, device)
        with torch.device("meta"):  # only the architecture: no memory, no random numbers
            net = models.build(
                config["model"], shapes.num_classes, shapes.input_shape, **config["model_options"]
            )
        kinds = {type(m).__name__ for m in net.modules()}
        if any(isinstance(m, _BATCH_NORMS) for m in net.modules()):
            raise ValueError(
                f"engine 'vmap' cannot train model {config['model']!r}: it has BatchNorm "
                f"(batch statistics and running buffers): {_USE_LOCAL}"
            )
        if any(isinstance(m, _DROPOUTS) for m in net.modules()):
            raise ValueError(
                f"engine 'vmap' cannot train model {config['model']!r}: it has dropout "
                f"({sorted(k for k in kinds if 'Dropout' in k)}): {_USE_LOCAL}"
            )
        if any(True for _ in net.buffers()):
            raise ValueError(
                f"engine 'vmap' cannot train model {config['model']!r}: it has buffers "
                f"({sorted(name for name, _ in net.named_buffers())}): {_USE_LOCAL}"
            )


def run_stacks(
    configs: Mapping[str, Mapping[str, Any]],
    *,
    device=None,
    data_root: str | os.PathLike = "data/cache",
    command: str | None = None,
    progress: bool = True,
    max_steps: int | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Train configs stack by stack; yield ``(key, result)`` as each stack ends.

    Every config is checked first (a ``ValueError`` names what the engine cannot do and
    points to engine ``"local"``), so nothing trains when one config is refused.

    Parameters
    ----------
    configs : mapping of str to config
        ``config_key -> normalized config``, as :func:`lrlab.sweep.run` passes them.
    device : torch.device or str, optional
        ``lrlab.device()`` by default.
    data_root : path
        Data folder (MNIST-1D).
    command : str, optional
        Recorded in the provenance, followed by a shell comment naming the engine.
    progress : bool
        A progress bar over the epochs of all stacks.
    max_steps : int, optional
        Stop every member after this many steps (a smoke test, as for ``run_one``).

    Returns
    -------
    iterator of (str, dict)
        Each config's key and the result :func:`~lrlab.sweep.run_one` returns for it.
        ``wall_time_s`` (also in the provenance) is the stack's wall time divided by
        its number of members.
    """
    import lrlab

    device = torch.device(device) if device is not None else lrlab.device()
    configs = {key: dict(config) for key, config in configs.items()}
    _refuse_unsupported(list(configs.values()), device, data_root)
    groups = stacks(configs)

    def generate():
        from tqdm.auto import tqdm

        epochs = sum(next(iter(g.values()))["epochs"] for g in groups)
        bar = tqdm(total=epochs, disable=not progress, unit="epoch")
        try:
            for i, group in enumerate(groups):
                bar.set_postfix(stack=f"{i + 1}/{len(groups)}", runs=len(group), refresh=False)
                results = _train_stack(
                    list(group.values()), device, str(data_root), command, max_steps, bar
                )
                yield from zip(group, results, strict=True)
        finally:
            bar.close()

    return generate()


def _member_result(log: dict, wall_time: float, config: dict, device_label: str, command):
    from lrlab import results

    acc, loss = log["test_acc"], log["test_loss"]
    return {
        "final_test_acc": acc[-1] if acc else None,
        "best_test_acc": max(acc) if acc else None,
        "final_test_loss": loss[-1] if loss else None,
        "best_test_loss": min(loss) if loss else None,
        "final_train_loss": log["train_loss"][-1] if log["train_loss"] else None,
        "test_acc": list(acc),
        "test_loss": list(loss),
        "diverged": log["diverged"],
        "steps": log["steps"],
        "wall_time_s": wall_time,
        "provenance": results.provenance(
            command=command, device=device_label, seed=config["seed"], wall_time_s=wall_time
        ),
    }


def _train_stack(configs: list[dict], device, data_root: str, command, max_steps, bar):
    """Train one stack as ``fit`` trains each member; return the members' results."""
    import shlex
    import sys

    import numpy as np
    import torch.nn.functional as F
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap

    from lrlab import device_name, models
    from lrlab.step import epoch_seed

    first, size = configs[0], len(configs)
    data = dataset(first["data"], data_root, device)
    batch_size, epochs = first["batch_size"], first["epochs"]
    steps_per_epoch = data.num_batches("train", batch_size)
    total = (
        steps_per_epoch * epochs if max_steps is None else min(max_steps, steps_per_epoch * epochs)
    )
    schedules = [make_schedule(c["schedule"], c["lr"], steps_per_epoch, epochs) for c in configs]
    # (steps, M): fit's rate of every step, rounded to float32 as SGD applies it.
    rates = torch.tensor(
        [[rate_at(s, t) for s in schedules] for t in range(total)], dtype=torch.float32
    ).to(device)
    nets = []
    for config in configs:  # as run_one: seed, then build
        torch.manual_seed(config["seed"])
        nets.append(
            models.build(
                first["model"], data.num_classes, data.input_shape, **first["model_options"]
            )
        )
    params, _ = stack_module_state(nets)
    params = {name: p.detach().to(device) for name, p in params.items()}
    base = copy.deepcopy(nets[0]).to("meta")
    base.train()

    def loss_of(member_params, x, y):
        return F.cross_entropy(functional_call(base, member_params, (x,)), y)

    gradient = vmap(grad_and_value(loss_of))
    logits_of = vmap(lambda p, x: functional_call(base, p, (x,)), in_dims=(0, None))
    options = {k: first[k] for k in ("momentum", "nesterov", "weight_decay")}
    images, labels = data.raw("train")
    n = len(labels)
    logs = [
        {"test_acc": [], "test_loss": [], "train_loss": [], "diverged": False, "steps": 0}
        for _ in configs
    ]
    live = np.ones(size, dtype=bool)  # not diverged
    buffers = None
    step = 0
    started = time.perf_counter()
    for epoch in range(epochs):
        orders = torch.stack(
            [
                torch.randperm(
                    n, generator=torch.Generator().manual_seed(epoch_seed(c["seed"], epoch))
                )
                for c in configs
            ]
        ).to(device)
        losses, norms, sizes = [], [], []
        for start in range(0, n, batch_size):
            if step == total:
                break
            index = orders[:, start : start + batch_size]  # (M, batch)
            grads, loss = gradient(params, data.normalize(images[index]), labels[index])
            # The global L2 norm of each member's gradient, as clip_grad/get_total_norm take it.
            norm = torch.stack([g.flatten(1).norm(dim=1) for g in grads.values()]).norm(dim=0)
            params, buffers = sgd_step(params, grads, buffers, rates[step], **options)
            losses.append(loss)
            norms.append(norm)
            sizes.append(index.shape[1])
            step += 1
        losses_cpu = torch.stack(losses).cpu().numpy()  # (steps of this epoch, M)
        bad = ~(np.isfinite(losses_cpu) & np.isfinite(torch.stack(norms).cpu().numpy()))
        for m in np.flatnonzero(live):
            hit = np.flatnonzero(bad[:, m])
            done = epoch * steps_per_epoch
            if hit.size:  # fit keeps the steps up to the first non-finite one and stops
                logs[m]["diverged"], logs[m]["steps"] = True, done + int(hit[0]) + 1
                live[m] = False
            else:
                logs[m]["steps"] = done + len(sizes)
        # fit's smoke-test stop comes inside the epoch's loop: that epoch is not evaluated.
        cut = max_steps is not None and step >= max_steps
        if cut or not live.any():
            break
        test_loss, test_correct = _evaluate(logits_of, params, data, max(batch_size, 512), size)
        for m in np.flatnonzero(live):
            loss_list = [float(v) for v in losses_cpu[:, m]]
            logs[m]["train_loss"].append(float(np.dot(loss_list, sizes)) / sum(sizes))
            logs[m]["test_loss"].append(float(test_loss[m]) / data.size("test"))
            logs[m]["test_acc"].append(int(test_correct[m]) / data.size("test"))
        bar.update()
    wall_time = (time.perf_counter() - started) / size
    command = shlex.join(sys.argv) if command is None else command
    command += f"  # lrlab.sweep engine='vmap', {size} runs stacked"
    label = device_name(device)
    return [
        _member_result(log, wall_time, c, label, command)
        for log, c in zip(logs, configs, strict=True)
    ]


@torch.no_grad()
def _evaluate(logits_of, params, data, batch_size: int, size: int):
    """Summed test loss (float64) and correct predictions per member, as ``evaluate``."""
    import torch.nn.functional as F

    total = torch.zeros(size, dtype=torch.float64, device=data.device)
    correct = torch.zeros(size, dtype=torch.int64, device=data.device)
    for x, y in data.batches("test", batch_size, shuffle=False, augment=False):
        logits = logits_of(params, x)  # (M, batch, classes)
        per_example = F.cross_entropy(logits.flatten(0, 1), y.repeat(size), reduction="none")
        total += per_example.view(size, -1).sum(dim=1)
        correct += (logits.argmax(dim=2) == y).sum(dim=1)
    return total.cpu().numpy(), correct.cpu().numpy()
