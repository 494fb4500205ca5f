"""Steps to a target, measured while training: evaluate every few steps, stop once there.

McCandlish et al. (2018) count the optimizer steps :math:`S` and the training examples
:math:`E = BS` a run needs to reach a given loss or accuracy. Counting them from the
per-epoch evaluation of :func:`lrlab.train.fit` is too coarse for small batches (an epoch
of batch 16 is hundreds of steps), and training on past the target wastes most of a sweep.
:class:`TargetTracker` is a ``fit`` callback that evaluates a split every ``every`` steps,
records the curve, and ends the run at the first evaluation that reaches the target (or
after ``max_steps`` steps); :func:`lrlab.scaling.steps_to_target` reads the same number off
the recorded curve.
"""

from __future__ import annotations

from torch import nn

from lrlab import _check
from lrlab.step import choose_loss, evaluate
from lrlab.train import StopTraining

__all__ = ["TargetTracker"]


class TargetTracker:
    """A :func:`lrlab.train.fit` callback: loss and accuracy on a split every ``every``
    steps, and the end of the run at a target.

    After step ``t`` with ``t % every == 0`` (``t`` 0-based, so after ``t + 1`` steps), it
    evaluates the model on ``split`` (:func:`lrlab.step.evaluate`, eval mode, the run's
    loss and precision) and records ``"eval_loss"`` and ``"eval_acc"`` in the History. At
    the first evaluation that reaches ``target`` it sets :attr:`reached_at` to the steps
    taken, ``t + 1``, and raises :class:`lrlab.train.StopTraining`. With ``max_steps`` it
    ends the run after step ``max_steps - 1`` (evaluating there only if that step is one of
    its own), so that :attr:`reached_at` is always one of ``1, every + 1, 2 every + 1, ...``
    whatever the budget. It leaves the weights, the gradients and the random generators
    alone, so the steps a run takes do not depend on it.

    Parameters
    ----------
    data : lrlab.data.Dataset
        The data set the run trains on.
    every : int
        Evaluate at steps ``t % every == 0``, >= 1.
    split : {"test", "train"}
        The split to evaluate.
    target : float, optional
        The value to reach; without it the tracker only records (and stops at
        ``max_steps``).
    metric : {"accuracy", "loss"}
        What ``target`` is a value of.
    goal : {"above", "below"}, optional
        Reached when the metric is ``>= target`` or ``<= target``; by default "above" for
        accuracy and "below" for the loss.
    max_steps : int, optional
        End the run after this many steps, >= 1.
    batch_size : int
        Evaluation batch size, >= 1.

    Attributes
    ----------
    reached_at : int or None
        Steps taken when the target was first reached (None until then).

    Examples
    --------
    >>> from lrlab import data, models, train
    >>> digits = data.load("digits", device="cpu")
    >>> net = models.build("mlp", 10, digits.input_shape, hidden=(32,), seed=0)
    >>> tracker = TargetTracker(digits, every=5, target=0.8)
    >>> history = train.fit(net, digits, 0.1, 20, progress=False, callbacks=[tracker])
    >>> history.steps == tracker.reached_at, history.extras["eval_acc"][-1][1] >= 0.8
    (True, True)
    """

    def __init__(
        self,
        data,
        *,
        every: int = 1,
        split: str = "test",
        target: float | None = None,
        metric: str = "accuracy",
        goal: str | None = None,
        max_steps: int | None = None,
        batch_size: int = 1024,
    ):
        self.every = _check.integer("every", every, minimum=1)
        self.split = _check.choice("split", split, ("test", "train"))
        self.metric = _check.choice("metric", metric, ("accuracy", "loss"))
        if goal is None:
            goal = "above" if metric == "accuracy" else "below"
        self.goal = _check.choice("goal", goal, ("above", "below"))
        self.target = None if target is None else _check.number("target", target)
        self.max_steps = None if max_steps is None else _check.integer("max_steps", max_steps, 1)
        self.batch_size = _check.integer("batch_size", batch_size, minimum=1)
        self.data = data
        self.reached_at: int | None = None

    def wants(self, step: int) -> bool:
        """Whether the tracker evaluates after step ``step``: ``step % every == 0``, and the
        last step before ``max_steps``."""
        return step % self.every == 0 or (self.max_steps is not None and step + 1 == self.max_steps)

    def reached(self, value: float) -> bool:
        """Whether ``value`` of the metric reaches the target (False without one)."""
        if self.target is None:
            return False
        return value >= self.target if self.goal == "above" else value <= self.target

    def on_fit_start(self, model: nn.Module, optimizer, history) -> None:
        self.reached_at = None

    def __call__(self, model: nn.Module, step: int, history) -> None:
        if not self.wants(step):
            return
        if step % self.every:  # the budget's last step, between two evaluations
            raise StopTraining
        config = history.config
        loss, acc = evaluate(
            model,
            self.data,
            self.split,
            self.batch_size,
            config.get("precision", "fp32"),
            bool(config.get("channels_last", False)),
            choose_loss(config.get("loss"), getattr(self.data, "task", "classification")),
        )
        history.record("eval_loss", step, loss)
        history.record("eval_acc", step, acc)
        if self.reached(acc if self.metric == "accuracy" else loss):
            self.reached_at = step + 1
            raise StopTraining
        if self.max_steps is not None and step + 1 >= self.max_steps:
            raise StopTraining
