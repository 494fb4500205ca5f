"""Curvature of a loss by Hessian-vector products, and the sharpness of a network in training.

- :mod:`lrlab.curvature.hessian`: Hessian-vector products (:func:`hvp`), the top eigenvalue
  by Lanczos or power iteration (:func:`top_eigenvalue`), Hutchinson's trace estimate
  (:func:`hessian_trace`), all on a loss given as a function of no arguments.
- :mod:`lrlab.curvature.tracking`: the sharpness λ_max of a model's loss on a batch
  (:func:`sharpness`), the optimizer's stability threshold (:func:`stability_threshold`), and
  :class:`SharpnessTracker`, a :func:`lrlab.train.fit` callback recording both.

Everything is importable from here: ``from lrlab.curvature import sharpness``.
"""

from __future__ import annotations

from lrlab.curvature.hessian import hessian_trace, hvp, top_eigenvalue
from lrlab.curvature.tracking import SharpnessTracker, sharpness, stability_threshold

__all__ = [
    "SharpnessTracker",
    "hessian_trace",
    "hvp",
    "sharpness",
    "stability_threshold",
    "top_eigenvalue",
]
