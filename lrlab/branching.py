r"""Branching cooldowns: one stable run, a cooldown from each of its checkpoints.

A warmup-stable-decay (WSD) schedule (:func:`lrlab.schedules.wsd`) holds its rate constant
until the cooldown, so every WSD run of every length shares its stable phase with every other
one. Train the stable phase once, checkpointing every epoch, and cool down from a checkpoint
whenever a model of that length is wanted: one run gives the whole frontier of accuracy
against compute, the practical selling point of WSD (Hu et al. 2024, MiniCPM; Hägele et al.
2024). A cosine schedule cannot do this, since its rate at every step depends on the length
of the run.

:func:`branch_cooldowns` does it with :func:`lrlab.train.fit`'s own checkpoints and exact
resume, not a second loop: the stable run is advanced to each branch point with
``fit(..., checkpoint=stable, resume=True)``, the checkpoint is copied, and the copy is resumed
with the WSD schedule whose cooldown starts there. ``fit`` checks on resume that the new
schedule agrees with the History up to the checkpoint, which holds by construction: the
stable run's schedule is a WSD schedule too (the same warm-up, then the rate), whose cooldown
starts after the last branch point. So each branch's History is that of one uninterrupted WSD
run of its length, bit for bit on the CPU (the test suite checks it).

>>> from lrlab import data, models
>>> digits = data.load("digits", device="cpu")
>>> model = models.build("mlp", digits.num_classes, digits.input_shape, seed=0)
>>> stable, (short, long) = branch_cooldowns(
...     model, digits, 0.05, [Cooldown(1, 1), Cooldown(2, 1)], progress=False
... )
>>> len(stable.test_acc), len(short.test_acc), len(long.test_acc)  # epochs of each run
(2, 2, 3)
>>> short.lr[: stable.steps_per_epoch] == stable.lr[: stable.steps_per_epoch]
True
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lrlab import _check, schedules

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    from lrlab.history import History

__all__ = ["Cooldown", "branch_cooldowns", "cooldown_schedule"]


@dataclass(frozen=True)
class Cooldown:
    """A branch: cool down from the stable run's checkpoint after epoch ``start``.

    Attributes
    ----------
    start : int
        The epoch whose end the cooldown starts from (its checkpoint), >= 1.
    epochs : int
        The cooldown's length in epochs, >= 1; the branch ends after ``start + epochs``.
    shape : {"linear", "cosine", "1-sqrt"}
        The cooldown's shape (:func:`lrlab.schedules.wsd`).
    """

    start: int
    epochs: int
    shape: str = "1-sqrt"

    def __post_init__(self):
        _check.integer("start", self.start, minimum=1)
        _check.integer("epochs", self.epochs, minimum=1)
        _check.choice("shape", self.shape, ("linear", "cosine", "1-sqrt"))

    @property
    def total(self) -> int:
        """The branch's length in epochs, stable phase and cooldown."""
        return self.start + self.epochs


def cooldown_schedule(
    lr: float,
    cooldown: Cooldown,
    steps_per_epoch: int,
    *,
    warmup_steps: int = 0,
    warmup: str = "linear",
    end_lr: float = 0.0,
) -> schedules.Schedule:
    """The WSD schedule of one branch: warm-up, ``lr`` until the cooldown, the cooldown.

    ``schedules.wsd(lr, total, decay_steps=cooldown.epochs * steps_per_epoch, ...)`` with
    ``total = cooldown.total * steps_per_epoch``: its cooldown starts at the first step of
    epoch ``cooldown.start``.

    Examples
    --------
    >>> import numpy as np
    >>> s = cooldown_schedule(0.1, Cooldown(3, 1, "linear"), steps_per_epoch=2)
    >>> s(np.arange(9)).round(3).tolist()
    [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.0]
    """
    if not isinstance(cooldown, Cooldown):
        raise TypeError(f"cooldown must be a Cooldown, got {cooldown!r}")
    steps_per_epoch = _check.integer("steps_per_epoch", steps_per_epoch, minimum=1)
    return schedules.wsd(
        lr,
        cooldown.total * steps_per_epoch,
        decay_steps=cooldown.epochs * steps_per_epoch,
        warmup_steps=warmup_steps,
        warmup=warmup,
        cooldown=cooldown.shape,
        end_lr=end_lr,
    )


