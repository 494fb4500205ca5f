r"""Network stability: how much one optimizer step changes what the network computes.

An essay on learning-rate decay ("Proposing a new effect of learning rate decay — Network
Stability", 2020) proposes that decay does more than let the weights settle into a deeper
minimum: it makes successive SGD steps see nearly the same "probabilistic loss field", so
that a layer's forward activations and backward signals stop jumping between regimes from
one step to the next. This module turns that notion into
numbers, measured on a fixed *probe batch* between the parameters before and after a step:

- the relative drift of each layer's output, :math:`\lVert a_l(\theta') - a_l(\theta)\rVert /
  \lVert a_l(\theta)\rVert`, and of its backward signal :math:`\partial L / \partial a_l`;
- the cosine between successive minibatch gradients, :math:`\cos(g_t, g_{t+1})`;
- the change of the predictions: the mean KL divergence between the softmax outputs before
  and after, and the 1-Wasserstein distance between the per-example losses;
- the relative update size :math:`\lVert\Delta\theta_l\rVert / \lVert\theta_l\rVert` and the
  first-order loss decrease :math:`-\langle \nabla_{\theta_l} L, \Delta\theta_l\rangle` of
  each layer.

A *layer* is a module that owns parameters itself (``Linear``, ``Conv1d``, ``BatchNorm``
...), named as in ``model.named_modules()``. Probes run in evaluation mode (deterministic,
BatchNorm's running averages untouched) and put every module back in the mode it was in.
:class:`StabilityTracker` records all of it during :func:`lrlab.train.fit`.

>>> import torch
>>> from torch import nn
>>> _ = torch.manual_seed(0)
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
>>> m = one_step(net, x, y, x, y, lr=0.1)
>>> sorted(m["activation_drift"]), m["prediction_kl"] > 0
(['0', '2'], True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "ProbeState",
    "StabilityTracker",
    "activations",
    "compare",
    "gradient_cosine",
    "layer_progress",
    "layers",
    "loss_wasserstein",
    "noisy_quadratic_gradients",
    "one_step",
    "prediction_kl",
    "probe",
    "relative_change",
    "relative_update",
    "series",
    "successive_correlation",
]

#: Metrics :func:`compare` returns with one value per layer (the others are one number).
LAYER_METRICS = ("activation_drift", "backward_drift", "update_size", "layer_progress")


def layers(model: nn.Module) -> dict[str, nn.Module]:
    """The modules of ``model`` that own parameters themselves, in definition order.

    Examples
    --------
    >>> list(layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))))
    ['0', '2']
    """
    found = {
        name: module
        for name, module in model.named_modules()
        if any(True for _ in module.parameters(recurse=False))
    }
    if not found:
        raise ValueError("model must have at least one module with parameters, found none")
    return found


def _check_probe(inputs, targets=None) -> None:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(f"probe inputs must be a tensor, got {type(inputs).__name__}")
    if inputs.ndim == 0 or inputs.shape[0] == 0:
        raise ValueError(
            f"probe inputs must hold at least one example, got shape {tuple(inputs.shape)}"
        )
    if targets is not None:
        if not isinstance(targets, torch.Tensor):
            raise TypeError(f"probe targets must be a tensor, got {type(targets).__name__}")
        if targets.shape[:1] != inputs.shape[:1]:
            raise ValueError(
                f"probe targets must have one label per input ({inputs.shape[0]}), "
                f"got shape {tuple(targets.shape)}"
            )


class _EvalMode:
    """Evaluation mode inside the block; every module's own mode restored afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for module, mode in self.modes:
            module.training = mode


def _full_precision(logits: torch.Tensor) -> torch.Tensor:
    """Logits of a half-precision model in float32; float32 and float64 ones as they are."""
    return logits if logits.dtype in (torch.float32, torch.float64) else logits.float()


