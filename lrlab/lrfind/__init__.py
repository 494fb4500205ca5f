"""The learning-rate range test (Smith, 2017) and the rules that read a rate off its curve.

Train for ``num_iter`` steps while the learning rate grows from ``start_lr`` to
``end_lr``, one optimizer step per rate, and record each step's loss. Too small a rate
and the loss barely moves; too large and it blows up; the useful rates lie on the steep
descent in between. :func:`range_test` runs the sweep and puts the model and optimizer
back exactly as they were; :class:`RangeTestResult` holds the curve, suggests a rate by
the rules of fastai and torch-lr-finder, and plots it. :func:`range_test_seeds` repeats
the test over seeds to show how much each suggestion moves; :func:`blowup_lr`,
:func:`initial_sharpness` and :func:`sharpness_along_test` compare where the loss blows
up with the stability limit 2/λ_max of gradient descent. ``lrlab lr-find``
(:func:`lrlab.cli.run_lr_find`) runs the test from the command line.

The package holds one idea per module: :mod:`~lrlab.lrfind.sweep` (the rates and the
smoothing), :mod:`~lrlab.lrfind.rules` (the suggestion rules), :mod:`~lrlab.lrfind.result`
(the result classes), :mod:`~lrlab.lrfind.run` (running the test) and
:mod:`~lrlab.lrfind.sharpness` (the curvature view); every name is importable from
``lrlab.lrfind``.

>>> import torch
>>> from lrlab import data, lrfind, models
>>> digits = data.load("digits", device="cpu")
>>> _ = torch.manual_seed(0)
>>> net = models.build("mlp", 10, digits.input_shape)
>>> result = lrfind.range_test(net, digits, num_iter=50)
>>> len(result.lrs) == len(result.losses) == len(result.smoothed) <= 50
True
>>> 1e-7 < result.suggest("valley") < 10
True
"""

from __future__ import annotations

from lrlab.lrfind.result import RangeTestResult, SeedSweep
from lrlab.lrfind.rules import (
    METHODS,
    cyclical_bounds,
    minimum,
    slide,
    steep,
    steepest,
    valley,
)
from lrlab.lrfind.run import CONFIG_KEYS, OPTIONS, range_test, range_test_seeds, run_config
from lrlab.lrfind.sharpness import blowup_lr, initial_sharpness, plot_blowup, sharpness_along_test
from lrlab.lrfind.sweep import MODES, lr_sweep, smooth_losses

__all__ = [
    "CONFIG_KEYS",
    "OPTIONS",
    "METHODS",
    "MODES",
    "RangeTestResult",
    "SeedSweep",
    "blowup_lr",
    "cyclical_bounds",
    "initial_sharpness",
    "lr_sweep",
    "minimum",
    "plot_blowup",
    "range_test",
    "range_test_seeds",
    "run_config",
    "sharpness_along_test",
    "slide",
    "smooth_losses",
    "steep",
    "steepest",
    "valley",
]
