"""lrlab.stability.dead_units against the pre-activations computed independently in NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import models, stability


def test_dead_units_of_an_mlp_match_its_pre_activations_in_numpy():
    """Catches a count over the wrong axis (examples instead of units) or of the wrong sign:
    the reference computes each hidden layer's pre-activations with NumPy in float64 and
    calls a unit dead when none of them is positive."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        net[0].bias[:6] -= 10.0  # six units of the first layer below zero for these inputs
        net[2].bias[:2] -= 10.0
    x = torch.randn(40, 5)
    w1, b1, w2, b2 = (p.detach().double().numpy() for p in list(net.parameters())[:4])
    z1 = x.double().numpy() @ w1.T + b1
    z2 = np.maximum(z1, 0) @ w2.T + b2
    expected = {"1": np.mean(~(z1 > 0).any(0)), "3": np.mean(~(z2 > 0).any(0))}
    got = stability.dead_units(net, x)
    assert got == pytest.approx(expected)
    assert got["1"] >= 6 / 16


def test_a_unit_alive_on_one_example_or_one_position_is_not_dead():
    """A channel of a convolution counts as one unit over every position, and one positive
    value anywhere keeps it alive."""
    conv = nn.Conv1d(1, 2, kernel_size=1, bias=True)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.copy_(torch.tensor([0.0, -100.0]))
    net = nn.Sequential(conv, nn.ReLU())
    x = -torch.ones(3, 1, 4)
    x[2, 0, 3] = 1.0  # one example, one position: channel 0 positive there, channel 1 never
    assert stability.dead_units(net, x) == {"1": 0.5}


def test_the_two_layer_relu_network_is_watched_and_modes_are_restored():
    net = models.build("two_layer_relu", 2, (10,), seed=0, width=32)
    net.train()
    x = torch.randn(20, 10, generator=torch.Generator().manual_seed(1))
    pre = x.double().numpy() @ net.hidden.detach().double().numpy().T / np.sqrt(10)
    assert stability.dead_units(net, x) == {"activation": pytest.approx(np.mean(~(pre > 0).any(0)))}
    assert net.training


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="nn.ReLU"):
        stability.dead_units(nn.Linear(2, 2), torch.randn(3, 2))
    with pytest.raises(TypeError, match="inputs"):
        stability.dead_units(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), [[1.0, 2.0]])