def _forward_recording(model, inputs, chosen: Mapping[str, nn.Module]):
    """Run the model with forward hooks on ``chosen``; return (output, {name: layer output})."""
    outputs: dict[str, torch.Tensor] = {}

    def hook_for(name):
        def hook(_module, _args, output):
            if isinstance(output, torch.Tensor):
                outputs[name] = output

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in chosen.items()]
    try:
        result = model(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return result, outputs


def activations(
    model: nn.Module, inputs: torch.Tensor, layer_names: Iterable[str] | None = None
) -> dict[str, torch.Tensor]:
    """Each layer's output on ``inputs`` (evaluation mode, no gradients, hooks removed).

    Parameters
    ----------
    model : torch.nn.Module
    inputs : torch.Tensor
        A batch, ``(n, *input_shape)`` with ``n >= 1``.
    layer_names : iterable of str, optional
        Which layers (default: every module with parameters, see :func:`layers`).

    Returns
    -------
    dict of str to torch.Tensor
        Detached outputs, in the order the modules are defined.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> {k: tuple(v.shape) for k, v in activations(net, torch.zeros(5, 2)).items()}
    {'0': (5, 3), '2': (5, 1)}
    """
    _check_probe(inputs)
    chosen = _select(model, layer_names)
    with _EvalMode(model), torch.no_grad():
        _, outputs = _forward_recording(model, inputs, chosen)
    return {name: outputs[name].detach() for name in chosen if name in outputs}


def _select(model, layer_names) -> dict[str, nn.Module]:
    found = layers(model)
    if layer_names is None:
        return found
    names = list(layer_names)
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"layer_names must be among {list(found)}, got unknown {unknown}")
    return {n: found[n] for n in names}


@dataclass
class ProbeState:
    """What a network computes on the probe batch at one parameter state (see :func:`probe`).

    Attributes
    ----------
    activations, backward : dict of str to torch.Tensor
        Each layer's output and the gradient of the mean probe loss with respect to it.
    logits : torch.Tensor
        The network's outputs, ``(n, classes)``.
    losses : torch.Tensor
        Per-example cross-entropy, ``(n,)``.
    params, param_grads : dict of str to torch.Tensor
        Each layer's own parameters and the gradient of the mean probe loss with respect
        to them, flattened into one vector per layer.
    """

    activations: dict[str, torch.Tensor]
    backward: dict[str, torch.Tensor]
    logits: torch.Tensor
    losses: torch.Tensor
    params: dict[str, torch.Tensor]
    param_grads: dict[str, torch.Tensor]


