"""What a training run did, step by step and epoch by epoch: the :class:`History`.

:func:`lrlab.train.fit` fills one in; callbacks add their own series with
:meth:`History.record`; :mod:`lrlab.results` stores it with provenance. It is plain data:
lists of Python floats and a config dict, written to JSON with non-finite values kept.

>>> h = History(lr=[0.1], loss=[float("nan")], grad_norm=[1.0])
>>> h.record("sharpness", 0, 3.5)
>>> History.from_json(h.to_json()).extras
{'sharpness': [[0, 3.5]]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from lrlab._io import decode, encode, plain

__all__ = ["History"]


@dataclass
class History:
    """What a training run did, step by step and epoch by epoch.

    Attributes
    ----------
    lr, loss, grad_norm : list of float
        Per optimizer step ``t = 0, 1, ...``: the learning rate used, the batch's mean
        training loss, and the global L2 norm of the gradient.
    train_loss, train_acc, test_loss, test_acc, epoch_time : list of float
        Per completed epoch: mean training loss and accuracy over the epoch's batches (in
        train mode, as the steps saw them), test loss and accuracy (eval mode), and the
        epoch's wall time in seconds (training and evaluation).
    steps_per_epoch : int
    device : str
        Readable device name (GPU model, or ``"cpu"``).
    seed : int
    config : dict
        The options of the run (see :func:`lrlab.train.fit`).
    diverged_at_step : int or None
        First step whose loss (or gradient norm) was not finite, or whose rate the
        parameters' dtype could not hold, or the last step of an epoch after which the
        test loss was not finite; the run stopped there.
    stopped_at_step : int or None
        Step after which a callback raised :class:`lrlab.train.StopTraining`.
    wall_time : float
        Seconds spent in :func:`lrlab.train.fit` in total (over resumptions).
    extras : dict of str to list
        Series recorded by callbacks with :meth:`record`.
    """

    lr: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    device: str = "cpu"
    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    diverged_at_step: int | None = None
    stopped_at_step: int | None = None
    wall_time: float = 0.0
    extras: dict[str, list] = field(default_factory=dict)

    _STEP_FIELDS = ("lr", "loss", "grad_norm")
    _EPOCH_FIELDS = ("train_loss", "train_acc", "test_loss", "test_acc", "epoch_time")

    @property
    def steps(self) -> int:
        """Optimizer steps recorded."""
        return len(self.lr)

    @property
    def epochs(self) -> int:
        """Epochs completed."""
        return len(self.test_acc)

    @property
    def diverged(self) -> bool:
        return self.diverged_at_step is not None

    def record(self, name: str, step: int, value) -> None:
        """Append ``[step, value]`` to the series ``extras[name]`` (for callbacks).

        ``value`` may be a number, a tensor or NumPy array (stored as numbers/lists), or
        anything JSON can hold.

        Examples
        --------
        >>> h = History()
        >>> h.record("sharpness", 10, 3.5)
        >>> h.extras
        {'sharpness': [[10, 3.5]]}
        """
        self.extras.setdefault(name, []).append([int(step), plain(value)])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite floats become ``"nan"``/``"inf"`` strings)."""
        return encode(asdict(self))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        d = decode(dict(d))
        for name in (*cls._STEP_FIELDS, *cls._EPOCH_FIELDS):
            d[name] = [float(v) for v in d.get(name, [])]
        return cls(**d)

    def to_json(self) -> str:
        """Serialise to a JSON string (see :meth:`from_json`).

        Examples
        --------
        >>> h = History(lr=[0.1], loss=[float("nan")], grad_norm=[1.0])
        >>> History.from_json(h.to_json()).loss
        [nan]
        """
        return json.dumps(self.to_dict(), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> History:
        """Read a History written by :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def table(self) -> str:
        """A plain-text table of the epochs (what ``lrlab train`` prints).

        The ``lr`` column is the rate of each epoch's last step.
        """
        header = f"{'epoch':>5} {'lr':>10} {'train loss':>10} {'train acc':>9} "
        header += f"{'test loss':>9} {'test acc':>8} {'time s':>7}"
        rows = [header]
        for i in range(self.epochs):
            lr = self.lr[(i + 1) * self.steps_per_epoch - 1]
            rows.append(
                f"{i + 1:>5} {lr:>10.4g} {self.train_loss[i]:>10.4f} {self.train_acc[i]:>9.2%} "
                f"{self.test_loss[i]:>9.4f} {self.test_acc[i]:>8.2%} {self.epoch_time[i]:>7.2f}"
            )
        if self.diverged:
            rows.append(f"diverged at step {self.diverged_at_step} (lr {self.lr[-1]:.4g})")
        if self.stopped_at_step is not None:
            rows.append(f"stopped by a callback after step {self.stopped_at_step}")
        return "\n".join(rows)

    def plot(self, axes=None):
        """Learning rate and loss per step, accuracy per epoch, in three panels.

        Parameters
        ----------
        axes : sequence of 3 matplotlib Axes, optional
            Where to draw; a new house-style figure if omitted.

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> h = History(lr=[0.1, 0.05], loss=[2.0, 1.5], grad_norm=[1.0, 0.8],
        ...             train_loss=[1.75], train_acc=[0.4], test_loss=[1.6], test_acc=[0.5],
        ...             epoch_time=[0.1], steps_per_epoch=2)
        >>> len(h.plot().axes)
        3
        """
        from lrlab import plots

        if axes is None:
            _, axes = plots.subplots(1, 3, width=11.0, height=3.4)
        ax_lr, ax_loss, ax_acc = axes
        steps = np.arange(self.steps)
        ax_lr.plot(steps, self.lr)
        ax_lr.set_xlabel("optimizer step")
        ax_lr.set_ylabel("learning rate")
        ax_loss.plot(steps, self.loss, alpha=0.35, lw=1, label="train (per step)")
        ends = (np.arange(self.epochs) + 1) * self.steps_per_epoch - 1
        ax_loss.plot(ends, self.train_loss, "o-", label="train (epoch mean)")
        ax_loss.plot(ends, self.test_loss, "s-", label="test")
        ax_loss.set_yscale("log")
        loss_name = {"mse": "squared-error loss"}.get(self.config.get("loss"), "cross-entropy loss")
        ax_loss.set(xlabel="optimizer step", ylabel=loss_name)
        ax_loss.legend()
        epochs = np.arange(1, self.epochs + 1)
        ax_acc.plot(epochs, self.train_acc, "o-", label="train")
        ax_acc.plot(epochs, self.test_acc, "s-", label="test")
        ax_acc.set(xlabel="epoch", ylabel="accuracy")
        ax_acc.legend()
        if self.diverged:
            for ax in (ax_lr, ax_loss):
                ax.axvline(self.diverged_at_step, color="k", ls="--", lw=1)
            ax_loss.set_title(f"diverged at step {self.diverged_at_step}")
        return ax_lr.figure
