"""The rate, the batch and the width: how the best learning rate moves as a network scales.

- :mod:`lrlab.scaling.noise` — the gradient noise scale :math:`B_\\text{simple}` of
  McCandlish et al. (2018), its unbiased estimator from two batch sizes
  (:func:`noise_scale`, :func:`simple_noise_scale`) and a :func:`lrlab.train.fit` callback
  (:class:`NoiseScaleTracker`).
- :mod:`lrlab.scaling.critical` — the critical batch size: steps-to-target against batch
  size and the fit of :math:`(S/S_\\text{min} - 1)(E/E_\\text{min} - 1) = 1`
  (:func:`critical_batch`, :func:`steps_to_target`).
- :mod:`lrlab.scaling.best` — the best rate of a sweep by one stated rule
  (:func:`best_rate`).
- :mod:`lrlab.scaling.target` — steps to a target, measured while training: a ``fit``
  callback that evaluates every few steps and ends the run at the target
  (:class:`TargetTracker`).
- :mod:`lrlab.scaling.parametrization` — μP (Yang et al. 2021): per-layer rates
  (:func:`mup_param_groups`, :func:`mup_scales`) for the μP MLP of
  ``lrlab.models.build("mlp", ..., parametrization="mup", base_width=...)``.
- :mod:`lrlab.scaling.coordinates` — the coordinate check: each layer's activation size
  against width after a few steps (:func:`coordinate_check`).
"""

from __future__ import annotations

from lrlab.scaling.best import BestRate, best_rate
from lrlab.scaling.coordinates import coordinate_check
from lrlab.scaling.critical import CriticalBatch, critical_batch, steps_to_target
from lrlab.scaling.noise import NoiseScale, NoiseScaleTracker, noise_scale, simple_noise_scale
from lrlab.scaling.parametrization import ROLES, mup_param_groups, mup_scales
from lrlab.scaling.target import TargetTracker

__all__ = [
    "ROLES",
    "BestRate",
    "CriticalBatch",
    "NoiseScale",
    "NoiseScaleTracker",
    "TargetTracker",
    "best_rate",
    "coordinate_check",
    "critical_batch",
    "mup_param_groups",
    "mup_scales",
    "noise_scale",
    "simple_noise_scale",
    "steps_to_target",
]
