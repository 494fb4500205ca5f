"""Tests of lrlab.speed: the measurements of training speed (FLOPs, throughput)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lrlab.speed import throughput, training_flops
from lrlab.step import make_train_step


def test_training_flops_counts_forward_and_backward_matmuls():
    """Per example: forward 2(ih + ho); backward 2(ih + ho) for the weight gradients plus
    2ho for the hidden activations' gradient (none for the input, which needs no grad)."""
    i, h, o = 12, 7, 5
    net = nn.Sequential(nn.Linear(i, h), nn.ReLU(), nn.Linear(h, o))
    assert training_flops(net, (i,), batch_size=3) == 4 * (i * h + h * o) + 2 * h * o


def test_throughput_counts_images_of_timed_steps_only():
    net = nn.Linear(4, 2)
    step = make_train_step(net, torch.optim.SGD(net.parameters(), lr=0.1))
    fetched = []

    def batches():
        while True:
            fetched.append(1)
            yield torch.randn(8, 4), torch.zeros(8, dtype=torch.long)

    assert throughput(step, batches(), steps=3, warmup=2) > 0
    assert len(fetched) == 5
    with pytest.raises(ValueError, match="needs a GradScaler"):
        make_train_step(net, torch.optim.SGD(net.parameters(), lr=0.1), "fp16")