def probe(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> ProbeState:
    """One forward and backward pass on the probe batch, recording every layer.

    The gradients come from :func:`torch.autograd.grad`, so the parameters' ``.grad``
    (which :class:`StabilityTracker` reads) is left alone. Evaluation mode; modes restored.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> state = probe(net, torch.randn(4, 2), torch.tensor([0, 1, 1, 0]))
    >>> tuple(state.backward["2"].shape), tuple(state.losses.shape)
    ((4, 2), (4,))
    """
    _check_probe(inputs, targets)
    chosen = layers(model)
    own = {
        name: [p for p in m.parameters(recurse=False) if p.requires_grad]
        for name, m in chosen.items()
    }
    with _EvalMode(model), torch.enable_grad():
        logits, outputs = _forward_recording(model, inputs, chosen)
        losses = F.cross_entropy(_full_precision(logits), targets, reduction="none")
        names = [n for n in chosen if n in outputs and outputs[n].requires_grad]
        flat_params = [p for n in chosen for p in own[n]]
        grads = torch.autograd.grad(
            losses.mean(), [outputs[n] for n in names] + flat_params, allow_unused=True
        )
    backward = dict(zip(names, grads[: len(names)], strict=True))
    param_grads, params, i = {}, {}, len(names)
    for name in chosen:
        ps = own[name]
        gs = [
            g if g is not None else torch.zeros_like(p)
            for p, g in zip(ps, grads[i : i + len(ps)], strict=True)
        ]
        i += len(ps)
        if ps:
            params[name] = torch.cat([p.detach().reshape(-1) for p in ps]).clone()
            param_grads[name] = torch.cat([g.reshape(-1) for g in gs])
    return ProbeState(
        activations={n: outputs[n].detach() for n in chosen if n in outputs},
        backward={n: g.detach() for n, g in backward.items()},
        logits=logits.detach(),
        losses=losses.detach(),
        params=params,
        param_grads=param_grads,
    )


def relative_change(before: torch.Tensor, after: torch.Tensor) -> float:
    r"""The relative change :math:`\lVert b - a\rVert / \lVert a\rVert` (Frobenius norms).

    Examples
    --------
    >>> relative_change(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 5.0]))
    0.2
    """
    if before.shape != after.shape:
        raise ValueError(
            f"before and after must have one shape, got {before.shape} and {after.shape}"
        )
    before, after = before.double(), after.double()
    return float((after - before).norm() / before.norm())


def prediction_kl(logits_before: torch.Tensor, logits_after: torch.Tensor) -> float:
    r"""Mean KL divergence of the softmax outputs before and after a step.

    .. math:: \frac1n \sum_i \mathrm{KL}(p_i \,\|\, q_i)

    :math:`p_i` is example :math:`i`'s predicted distribution before the step and
    :math:`q_i` after it; computed in float64 from the logits.

    Examples
    --------
    >>> prediction_kl(torch.zeros(2, 3), torch.zeros(2, 3))
    0.0
    """
    if logits_before.shape != logits_after.shape or logits_before.ndim != 2:
        raise ValueError(
            "logits must be two (n, classes) tensors of one shape, got "
            f"{tuple(logits_before.shape)} and {tuple(logits_after.shape)}"
        )
    log_p = F.log_softmax(logits_before.double(), dim=1)
    log_q = F.log_softmax(logits_after.double(), dim=1)
    return float((log_p.exp() * (log_p - log_q)).sum(dim=1).mean())


def loss_wasserstein(losses_before: torch.Tensor, losses_after: torch.Tensor) -> float:
    r"""1-Wasserstein distance between two equal-size samples of per-example losses.

    For two empirical distributions of :math:`n` points each, the optimal transport
    matches them in sorted order: :math:`W_1 = \frac1n\sum_i |a_{(i)} - b_{(i)}|`.

    Examples
    --------
    >>> loss_wasserstein(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 0.0]))
    1.0
    """
    a, b = losses_before.reshape(-1).double(), losses_after.reshape(-1).double()
    if a.numel() != b.numel() or a.numel() == 0:
        raise ValueError(
            f"losses must be two non-empty samples of one size, got {a.numel()} and {b.numel()}"
        )
    return float((a.sort().values - b.sort().values).abs().mean())


def _flat(tensors) -> torch.Tensor:
    if isinstance(tensors, torch.Tensor):
        return tensors.reshape(-1).double()
    return torch.cat([t.reshape(-1).double() for t in tensors])


def gradient_cosine(grads_a, grads_b) -> float:
    r"""Cosine between two gradients, each a tensor or a sequence of tensors (flattened).

    :math:`\cos(g, g') = \langle g, g'\rangle / (\lVert g\rVert\,\lVert g'\rVert)`.

    Examples
    --------
    >>> gradient_cosine([torch.tensor([1.0, 0.0])], [torch.tensor([-1.0, 0.0])])
    -1.0
    """
    a, b = _flat(grads_a), _flat(grads_b)
    if a.shape != b.shape:
        raise ValueError(f"gradients must have one size, got {a.numel()} and {b.numel()}")
    return float(a @ b / (a.norm() * b.norm()))


def relative_update(
    params_before: Mapping[str, torch.Tensor], params_after: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    r"""Per layer, :math:`\lVert \theta_l' - \theta_l\rVert / \lVert \theta_l\rVert`.

    Examples
    --------
    >>> relative_update({"0": torch.tensor([1.0, 0.0])}, {"0": torch.tensor([1.0, 0.5])})
    {'0': 0.5}
    """
    return {n: relative_change(params_before[n], params_after[n]) for n in params_before}


def layer_progress(
    param_grads: Mapping[str, torch.Tensor],
    params_before: Mapping[str, torch.Tensor],
    params_after: Mapping[str, torch.Tensor],
) -> dict[str, float]:
    r"""Per layer, the first-order decrease of the probe loss its own update brings.

    .. math:: \pi_l = -\langle \nabla_{\theta_l} L(\theta),\ \theta_l' - \theta_l \rangle

    The sum over layers is the first-order change of the loss, :math:`L(\theta) -
    L(\theta') \approx \sum_l \pi_l`; a layer with :math:`\pi_l < 0` moved uphill.

    Examples
    --------
    >>> layer_progress({"0": torch.tensor([2.0])}, {"0": torch.tensor([1.0])},
    ...                {"0": torch.tensor([0.5])})
    {'0': 1.0}
    """
    return {
        n: float(-(g.double() @ (params_after[n].double() - params_before[n].double())))
        for n, g in param_grads.items()
    }


def compare(before: ProbeState, after: ProbeState) -> dict:
    """Every stability metric between two probe states (all but the gradient cosine).

    Returns
    -------
    dict
        ``activation_drift``, ``backward_drift``, ``update_size`` and ``layer_progress``
        (dicts of layer name to float, see :data:`LAYER_METRICS`), ``prediction_kl``,
        ``loss_w1`` and ``loss_change`` (mean probe loss after minus before).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 2))
    >>> x, y = torch.randn(3, 2), torch.tensor([0, 1, 0])
    >>> s = probe(net, x, y)
    >>> compare(s, s)["prediction_kl"]
    0.0
    """
    return {
        "activation_drift": {
            n: relative_change(a, after.activations[n]) for n, a in before.activations.items()
        },
        "backward_drift": {
            n: relative_change(g, after.backward[n]) for n, g in before.backward.items()
        },
        "update_size": relative_update(before.params, after.params),
        "layer_progress": layer_progress(before.param_grads, before.params, after.params),
        "prediction_kl": prediction_kl(before.logits, after.logits),
        "loss_w1": loss_wasserstein(before.losses, after.losses),
        "loss_change": float(after.losses.double().mean() - before.losses.double().mean()),
    }


def one_step(
    model: nn.Module,
    probe_inputs: torch.Tensor,
    probe_targets: torch.Tensor,
    batch_inputs: torch.Tensor,
    batch_targets: torch.Tensor,
    lr: float,
) -> dict:
    r"""The metrics of one plain SGD step :math:`\theta' = \theta - \eta\nabla L_B(\theta)`.

    The gradient is the mean cross-entropy gradient on the batch (in the model's current
    mode); the step is taken on the model, measured with :func:`compare` on the probe
    batch, and undone: the model ends with exactly its parameters and ``.grad``.

    Examples
    --------
    >>> net = nn.Linear(3, 2)
    >>> x, y = torch.randn(8, 3), torch.randint(0, 2, (8,))
    >>> w = net.weight.clone()
    >>> _ = one_step(net, x, y, x, y, lr=0.5)
    >>> torch.equal(w, net.weight)
    True
    """
    _check_probe(probe_inputs, probe_targets)
    _check_probe(batch_inputs, batch_targets)
    if not (isinstance(lr, (int, float, np.floating, np.integer)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    loss = F.cross_entropy(_full_precision(model(batch_inputs)), batch_targets)
    grads = torch.autograd.grad(loss, params)
    before = probe(model, probe_inputs, probe_targets)
    saved = [p.detach().clone() for p in params]
    try:
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p.sub_(float(lr) * g)
        after = probe(model, probe_inputs, probe_targets)
    finally:
        with torch.no_grad():
            for p, s in zip(params, saved, strict=True):
                p.copy_(s)
    return compare(before, after)


def _check_every(every) -> int:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    return int(every)


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
        _check_probe(probe_inputs, probe_targets)
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
        grad = None if any(g is None for g in grads) else _flat([g.detach() for g in grads])
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
    per-layer one. ``history`` is a :class:`lrlab.train.History` or its ``extras`` dict.

    Examples
    --------
    >>> from lrlab.train import History
    >>> h = History()
    >>> h.record("activation_drift", 10, {"0": 0.1, "2": 0.3})
    >>> h.record("activation_drift", 20, {"0": 0.2, "2": 0.1})
    >>> steps, values = series(h, "activation_drift")
    >>> steps.tolist(), values["2"].tolist()
    ([10, 20], [0.3, 0.1])
    """
    extras = history if isinstance(history, Mapping) else history.extras
    if metric not in extras:
        raise ValueError(f"metric must be one of {sorted(extras)}, got {metric!r}")
    rows = extras[metric]
    steps = np.array([s for s, _ in rows], dtype=int)
    if rows and isinstance(rows[0][1], Mapping):
        return steps, {n: np.array([v[n] for _, v in rows], dtype=float) for n in rows[0][1]}
    return steps, np.array([v for _, v in rows], dtype=float)


def noisy_quadratic_gradients(
    curvature: float,
    lr: float,
    steps: int,
    dim: int = 1,
    noise: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    r"""The gradients SGD sees on :math:`\frac h2\lVert x\rVert^2` with Gaussian gradient noise.

    .. math:: g_t = h x_t + \sigma\xi_t, \quad x_{t+1} = x_t - \eta g_t, \quad
              \xi_t \sim \mathcal N(0, I_d)

    For :math:`\eta h < 2` the iterates have the stationary variance
    :math:`\eta\sigma^2 / (h(2 - \eta h))` per coordinate, and :math:`x_0` is drawn from it, so
    the run is stationary from the start. There,
    :math:`\mathbb E g^2 = 2\sigma^2/(2 - \eta h)` and the correlation of successive
    gradients is :math:`-\eta h/2`: negative for every step, and :math:`-1` at the edge
    of stability :math:`\eta = 2/h` (see the network-stability chapter). For
    :math:`\eta h \ge 2` the run starts at :math:`x_0 = 0`.

    Returns
    -------
    numpy.ndarray
        ``(steps, dim)`` gradients.

    Examples
    --------
    >>> g = noisy_quadratic_gradients(1.0, 1.0, 20000, seed=1)
    >>> round(successive_correlation(g), 1)  # -eta h / 2
    -0.5
    """
    for name, value in (("curvature", curvature), ("lr", lr), ("noise", noise)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    for name, value in (("steps", steps), ("dim", dim)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    rng = np.random.default_rng(seed)
    xi = rng.standard_normal((steps, dim)) * noise
    stationary = lr * curvature < 2
    spread = np.sqrt(lr * noise**2 / (curvature * (2 - lr * curvature))) if stationary else 0.0
    x = rng.standard_normal(dim) * spread
    grads = np.empty((steps, dim))
    for t in range(steps):
        grads[t] = curvature * x + xi[t]
        x = x - lr * grads[t]
    return grads


def successive_correlation(gradients) -> float:
    r"""Correlation of successive gradients, :math:`\sum_t \langle g_t, g_{t+1}\rangle /
    \sum_t \lVert g_t\rVert^2` (pooled over steps; ``gradients`` is ``(steps, dim)``).

    Examples
    --------
    >>> successive_correlation(np.array([[1.0], [-1.0], [1.0]]))
    -1.0
    """
    g = np.asarray(gradients, dtype=float)
    if g.ndim == 1:
        g = g[:, None]
    if g.ndim != 2 or len(g) < 2:
        raise ValueError(f"gradients must be (steps >= 2, dim), got shape {g.shape}")
    return float(np.sum(g[1:] * g[:-1]) / np.sum(g[:-1] ** 2))
