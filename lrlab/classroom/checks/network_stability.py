"""Self-checks for the exercises of the network-stability chapter (book/network-stability)."""

from __future__ import annotations

import functools

import numpy as np

from lrlab import stability
from lrlab.classroom.selfcheck import exercise


@exercise(
    "network-stability-ex-gradient-size",
    asks="the simulated mean of g² over 20,000 steps (seed=1) for ηh = 1.9 and ηh = 1.99, "
    "a list of two numbers",
    hint="stability.noisy_quadratic_gradients(1.0, eta_h, 20000, seed=1) returns the gradients; "
    "average their squares. Another seed lands within sampling error of the formula.",
    rtol=1e-6,
    close=0.3,  # other seeds: the sampling error near the edge is of order 20 %
)
def _mean_squared_gradients():
    return [
        np.mean(stability.noisy_quadratic_gradients(1.0, eta_h, 20000, seed=1) ** 2)
        for eta_h in (1.9, 1.99)
    ]


def _trained_mlp():
    """The chapter's MLP: hidden widths 64 and 64, seed 0, three epochs at rate 0.05 on the
    digits, then in float64; with the digits."""
    from lrlab import data, models, train

    digits = data.load("digits", device="cpu")
    net = models.build("mlp", digits.num_classes, digits.input_shape, seed=0, hidden=(64, 64))
    train.fit(net, digits, 0.05, epochs=3, progress=False)
    return digits, net.double()


@exercise(
    "network-stability-ex-second-layer",
    asks="the factor by which the second layer's forward drift grows from η = 0.05 to "
    "η = 0.1 (one SGD step from the trained MLP, the chapter's probe and batch), one number",
    hint="stability.one_step(mlp, probe_x, probe_y, batch_x, batch_y, lr) returns "
    "'activation_drift' per layer; divide the second layer's value at 0.1 by the one at 0.05.",
    rtol=1e-3,
    close=0.05,
)
@functools.cache  # trains a network: once per process
def _second_layer_growth():
    digits, net = _trained_mlp()
    x, y = digits.tensors("train")
    probe, batch = (x[:256].double(), y[:256]), (x[256:384].double(), y[256:384])
    second = list(stability.layers(net))[1]
    drift = [stability.one_step(net, *probe, *batch, lr)["activation_drift"] for lr in (0.05, 0.1)]
    return drift[1][second] / drift[0][second]


@exercise(
    "network-stability-ex-batch-cosine",
    asks="the mean successive-gradient cosine over the two epochs with batch 16, then with "
    "batch 256, a list of two numbers",
    hint="Build the MLP with seed=0, train it with train.fit(..., epochs=2, batch_size=B, "
    "callbacks=[tracker]) and average stability.series(history, 'gradient_cosine').",
    rtol=1e-3,
    close=0.2,
)
@functools.cache  # trains a network: once per process
def _batch_cosines():
    from lrlab import data, models, train

    digits = data.load("digits", device="cpu")
    x, y = digits.tensors("train")
    means = []
    for batch_size in (16, 256):
        net = models.build("mlp", digits.num_classes, digits.input_shape, seed=0, hidden=(64, 64))
        tracker = stability.StabilityTracker(x[:256], y[:256], every=1)
        history = train.fit(
            net, digits, 0.05, epochs=2, batch_size=batch_size, progress=False, callbacks=[tracker]
        )
        means.append(float(np.mean(stability.series(history, "gradient_cosine")[1])))
    return means
