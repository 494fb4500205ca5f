"""Recording stability during training: the :class:`StabilityTracker` and
:class:`GradientCosine` callbacks of :func:`lrlab.train.fit`, and :func:`series` to read what
they recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from lrlab import _check
from lrlab.stability.metrics import flatten, gradient_cosine
from lrlab.stability.probes import ProbeState, check_probe, compare, probe

__all__ = ["GradientCosine", "StabilityTracker", "series"]


def _check_every(every) -> int:
    return _check.integer("every", every, minimum=1)


class GradientCosine:
    """A :func:`lrlab.train.fit` callback: the cosine between successive steps' gradients.

    Records ``"gradient_cosine"`` at every step t ≥ 1: cos(g_t, g_{t−1}) of the (minibatch)
    gradients the optimizer used. Near a minimum with curvature λ along the top eigenvector,
    gradient descent multiplies that component by 1 − ηλ per step, so once λ > 1/η the
    gradients alternate in sign along it, and past 2/η (the edge of stability, Cohen et al.
    2021) the cosine is driven towards −1. Steps that are not consecutive (a callback
    called only now and then) record nothing.

    Examples
    --------
    >>> from lrlab.history import History
    >>> w = nn.Parameter(torch.tensor([1.0, 0.0]))
    >>> model, history, cosine = nn.Module(), History(), GradientCosine()
    >>> model.w = w
    >>> for step, g in enumerate([[1.0, 0.0], [-1.0, 0.0]]):
    ...     w.grad = torch.tensor(g)
    ...     cosine(model, step, history)
    >>> history.extras["gradient_cosine"]
    [[1, -1.0]]
    """

    def __init__(self):
        self._previous: torch.Tensor | None = None
        self._previous_step: int | None = None

    def __call__(self, model: nn.Module, step: int, history) -> None:
        grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
        if not grads:
            return
        current = torch.cat(grads).detach().double()
        if self._previous is not None and self._previous_step == step - 1:
            history.record("gradient_cosine", step, gradient_cosine(current, self._previous))
        self._previous, self._previous_step = current.clone(), step


class StabilityTracker:
    """A :func:`lrlab.train.fit` callback recording the stability metrics every ``every`` steps.

    At tracked steps :math:`t = k, 2k, \\dots` it measures step :math:`t`'s update: it
    probes the network at step :math:`t - 1` (the parameters step :math:`t` starts from,
    and that step's minibatch gradient, which ``fit`` leaves in ``.grad``), probes again
    at step :math:`t`, and records with ``history.record(name, t, value)``:

    - ``activation_drift``, ``backward_drift``, ``update_size``, ``layer_progress``:
      dicts of layer name to float;
    - ``prediction_kl``, ``loss_w1``, ``loss_change``: floats (see :func:`compare`);
    - ``gradient_cosine``: :math:`\\cos(g_{t-1}, g_t)` of the two minibatch gradients
      (NaN if a parameter had no gradient).

    It wants exactly steps :math:`mk - 1` and :math:`mk` (:meth:`wants`) and ignores the
    others, so it is correct whether or not ``fit`` filters the calls. Probes run in
    evaluation mode and restore every module's mode; no hook outlives a call.

    Parameters
    ----------
    probe_inputs, probe_targets : torch.Tensor
        A fixed batch (at least one example), moved to the model's device when used.
    every : int
        Steps between records, >= 1.

    Examples
    --------
    >>> from lrlab import data, models, train
    >>> digits = data.load("digits", device="cpu")
    >>> x, y = digits.tensors("train")
    >>> _ = torch.manual_seed(0)
    >>> net = models.build("mlp", 10, digits.input_shape)
    >>> tracker = StabilityTracker(x[:64], y[:64], every=5)
    >>> h = train.fit(net, digits, 0.05, epochs=1, progress=False, callbacks=[tracker])
    >>> [step for step, _ in h.extras["prediction_kl"]]
    [5, 10]
    """

    def __init__(self, probe_inputs: torch.Tensor, probe_targets: torch.Tensor, every: int = 10):
        check_probe(probe_inputs, probe_targets)
        self.every = _check_every(every)
        self.probe_inputs = probe_inputs
        self.probe_targets = probe_targets
        self._state: ProbeState | None = None  # the probe at self._state_step
        self._grad: torch.Tensor | None = None  # that step's minibatch gradient, flattened
        self._state_step: int | None = None

    def wants(self, step: int) -> bool:
        """True for the steps the tracker needs: ``m*every - 1`` and ``m*every`` (m >= 1)."""
        return step >= self.every - 1 and (step + 1) % self.every in (0, 1 % self.every)

    def __call__(self, model: nn.Module, step: int, history) -> None:
        if not self.wants(step):
            return
        device = next(model.parameters()).device
        state = probe(model, self.probe_inputs.to(device), self.probe_targets.to(device))
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        grad = None if any(g is None for g in grads) else flatten([g.detach() for g in grads])
        if step % self.every == 0 and self._state_step == step - 1:
            for name, value in compare(self._state, state).items():
                history.record(name, step, value)
            cosine = (
                gradient_cosine(self._grad, grad)
                if grad is not None and self._grad is not None
                else float("nan")
            )
            history.record("gradient_cosine", step, cosine)
        if (step + 1) % self.every == 0:
            self._state, self._grad, self._state_step = state, grad, step
        else:
            self._state = self._grad = self._state_step = None


def series(history, metric: str):
    """A recorded metric as arrays: ``(steps, values)``.

    ``values`` is an array for a scalar metric and a dict of layer name to array for a
    per-layer one. ``history`` is a :class:`lrlab.history.History` or its ``extras`` dict.

    Examples
    --------
    >>> from lrlab.history import History
    >>> h = History()
    >>> h.record("activation_drift", 10, {"0": 0.1, "2": 0.3})
    >>> h.record("activation_drift", 20, {"0": 0.2, "2": 0.1})
    >>> steps, values = series(h, "activation_drift")
    >>> steps.tolist(), values["2"].tolist()
    ([10, 20], [0.3, 0.1])
    """
    extras = history if isinstance(history, Mapping) else history.extras
    _check.choice("metric", metric, sorted(extras))
    rows = extras[metric]
    steps = np.array([s for s, _ in rows], dtype=int)
    if rows and isinstance(rows[0][1], Mapping):
        return steps, {n: np.array([v[n] for _, v in rows], dtype=float) for n in rows[0][1]}
    return steps, np.array([v for _, v in rows], dtype=float)
