"""The experiments of the chapter "Restarts, cycles and snapshot ensembles".

On MNIST-1D (Greydanus 2020) with the 1-D CNN of :mod:`lrlab.models`, every schedule's
rates come from one range test read with :func:`lrlab.lrfind.cyclical_bounds`, as Smith
recommends, and every comparison uses the same seeds in every arm, ten or more:

- ``clr`` (:mod:`~lrlab.experiments.restarts.clr`): cyclical rates (Smith 2017),
  ``triangular``, ``triangular2`` and ``exp_range``, against a constant rate and step decay;
- ``sgdr`` (:mod:`~lrlab.experiments.restarts.sgdr`): warm restarts (Loshchilov & Hutter
  2017) against step decay at the same peak and budget, epoch by epoch;
- ``snapshot-ensembles`` (:mod:`~lrlab.experiments.restarts.snapshots`): snapshot
  ensembles (Huang et al. 2017) at the range test's upper bound and at half of it, against
  one model of the same budget and against ensembles of independently trained models; how
  often runs collapse, and the sharpness at every cycle end.

:mod:`~lrlab.experiments.restarts.common` holds what they share.

>>> [exp.name for exp in EXPERIMENTS]
['clr', 'sgdr', 'snapshot-ensembles']
"""

from __future__ import annotations

from lrlab.experiments.restarts.clr import CLR, clr_experiment, clr_schedules
from lrlab.experiments.restarts.common import (
    COLLAPSE_FACTOR,
    collapse_epoch,
    collapsed,
    final_accuracy,
)
from lrlab.experiments.restarts.sgdr import (
    SGDR,
    sgdr_cycle_epochs,
    sgdr_experiment,
    sgdr_schedules,
)
from lrlab.experiments.restarts.snapshots import (
    SNAPSHOTS,
    arm_name,
    independent_seeds,
    snapshot_experiment,
    snapshot_schedules,
)

__all__ = [
    "CLR",
    "COLLAPSE_FACTOR",
    "EXPERIMENTS",
    "SGDR",
    "SNAPSHOTS",
    "arm_name",
    "clr_experiment",
    "clr_schedules",
    "collapse_epoch",
    "collapsed",
    "final_accuracy",
    "independent_seeds",
    "sgdr_cycle_epochs",
    "sgdr_experiment",
    "sgdr_schedules",
    "snapshot_experiment",
    "snapshot_schedules",
]

#: The experiments of this chapter.
EXPERIMENTS = (CLR, SGDR, SNAPSHOTS)
