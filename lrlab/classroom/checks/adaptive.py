"""Self-checks for the exercises of "Adam at the edge of stability, and no schedule at all"
(book/adaptive)."""

from __future__ import annotations

import torch

from lrlab import curvature, data, models, schedule_free, train
from lrlab.classroom.selfcheck import exercise

BETAS = (0.9, 0.95, 0.99)
#: The steps k whose averaging weight c_{k+1} the averaging exercise asks for (W = 100).
AVERAGING_STEPS = (0, 49, 99, 199)


@exercise(
    "adaptive-ex-threshold",
    asks="Adam's stability threshold on λ₁(P⁻¹H) for η = 1e-3 at β₁ = 0.9, 0.95 and 0.99, "
    "a list of three numbers",
    hint="With P frozen, Adam is heavy-ball momentum β₁ with step (1 − β₁)η on the curvature "
    "P⁻¹H; curvature.stability_threshold(lr, optimizer='adam', beta1=...) computes it.",
    rtol=1e-6,
    close=0.05,
)
def _adam_thresholds():
    return [curvature.stability_threshold(1e-3, optimizer="adam", beta1=b) for b in BETAS]


@exercise(
    "adaptive-ex-first-step",
    asks="the median over all coordinates of |Δθ| / η after Adam's first full-batch step "
    "(η = 1e-3) on the first 200 digits, the MLP of models.build('mlp', seed=0), one number",
    hint="Copy the weights before and after fit(..., epochs=1, batch_size=200, "
    "optimizer='adam', weight_decay=0.0); on the first step m̂ = g and √v̂ = |g|.",
    rtol=1e-3,
    close=0.05,
)
def _first_step():
    digits = data.subset(data.load("digits", device="cpu"), 200, 50, augment=False)
    net = models.build("mlp", 10, digits.input_shape, seed=0)
    before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
    train.fit(
        net, digits, 1e-3, 1, batch_size=200, optimizer="adam", weight_decay=0.0, progress=False
    )
    after = torch.cat([p.detach().flatten() for p in net.parameters()])
    return float(((after - before).abs() / 1e-3).median())


@exercise(
    "adaptive-ex-averaging",
    asks="the averaging weight c_{k+1} of schedule-free SGD (constant rate 1, warmup_steps = "
    "100) at steps k = 0, 49, 99 and 199, a list of four numbers",
    hint="Step k adds the weight lr_max,k² (the largest rate so far, squared) to a running "
    "sum; c_{k+1} is that weight over the sum. During the warm-up lr_max,k = (k + 1)/100.",
    rtol=1e-6,
    close=0.05,
)
def _averaging_weights():
    w = torch.zeros(1, requires_grad=True)
    opt = schedule_free.make_optimizer([w], "sgd_schedulefree", lr=1.0, warmup_steps=100)
    opt.train()
    weights = []
    for k in range(max(AVERAGING_STEPS) + 1):
        w.grad = torch.zeros(1)
        before = opt.param_groups[0]["weight_sum"]
        opt.step()
        group = opt.param_groups[0]
        if k in AVERAGING_STEPS:
            weights.append((group["weight_sum"] - before) / group["weight_sum"])
    return weights