def branch_cooldowns(
    model,
    data,
    lr: float,
    cooldowns: Sequence[Cooldown],
    *,
    stable_epochs: int | None = None,
    warmup_steps: int = 0,
    warmup: str = "linear",
    end_lr: float = 0.0,
    options=None,
    workdir=None,
    progress: bool = True,
    **overrides,
) -> tuple[History, list[History]]:
    """Train one stable run and cool down from its checkpoints: one WSD run per cooldown.

    The stable run trains ``model`` at ``lr`` (after the warm-up) with
    :func:`lrlab.train.fit`, checkpointing every epoch. It is advanced to each distinct
    ``start`` in turn (``fit(..., checkpoint=stable, resume=True)``); there the checkpoint is
    copied once per cooldown starting at that epoch, and each copy is resumed with
    :func:`cooldown_schedule` for ``cooldown.total`` epochs. Every branch equals the
    uninterrupted run ``fit(model, data, cooldown_schedule(...), cooldown.total, ...)`` from
    the same initial weights (exactly, on the CPU).

    Parameters
    ----------
    model : torch.nn.Module
        The network at its initial weights (seed it when you build it); trained in place, it
        ends with the stable run's last weights.
    data : lrlab.data.Dataset
        As in :func:`lrlab.train.fit`.
    lr : float
        The stable phase's rate, > 0.
    cooldowns : sequence of Cooldown
        The branches, at least one; several may start at the same epoch.
    stable_epochs : int, optional
        Train the stable run for this many epochs in all, at least the last ``start`` (the
        default): for a constant-rate baseline beside the branches.
    warmup_steps, warmup, end_lr
        The warm-up and the floor of every branch, as in :func:`lrlab.schedules.wsd`.
    options : lrlab.options.RunOptions, optional
        As in :func:`lrlab.train.fit`, with ``**overrides`` (``batch_size``, ``seed``, ...).
    workdir : path, optional
        Folder for the checkpoints (``stable.pt``, ``branch-<i>.pt``), kept after the call;
        a temporary folder, removed at the end, by default. Existing checkpoints there are
        not reused: each call starts afresh.
    progress : bool
        Progress bars of every ``fit``.

    Returns
    -------
    (History, list of History)
        The stable run's History (``stable_epochs`` epochs at the constant rate), and one
        History per cooldown, in the order given, each covering its whole run from step 0.
    """
    from lrlab import train

    lr = _check.number("lr", lr, low=0, low_open=True)
    cooldowns = list(cooldowns)
    if not cooldowns or not all(isinstance(c, Cooldown) for c in cooldowns):
        raise TypeError(f"cooldowns must be a non-empty sequence of Cooldown, got {cooldowns!r}")
    last = max(c.start for c in cooldowns)
    stable_epochs = last if stable_epochs is None else stable_epochs
    stable_epochs = _check.integer("stable_epochs", stable_epochs, minimum=last)
    steps_per_epoch = data.num_batches("train", _batch_size(options, overrides))
    shared = {"warmup_steps": warmup_steps, "warmup": warmup, "end_lr": end_lr}
    # The stable run is a WSD run whose cooldown starts after everything it trains: its
    # rates are the branches' up to their cooldowns, bit for bit (the same formula).
    stable_schedule = cooldown_schedule(
        lr, Cooldown(stable_epochs + 1, 1), steps_per_epoch, **shared
    )
    branch_schedules = [cooldown_schedule(lr, c, steps_per_epoch, **shared) for c in cooldowns]

    def fit(schedule, epochs: int, checkpoint: Path):
        return train.fit(
            model,
            data,
            schedule,
            epochs,
            options,
            checkpoint=checkpoint,
            resume=True,
            progress=progress,
            **overrides,
        )

    with tempfile.TemporaryDirectory(prefix="lrlab-branches-") as scratch:
        folder = Path(scratch if workdir is None else workdir)
        folder.mkdir(parents=True, exist_ok=True)
        stable_path = folder / "stable.pt"
        names = [folder / f"branch-{i}.pt" for i in range(len(cooldowns))]
        for path in (stable_path, *names):
            path.unlink(missing_ok=True)  # each call starts afresh
        branches = [None] * len(cooldowns)
        for start in sorted({c.start for c in cooldowns}):
            fit(stable_schedule, start, stable_path)
            for i, cooldown in enumerate(cooldowns):
                if cooldown.start == start:
                    shutil.copyfile(stable_path, names[i])
                    branches[i] = fit(branch_schedules[i], cooldown.total, names[i])
        stable = fit(stable_schedule, stable_epochs, stable_path)
    return stable, branches


def _batch_size(options, overrides) -> int:
    from lrlab.options import RunOptions

    return RunOptions.resolve(options, dict(overrides)).batch_size
