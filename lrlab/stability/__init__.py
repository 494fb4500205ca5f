r"""Network stability: how much one optimizer step changes what the network computes.

An essay on learning-rate decay ("Proposing a new effect of learning rate decay — Network
Stability", 2020) proposes that decay does more than let the weights settle into a deeper
minimum: it makes successive SGD steps see nearly the same "probabilistic loss field", so
that a layer's forward activations and backward signals stop jumping between regimes from
one step to the next. This package turns that notion into
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
:class:`StabilityTracker` records all of it during :func:`lrlab.train.fit`, and
:class:`GradientCosine` the cosine of successive gradients at every step, cheaply;
:func:`dead_units` counts the ReLU units a large step has switched off for good.

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

from lrlab.stability.metrics import (
    gradient_cosine,
    layer_progress,
    loss_wasserstein,
    prediction_kl,
    relative_change,
    relative_update,
)
from lrlab.stability.noise import noisy_quadratic_gradients, successive_correlation
from lrlab.stability.probes import LAYER_METRICS as LAYER_METRICS
from lrlab.stability.probes import ProbeState, activations, compare, layers, one_step, probe
from lrlab.stability.tracker import GradientCosine, StabilityTracker, series
from lrlab.stability.units import dead_units

__all__ = [
    "GradientCosine",
    "ProbeState",
    "StabilityTracker",
    "activations",
    "compare",
    "dead_units",
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
