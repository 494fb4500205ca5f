"""Tests of lrlab.history: the record of a run (JSON round trip, extras, plot)."""

from __future__ import annotations

import math

import numpy as np
import torch

from lrlab import models, train
from lrlab.history import History


def mlp(digits, seed=0):
    return models.build("mlp", 10, digits.input_shape, seed=seed)


def test_history_json_round_trip_and_plot(digits):
    history = train.fit(mlp(digits), digits, 0.05, epochs=2, progress=False)
    history.record("sharpness", 3, np.float32(1.5))
    history.record("spectrum", 4, torch.tensor([2.0, 0.5]))
    assert history.extras == {"sharpness": [[3, 1.5]], "spectrum": [[4, [2.0, 0.5]]]}
    restored = History.from_json(history.to_json())
    assert restored == history
    history.record("sharpness", 5, float("inf"))
    assert History.from_json(history.to_json()).extras["sharpness"][-1] == [5, math.inf]
    fig = history.plot()
    ax_lr, ax_loss, ax_acc = fig.axes
    assert ax_lr.get_xlabel() == "optimizer step" and ax_lr.get_ylabel() == "learning rate"
    assert ax_acc.get_xlabel() == "epoch" and len(ax_loss.get_lines()) == 3
