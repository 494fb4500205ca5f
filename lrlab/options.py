"""How a model is trained, apart from the data, the schedule and the length: one declaration.

:class:`RunOptions` holds the options that the training loop (:func:`lrlab.train.fit`), the
range test (:func:`lrlab.lrfind.range_test`), the runtime floor (:func:`lrlab.step.prepare`),
the command line (``lrlab train``, ``lrlab lr-find``) and the sweep's configs share: the
batch size, the optimizer and its momentum and weight decay (and a schedule-free
optimizer's own warm-up), the precision, the memory layout, compilation, the loss and the
seed. Each is declared, documented and checked here
once; every front end builds a :class:`RunOptions` and hands it on.

>>> options = RunOptions(momentum=0.0, weight_decay=0.0)
>>> options.replace(batch_size=64).batch_size, options.optimizer
(64, 'sgd')
>>> RunOptions(momentum=1.5)
Traceback (most recent call last):
...
ValueError: momentum must be in [0, 1), got 1.5
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lrlab import _check

__all__ = ["LOSSES", "OPTIMIZERS", "PRECISIONS", "SCHEDULE_FREE", "RunOptions"]

#: Numeric precisions: ``auto`` picks bf16/fp16 autocast on a GPU, fp32 on the CPU.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: The schedule-free optimizers of the ``schedulefree`` package (Defazio et al. 2024), by name
#: (see :mod:`lrlab.schedule_free`).
SCHEDULE_FREE = ("sgd_schedulefree", "adamw_schedulefree")
#: Optimizers by name (see :func:`lrlab.step.make_optimizer`).
OPTIMIZERS = ("sgd", "adam", "adamw", *SCHEDULE_FREE)
#: The training losses: cross-entropy, or the square loss on one-hot targets.
LOSSES = ("cross_entropy", "mse")


@dataclass(frozen=True)
class RunOptions:
    """The options of a training run besides its data, schedule and length.

    Every value is checked when the object is made, so a bad option fails before any data
    is loaded or any model is built.

    Attributes
    ----------
    batch_size : int
        Examples per optimizer step, >= 1.
    optimizer : {"sgd", "adam", "adamw", "sgd_schedulefree", "adamw_schedulefree"}
        ``"sgd"`` is heavy-ball (or Nesterov) momentum with L2 weight decay added to the
        gradient; ``"adam"`` uses ``momentum`` as β1; ``"adamw"`` also, with decoupled
        weight decay. The schedule-free ones are the ``schedulefree`` package's
        ``SGDScheduleFree`` and ``AdamWScheduleFree`` (Defazio et al. 2024), with
        ``momentum`` as their interpolation β (and β1), see :mod:`lrlab.schedule_free`.
    momentum : float
        SGD momentum (Adam's β1), in [0, 1); 0 is plain (stochastic) gradient descent.
        A schedule-free optimizer needs it in (0, 1).
    nesterov : bool
        Nesterov momentum (SGD with momentum > 0 only).
    weight_decay : float
        >= 0.
    warmup_steps : int
        A schedule-free optimizer's own linear warm-up, in optimizer steps (>= 0; the
        package's ``warmup_steps``; ``--optimizer-warmup-steps`` on the command line).
        Other optimizers warm up through the schedule (a schedule spec's ``warmup_steps``,
        :func:`lrlab.schedules.warmup`) and refuse a value > 0.
    precision : {"auto", "fp32", "bf16", "fp16"}
        See :func:`lrlab.step.choose_precision`.
    channels_last : {"auto", True, False}
        See :func:`lrlab.step.choose_channels_last`.
    compile : bool
        Run the model through ``torch.compile``.
    loss : {"cross_entropy", "mse"} or None
        Cross-entropy, or the square loss (:func:`lrlab.step.square_loss`: against one-hot
        targets for class labels); ``None`` picks by the data: cross-entropy for class
        labels, the square loss for regression targets (:func:`lrlab.step.choose_loss`).
    seed : int
        Seed of the data order, augmentation and in-model randomness, >= 0.
    """

    batch_size: int = 128
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 5e-4
    warmup_steps: int = 0
    precision: str = "auto"
    channels_last: bool | str = "auto"
    compile: bool = False
    loss: str | None = None
    seed: int = 0

    def __post_init__(self):
        checked = {
            "batch_size": _check.integer("batch_size", self.batch_size, minimum=1),
            "optimizer": _check.choice("optimizer", self.optimizer, OPTIMIZERS),
            "momentum": _check.number("momentum", self.momentum, 0, 1, high_open=True),
            "nesterov": _check.flag("nesterov", self.nesterov),
            "weight_decay": _check.number("weight_decay", self.weight_decay, low=0),
            "warmup_steps": _check.integer("warmup_steps", self.warmup_steps, minimum=0),
            "precision": _check.choice("precision", self.precision, PRECISIONS),
            "channels_last": self._layout(self.channels_last),
            "compile": _check.flag("compile", self.compile),
            "loss": None if self.loss is None else _check.choice("loss", self.loss, LOSSES),
            "seed": _check.integer("seed", self.seed, minimum=0),
        }
        if checked["nesterov"] and (checked["optimizer"] != "sgd" or checked["momentum"] == 0):
            raise ValueError("nesterov=True needs optimizer='sgd' and momentum > 0")
        schedule_free = checked["optimizer"] in SCHEDULE_FREE
        if schedule_free and checked["momentum"] == 0:
            raise ValueError(
                f"optimizer {checked['optimizer']!r} needs momentum (its interpolation β) in "
                "(0, 1), got 0.0"
            )
        if checked["warmup_steps"] and not schedule_free:
            raise ValueError(
                f"warmup_steps is the schedule-free optimizers' own warm-up ({SCHEDULE_FREE}), "
                f"got warmup_steps={checked['warmup_steps']} with optimizer "
                f"{checked['optimizer']!r}: warm up through the schedule instead (a schedule "
                "spec's warmup_steps, lrlab.schedules.warmup)"
            )
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @staticmethod
    def _layout(value) -> bool | str:
        if isinstance(value, str):
            return _check.choice("channels_last", value, ("auto",))
        return _check.flag("channels_last", value)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in declaration order.

        Examples
        --------
        >>> RunOptions.names()[:3]
        ('batch_size', 'optimizer', 'momentum')
        """
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any], base: RunOptions | None = None) -> RunOptions:
        """``base`` (the defaults by default) with the options in ``values`` changed;
        other keys raise a ValueError naming the allowed ones.

        Examples
        --------
        >>> RunOptions.from_dict({"momentum": 0.0}).momentum
        0.0
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"values must be a mapping of options, got {type(values).__name__}")
        return (base if base is not None else cls()).replace(**values)

    @classmethod
    def resolve(
        cls,
        options: RunOptions | None,
        overrides: Mapping[str, Any],
        default: RunOptions | None = None,
    ) -> RunOptions:
        """What a function taking ``options=None, **overrides`` trains with: ``options``
        (else ``default``, else the defaults) with ``overrides`` applied.

        Examples
        --------
        >>> RunOptions.resolve(None, {"batch_size": 64}).batch_size
        64
        >>> RunOptions.resolve(64, {})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        TypeError: options must be a RunOptions (give single options by name, ...), got 64
        """
        if options is None:
            options = default if default is not None else cls()
        elif not isinstance(options, cls):
            raise TypeError(
                "options must be a RunOptions (give single options by name, e.g. "
                f"batch_size=64), got {options!r}"
            )
        return options.replace(**overrides)

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with some options changed (checked like the constructor's)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValueError(f"run options must be among {list(self.names())}, got {unknown}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The options as a plain dict (JSON-ready), in declaration order."""
        return {name: getattr(self, name) for name in self.names()}
