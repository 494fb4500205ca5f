"""The experiments of the chapter "Flat minima and peak schedules": Seong et al.'s (2018)
comparison at CPU scale, peak schedules against the usual ones, and how flat each final model
is.

- ``seong-peak`` (:func:`run_flatness`, :mod:`~.flatness`): one model per schedule and
  seed on MNIST-1D, at least ten seeds an arm; every run's training loss, gradient norm and
  sharpness followed during training, every final model measured with
  :mod:`lrlab.landscape` and :mod:`lrlab.curvature`;
- ``flat-minima-ensembles`` (:func:`run_ensembles`, :mod:`~.ensembles`): Seong's Table 1,
  ensembles of independently trained models per schedule, as a curve and as disjoint groups
  of equal cost.

:mod:`~.training` holds what both share: :func:`seong_schedules` (Seong's rules, and a
Laplacian widened to the Gaussian's mean rate), :func:`peak_epoch` (the epoch of each
schedule's own peak) and one training run. :mod:`~.matching` reads sharpness at equal
training loss, late in training only (:func:`equal_loss`).

>>> [exp.name for exp in EXPERIMENTS]
['seong-peak', 'flat-minima-ensembles']
"""

from __future__ import annotations

from lrlab.experiments.flat_minima.ensembles import ENSEMBLES, run_ensembles
from lrlab.experiments.flat_minima.flatness import SEONG, run_flatness
from lrlab.experiments.flat_minima.matching import (
    equal_loss,
    failure_limit,
    first_late_epoch,
    late_crossing,
    late_range,
    match_pair,
    matched_pair,
)
from lrlab.experiments.flat_minima.training import (
    SCHEDULES,
    TRAINING,
    peak_epoch,
    seong_schedules,
    train_one,
)

__all__ = [
    "ENSEMBLES",
    "EXPERIMENTS",
    "SCHEDULES",
    "SEONG",
    "TRAINING",
    "equal_loss",
    "failure_limit",
    "first_late_epoch",
    "late_crossing",
    "late_range",
    "match_pair",
    "matched_pair",
    "peak_epoch",
    "run_ensembles",
    "run_flatness",
    "seong_schedules",
    "train_one",
]

#: The experiments of this chapter.
EXPERIMENTS = (SEONG, ENSEMBLES)
