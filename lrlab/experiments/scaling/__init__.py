"""The experiments of the chapter "The rate, the batch and the width" (book/scaling).

On MNIST-1D (Greydanus 2020) with ReLU MLPs of two hidden layers, at a constant rate:

- ``noise-scale`` and ``batch-size`` (:mod:`~lrlab.experiments.scaling.batch`): the noise
  scale along training, and steps and examples to a target against batch size
  (McCandlish et al. 2018);
- ``width`` (:mod:`~lrlab.experiments.scaling.width`): the best rate against width under
  the standard parametrization and μP (Yang et al. 2022), for SGD and Adam.

Every (arm, seed) is one task of :func:`lrlab._pool.pmap`; a task's result depends on its
arguments alone, not on the number of processes.

>>> [exp.name for exp in EXPERIMENTS]
['noise-scale', 'batch-size', 'width']
"""

from __future__ import annotations

from lrlab.experiments.scaling.batch import BATCH, NOISE, run_batch, run_noise
from lrlab.experiments.scaling.width import WIDTH, run_width

__all__ = ["BATCH", "EXPERIMENTS", "NOISE", "WIDTH", "run_batch", "run_noise", "run_width"]

#: The experiments of this chapter.
EXPERIMENTS = (NOISE, BATCH, WIDTH)
