"""Snapshots at cycle ends, and ensembles that average their members' softmax outputs.

A cyclic or restarting schedule (:func:`lrlab.schedules.sgdr`, :func:`lrlab.schedules.cyclic`)
brings the rate down to its lowest value once per cycle, and the model is then at the bottom
of some basin. Huang et al. (2017, *Snapshot Ensembles: Train 1, Get M for Free*) keep a copy
of the weights at each of these cycle ends and average the snapshots' predicted class
probabilities at test time:

.. math:: \\bar p_k(y \\mid x)
          = \\frac1k \\sum_{m=1}^{k} \\operatorname{softmax}(f_{\\theta_m}(x))_y .

The ensemble costs one training run; its members cost nothing more than their memory.

>>> import torch
>>> from lrlab import data, models, schedules, train
>>> digits = data.load("digits", device="cpu")
>>> steps_per_epoch = digits.num_batches("train", 128)
>>> schedule = schedules.sgdr(0.1, first_cycle=2 * steps_per_epoch)
>>> snapshots = Snapshots(cycle_ends(schedule, 4 * steps_per_epoch))
>>> _ = torch.manual_seed(0)
>>> net = models.build("mlp", 10, digits.input_shape)
>>> history = train.fit(net, digits, schedule, epochs=4, callbacks=[snapshots], progress=False)
>>> len(snapshots), snapshots.taken == list(snapshots.steps)
(2, True)
>>> scores = evaluate(snapshots, digits, model=net)
>>> scores.k.tolist()
[1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lrlab import _check

__all__ = [
    "EnsembleScores",
    "Snapshots",
    "cycle_ends",
    "evaluate",
    "member_log_probs",
    "predict",
]


def _check_steps(name: str, steps, total_steps: int | None = None) -> tuple[int, ...]:
    """``steps`` as a strictly increasing tuple of ints >= 0 (and < total_steps, if given)."""
    if isinstance(steps, (str, bytes)) or not isinstance(steps, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of integer steps, got {steps!r}")
    values = []
    for step in steps:
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"{name} must hold integer steps, got {step!r}")
        values.append(int(step))
    if not values:
        raise ValueError(f"{name} must hold at least one step, got none")
    if min(values) < 0:
        raise ValueError(f"{name} must hold steps >= 0, got {min(values)}")
    if np.any(np.diff(values) <= 0):
        raise ValueError(f"{name} must be strictly increasing, got {values}")
    if total_steps is not None and values[-1] >= total_steps:
        raise ValueError(f"{name} must hold steps < total_steps ({total_steps}), got {values[-1]}")
    return tuple(values)


def _check_count(name: str, value) -> int:
    return _check.integer(name, value, minimum=1)


def cycle_ends(schedule_or_steps, total_steps: int) -> list[int]:
    """The last optimizer step of every complete cycle within a run of ``total_steps``.

    A snapshot taken after that step (a :class:`Snapshots` callback is called after each
    step) holds the model at the end of the cycle, where the rate was lowest, just before
    the restart.

    - :func:`lrlab.schedules.sgdr` with first cycle :math:`T_0` and multiplier :math:`m`:
      cycle :math:`k = 0, 1, \\dots` ends at step :math:`T_0 (m^{k+1} - 1)/(m - 1) - 1`
      (:math:`T_0 (k + 1) - 1` for :math:`m = 1`).
    - :func:`lrlab.schedules.cyclic` with rising and falling halves :math:`u` and
      :math:`d`: cycle :math:`c = 1, 2, \\dots` ends at step :math:`c (u + d) - 1`.
    - An explicit sequence of steps is checked and returned as a list.

    Parameters
    ----------
    schedule_or_steps : Schedule or sequence of int
        An ``sgdr`` or ``cyclic`` schedule (read from its ``params``), or the steps.
    total_steps : int
        Length of the run in optimizer steps, >= 1.

    Returns
    -------
    list of int
        Increasing steps in ``[0, total_steps)``; a cycle cut off by the end of the run
        does not count.

    Raises
    ------
    ValueError
        If no cycle ends within the run, or the steps are not increasing and in range.
    TypeError
        For any other schedule (its rate has no cycles to end).

    Examples
    --------
    >>> from lrlab import schedules
    >>> cycle_ends(schedules.sgdr(0.1, first_cycle=10, cycle_mult=2), 150)
    [9, 29, 69, 149]
    >>> cycle_ends(schedules.cyclic(0.01, 0.1, step_size_up=3, step_size_down=2), 12)
    [4, 9]
    >>> cycle_ends([5, 8], 10)
    [5, 8]
    """
    total_steps = _check_count("total_steps", total_steps)
    name = getattr(schedule_or_steps, "name", None)
    params = getattr(schedule_or_steps, "params", None)
    if name is None or not isinstance(params, Mapping):
        if callable(schedule_or_steps):
            raise TypeError(
                "schedule_or_steps must be an sgdr or cyclic Schedule or a list of steps, "
                f"got {schedule_or_steps!r}"
            )
        return list(_check_steps("schedule_or_steps", schedule_or_steps, total_steps))
    if name == "sgdr":
        length, multiplier = int(params["first_cycle"]), int(params["cycle_mult"])
    elif name == "cyclic":
        up, down = int(params["step_size_up"]), params["step_size_down"]
        length, multiplier = up + int(down if down is not None else up), 1
    else:
        raise TypeError(
            f"schedule_or_steps must be an sgdr or cyclic Schedule or a list of steps, "
            f"got {schedule_or_steps!r}"
        )
    ends, end = [], length - 1
    while end < total_steps:
        ends.append(end)
        length *= multiplier
        end += length
    if not ends:
        raise ValueError(
            f"total_steps ({total_steps}) must reach the end of the first cycle of "
            f"{schedule_or_steps!r} (step {end})"
        )
    return ends


class Snapshots:
    """A :func:`lrlab.train.fit` callback that keeps copies of the weights at given steps.

    After each step in ``steps`` it stores ``model.state_dict()`` (parameters and buffers,
    such as BatchNorm's running statistics) as CPU tensors, and records the series
    ``"snapshot"`` in the History as ``[step, index]``. The model is not touched.

    Parameters
    ----------
    steps : sequence of int
        Strictly increasing optimizer steps, e.g. from :func:`cycle_ends`.

    Attributes
    ----------
    steps : tuple of int
    states : list of dict
        The snapshots, in the order taken.
    taken : list of int
        The step of each snapshot (fewer than ``steps`` if the run stopped early).
    every : int
        1; with :meth:`wants`, tells ``fit`` which steps to call it at.

    Examples
    --------
    >>> net = nn.Linear(2, 2)
    >>> snapshots = Snapshots([0, 2])
    >>> from lrlab.history import History
    >>> for step in range(3):
    ...     snapshots(net, step, History())
    >>> snapshots.taken, snapshots.wants(1)
    ([0, 2], False)
    """

    every = 1

    def __init__(self, steps: Sequence[int]):
        self.steps = _check_steps("steps", steps)
        self._wanted = frozenset(self.steps)
        self.states: list[dict[str, torch.Tensor]] = []
        self.taken: list[int] = []

    def wants(self, step: int) -> bool:
        """Whether a snapshot is due after optimizer step ``step``."""
        return int(step) in self._wanted

    def __call__(self, model: nn.Module, step: int, history) -> None:
        if not self.wants(step):
            return
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        self.states.append(state)
        self.taken.append(int(step))
        history.record("snapshot", step, len(self.states) - 1)

    def __len__(self) -> int:
        return len(self.states)

    def __repr__(self) -> str:
        return f"Snapshots(steps={list(self.steps)}, taken={len(self.states)})"


def _signature(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _members(members, model: nn.Module | None) -> tuple[list, nn.Module | None]:
    """Check ``members`` and return them as a list of modules or of state dicts."""
    if isinstance(members, Snapshots):
        members = members.states
    if isinstance(members, (nn.Module, Mapping)) or not isinstance(members, Sequence):
        raise TypeError(
            "members must be a Snapshots callback or a sequence of models or state dicts, "
            f"got {type(members).__name__}"
        )
    members = list(members)
    if not members:
        raise ValueError("members must hold at least one model or snapshot, got none")
    if all(isinstance(m, nn.Module) for m in members):
        reference, what = _signature(members[0].state_dict()), "members[0]"
        states = [m.state_dict() for m in members]
    elif all(isinstance(m, Mapping) for m in members):
        if not isinstance(model, nn.Module):
            raise TypeError(
                "model must be an nn.Module of the snapshots' architecture to load state dicts "
                f"into, got {model!r}"
            )
        reference, what = _signature(model.state_dict()), "model"
        states = members
    else:
        raise TypeError("members must be all nn.Modules or all state dicts, not a mixture")
    for i, state in enumerate(states):
        if _signature(state) != reference:
            raise ValueError(
                f"members[{i}] does not match the architecture of {what}: its parameter names "
                "or shapes differ"
            )
    return members, model


@torch.no_grad()
def member_log_probs(
    members, data, split: str = "test", model: nn.Module | None = None, batch_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each member's log-softmax outputs on a split, in eval mode, in float64.

    Parameters
    ----------
    members : Snapshots, sequence of nn.Module, or sequence of state dicts
        The ensemble's members, all of one architecture.
    data : lrlab.data.Dataset
    split : {"train", "test"}
    model : nn.Module, optional
        Needed when ``members`` are state dicts: a model of their architecture to load
        each one into. It is moved to ``data.device``; its own weights and train/eval mode
        are put back afterwards.
    batch_size : int

    Returns
    -------
    (torch.Tensor, torch.Tensor)
        Log-probabilities of shape ``(members, examples, classes)`` (float64, on
        ``data.device``) and the labels, shape ``(examples,)``.

    Notes
    -----
    Every member is evaluated in eval mode with its own BatchNorm running statistics
    (they are buffers in its state dict). The statistics were accumulated along the
    member's own trajectory and belong to its weights; pooling or recomputing them would
    turn the member into a different model from the one that was trained. (Recomputing,
    as SWA does, is needed only when *weights* are averaged, not predictions.)

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> nets = [nn.Sequential(nn.Flatten(), nn.Linear(64, 10)) for _ in range(3)]
    >>> log_probs, labels = member_log_probs(nets, digits)
    >>> tuple(log_probs.shape) == (3, digits.size("test"), 10)
    True
    """
    members, model = _members(members, model)
    batch_size = _check_count("batch_size", batch_size)
    x_all, labels = _split_tensors(data, split, batch_size)
    if isinstance(members[0], nn.Module):
        outputs = [_log_softmax(member, x_all) for member in members]
    else:
        saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.to(data.device)
        try:
            outputs = []
            for state in members:
                model.load_state_dict(state)
                outputs.append(_log_softmax(model, x_all))
        finally:
            model.load_state_dict(saved)
    return torch.stack(outputs), labels


def _split_tensors(data, split: str, batch_size: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The split's inputs as a list of batches and its labels, in the stored order."""
    inputs, labels = [], []
    for x, y in data.batches(split, batch_size, shuffle=False, augment=False):
        inputs.append(x)
        labels.append(y)
    return inputs, torch.cat(labels)


def _log_softmax(model: nn.Module, batches: list[torch.Tensor]) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return torch.cat([F.log_softmax(model(x).double(), dim=1) for x in batches])
    finally:
        model.train(was_training)


def _ensemble_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """Log of the mean probability of the first k members, for k = 1..M: shape (M, N, C).

    :math:`\\log \\bar p_k = \\operatorname{logsumexp}_{m \\le k} \\log p_m - \\log k`, which
    stays finite where a probability underflows to 0.
    """
    counts = torch.arange(1, len(log_probs) + 1, dtype=log_probs.dtype, device=log_probs.device)
    return torch.logcumsumexp(log_probs, dim=0) - counts.log().view(-1, 1, 1)


def predict(
    members,
    data,
    split: str = "test",
    k: int | None = None,
    model: nn.Module | None = None,
    batch_size: int = 1024,
) -> torch.Tensor:
    """The ensemble's class probabilities: the mean softmax of its first ``k`` members.

    Parameters
    ----------
    members, data, split, model, batch_size
        As in :func:`member_log_probs`.
    k : int, optional
        How many members to average, from the first, in ``[1, len(members)]``; all by
        default.

    Returns
    -------
    torch.Tensor
        Shape ``(examples, classes)``, float64, rows summing to 1.

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> nets = [nn.Sequential(nn.Flatten(), nn.Linear(64, 10)) for _ in range(3)]
    >>> probs = predict(nets, digits, k=2)
    >>> bool(torch.allclose(probs.sum(dim=1), torch.ones(len(probs), dtype=torch.float64)))
    True
    """
    count = len(members) if isinstance(members, (Sequence, Snapshots)) else None
    if k is not None:
        k = _check.integer("k", k, minimum=1, maximum=count or None)
    log_probs, _ = member_log_probs(members, data, split, model, batch_size)
    k = len(log_probs) if k is None else k
    return (torch.logsumexp(log_probs[:k], dim=0) - math.log(k)).exp()


@dataclass
class EnsembleScores:
    """Accuracy and loss of the ensembles of the first k members, k = 1..M.

    Attributes
    ----------
    k : numpy.ndarray
        ``1, 2, ..., M``.
    accuracy, loss : numpy.ndarray
        Of the ensemble of the first ``k`` members: the fraction of examples whose most
        probable averaged class is right, and the mean negative log of the averaged
        probability of the true class.
    member_accuracy, member_loss : numpy.ndarray
        Of each member alone (``accuracy[0] == member_accuracy[0]``).
    """

    k: np.ndarray
    accuracy: np.ndarray
    loss: np.ndarray
    member_accuracy: np.ndarray
    member_loss: np.ndarray

    def to_dict(self) -> dict[str, list]:
        """Plain lists, for JSON and results files."""
        return {name: getattr(self, name).tolist() for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: Mapping[str, Sequence]) -> EnsembleScores:
        """Inverse of :meth:`to_dict`."""
        return cls(**{name: np.asarray(d[name]) for name in cls.__dataclass_fields__})

    def table(self, steps: Sequence[int] | None = None) -> str:
        """A text table, one row per k: the k-th member alone and the first k together.

        Parameters
        ----------
        steps : sequence of int, optional
            The optimizer step of each member (``Snapshots.taken``), shown in a column.

        Examples
        --------
        >>> scores = EnsembleScores(np.array([1, 2]), np.array([0.9, 0.95]),
        ...     np.array([0.3, 0.2]), np.array([0.9, 0.92]), np.array([0.3, 0.25]))
        >>> print(scores.table(steps=[99, 199]))
         k   step  member acc  member loss  ensemble acc  ensemble loss
         1     99      0.9000       0.3000        0.9000         0.3000
         2    199      0.9200       0.2500        0.9500         0.2000
        """
        if steps is not None and len(steps) != len(self.k):
            raise ValueError(f"steps must hold one step per member ({len(self.k)}), got {steps}")
        lines = [" k   step  member acc  member loss  ensemble acc  ensemble loss"]
        for i, k in enumerate(self.k):
            step = f"{int(steps[i]):>6d}" if steps is not None else f"{'':>6s}"
            lines.append(
                f"{int(k):>2d} {step}  {self.member_accuracy[i]:>10.4f}"
                f"  {self.member_loss[i]:>11.4f}  {self.accuracy[i]:>12.4f}  {self.loss[i]:>13.4f}"
            )
        return "\n".join(lines)


def evaluate(
    members,
    data,
    split: str = "test",
    model: nn.Module | None = None,
    batch_size: int = 1024,
) -> EnsembleScores:
    """Accuracy and cross-entropy of the ensembles of the first k members, k = 1..M.

    The ensemble of the first ``k`` members predicts the average of their softmax
    outputs (Huang et al. 2017); its loss is :math:`-\\frac1N\\sum_i \\log \\bar p_k(y_i
    \\mid x_i)`. Members are evaluated in eval mode, each with its own BatchNorm running
    statistics (see :func:`member_log_probs` for why).

    Parameters
    ----------
    members, data, split, model, batch_size
        As in :func:`member_log_probs`.

    Returns
    -------
    EnsembleScores

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> nets = [nn.Sequential(nn.Flatten(), nn.Linear(64, 10)) for _ in range(2)]
    >>> scores = evaluate(nets, digits)
    >>> scores.k.tolist(), bool(scores.accuracy[0] == scores.member_accuracy[0])
    ([1, 2], True)
    """
    log_probs, labels = member_log_probs(members, data, split, model, batch_size)
    ensemble = _ensemble_log_probs(log_probs)
    index = labels.view(1, -1, 1).expand(len(log_probs), -1, 1)

    def scores(lp: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        accuracy = (lp.argmax(dim=2) == labels).double().mean(dim=1)
        loss = -lp.gather(2, index).squeeze(2).mean(dim=1)
        return accuracy.cpu().numpy(), loss.cpu().numpy()

    accuracy, loss = scores(ensemble)
    member_accuracy, member_loss = scores(log_probs)
    return EnsembleScores(
        k=np.arange(1, len(log_probs) + 1),
        accuracy=accuracy,
        loss=loss,
        member_accuracy=member_accuracy,
        member_loss=member_loss,
    )
