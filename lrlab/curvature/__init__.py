"""Curvature of a loss by Hessian-vector products, and the sharpness of a network in training.

- :mod:`lrlab.curvature.hessian`: Hessian-vector products (:func:`hvp`), the top eigenvalue
  by Lanczos or power iteration (:func:`top_eigenvalue`, warm-startable and optionally
  preconditioned), Hutchinson's trace estimate (:func:`hessian_trace`), all on a loss given
  as a function of no arguments.
- :mod:`lrlab.curvature.measure`: the sharpness λ_max of a model's loss on a batch
  (:func:`sharpness`), in a chosen mode, at chosen weights, on a subset of the batch.
- :mod:`lrlab.curvature.preconditioned`: Adam's preconditioner (:func:`adam_preconditioner`)
  and the preconditioned sharpness λ₁(P⁻¹H) (:func:`preconditioned_sharpness`).
- :mod:`lrlab.curvature.tracking`: the optimizer's stability threshold
  (:func:`stability_threshold`: SGD, momentum, Nesterov, Adam), and
  :class:`SharpnessTracker`, a :func:`lrlab.train.fit` callback recording both.

Everything is importable from here: ``from lrlab.curvature import sharpness``.
"""

from __future__ import annotations

from lrlab.curvature.hessian import hessian_trace, hvp, top_eigenvalue
from lrlab.curvature.measure import sharpness
from lrlab.curvature.preconditioned import adam_preconditioner, preconditioned_sharpness
from lrlab.curvature.tracking import SharpnessTracker, stability_threshold

__all__ = [
    "SharpnessTracker",
    "adam_preconditioner",
    "hessian_trace",
    "hvp",
    "preconditioned_sharpness",
    "sharpness",
    "stability_threshold",
    "top_eigenvalue",
]
