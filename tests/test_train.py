"""Tests of lrlab.train: per-step schedules, accuracy on digits, divergence, checkpoints and
exact resumption, precision choice, History serialisation, speed helpers."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import models, schedules, train
from lrlab.step import epoch_seed


def mlp(digits, seed=0):
    torch.manual_seed(seed)
    return models.build("mlp", 10, digits.input_shape)


def bn_dropout_net():
    """Small net with the state a resume must restore: BatchNorm statistics and dropout."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(8 * 64, 10),
    )


def test_bf16_autocast_and_channels_last_paths_train(digits):
    """The GPU defaults, forced on the CPU: bf16 autocast, channels-last conv net."""
    history = train.fit(mlp(digits), digits, 0.05, 2, precision="bf16", progress=False)
    assert history.config["precision"] == "bf16" and history.test_acc[-1] > 0.8
    net = bn_dropout_net()
    history = train.fit(net, digits, 0.05, 1, channels_last=True, progress=False)
    assert history.config["channels_last"] and net[0].weight.is_contiguous(
        memory_format=torch.channels_last
    )
    assert all(math.isfinite(v) for v in history.loss)


def test_mlp_on_digits_reaches_95_percent_in_8_epochs(digits):
    # How fast this runs is measured by `lrlab bench train` (benchmarks/train.py), not here.
    history = train.fit(mlp(digits), digits, 0.05, epochs=8, batch_size=64, progress=False)
    assert history.test_acc[-1] >= 0.95
    assert history.epochs == 8 and history.steps == 8 * digits.num_batches("train", 64)
    assert history.config["precision"] == "fp32" and history.device == "cpu"


def test_history_lr_is_the_schedule_at_every_step(digits):
    spe = digits.num_batches("train", 100)  # 1347 / 100: the last batch of an epoch is short
    schedule = schedules.cosine(0.1, total_steps=3 * spe)
    history = train.fit(mlp(digits), digits, schedule, epochs=3, batch_size=100, progress=False)
    assert history.steps == 3 * spe == 42
    # fit calls schedule(step) with an int; compare with the same calls (one code path).
    assert list(history.lr) == [schedule(t) for t in range(history.steps)]


def test_fit_equals_a_plain_torch_loop_with_torchs_own_scheduler(digits):
    """The learning rate really reaches the optimizer at every step: the same batches fed to
    torch.optim.SGD driven by torch's CosineAnnealingLR (stepped per batch) give the same
    weights."""
    spe = digits.num_batches("train", 128)
    model = mlp(digits)
    reference = copy.deepcopy(model)
    history = train.fit(
        model, digits, schedules.cosine(0.2, 2 * spe), 2, batch_size=128, progress=False
    )
    opt = torch.optim.SGD(reference.parameters(), lr=0.2, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2 * spe)
    lrs = []
    for epoch in range(2):
        for x, y in digits.batches("train", 128, seed=epoch_seed(0, epoch)):
            lrs.append(sched.get_last_lr()[0])
            opt.zero_grad()
            nn.functional.cross_entropy(reference(x), y).backward()
            opt.step()
            sched.step()
    np.testing.assert_allclose(history.lr, lrs, rtol=1e-12)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_resume_after_interruption_repeats_the_uninterrupted_run(digits, tmp_path):
    kwargs = dict(batch_size=256, progress=False, seed=5)
    full_model = bn_dropout_net()
    full = train.fit(full_model, digits, 0.05, 4, checkpoint=tmp_path / "full.ckpt", **kwargs)

    class Crash:
        def __call__(self, model, step, history):
            pass

        def on_epoch_end(self, model, epoch, history):
            if epoch == 1:
                raise KeyboardInterrupt("simulated crash during epoch 2")

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train.fit(bn_dropout_net(), digits, 0.05, 4, checkpoint=ckpt, callbacks=[Crash()], **kwargs)
    torch.manual_seed(123)  # a fresh process: other weights, other global RNG state
    resumed_model = bn_dropout_net().apply(
        lambda m: m.reset_parameters() if hasattr(m, "reset_parameters") else None
    )
    resumed = train.fit(resumed_model, digits, 0.05, 4, checkpoint=ckpt, resume=True, **kwargs)
    for name in ("lr", "loss", "grad_norm", "train_loss", "train_acc", "test_loss", "test_acc"):
        assert getattr(resumed, name) == getattr(full, name), name
    assert resumed.epochs == 4 and len(resumed.epoch_time) == 4
    full_state, resumed_state = full_model.state_dict(), resumed_model.state_dict()
    assert all(torch.equal(full_state[k], resumed_state[k]) for k in full_state)


def test_resume_refuses_a_checkpoint_of_other_options(digits, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    train.fit(mlp(digits), digits, 0.05, 1, checkpoint=ckpt, progress=False)
    with pytest.raises(ValueError, match=r"different options: \['batch_size'\]"):
        train.fit(
            mlp(digits),
            digits,
            0.05,
            2,
            batch_size=64,
            checkpoint=ckpt,
            resume=True,
            progress=False,
        )
    with pytest.raises(ValueError, match=r"different options: \['schedule'\]"):
        train.fit(mlp(digits), digits, 0.04, 2, checkpoint=ckpt, resume=True, progress=False)
    # A schedule given as a function resumes (its repr changes between processes).
    resumed = train.fit(
        mlp(digits), digits, lambda t: 0.05, 2, checkpoint=ckpt, resume=True, progress=False
    )
    assert resumed.epochs == 2


def test_resume_needs_at_least_the_epochs_done(digits, tmp_path):
    ckpt = tmp_path / "run.ckpt"
    train.fit(mlp(digits), digits, 0.05, 2, checkpoint=ckpt, progress=False)
    with pytest.raises(ValueError, match="epochs must be an integer >= 2"):
        train.fit(mlp(digits), digits, 0.05, 1, checkpoint=ckpt, resume=True, progress=False)


def test_progress_bar_shows_loss_lr_and_accuracy(digits, capsys):
    train.fit(mlp(digits), digits, 0.05, 1, progress=True)
    err = capsys.readouterr().err
    assert "11/11" in err and "loss=" in err and "lr=0.05" in err and "test_acc=" in err


def test_checkpoint_is_written_atomically(digits, tmp_path, monkeypatch):
    ckpt = tmp_path / "run.ckpt"
    train.fit(mlp(digits), digits, 0.05, 1, checkpoint=ckpt, progress=False)
    before = ckpt.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        train.fit(mlp(digits), digits, 0.05, 1, checkpoint=ckpt, progress=False)
    assert ckpt.read_bytes() == before  # the old checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]  # no temporary file left


def test_huge_learning_rate_is_caught_as_divergence(digits):
    history = train.fit(mlp(digits), digits, 1e3, epochs=3, progress=False)
    step = history.diverged_at_step
    assert history.diverged and step is not None and step < history.steps_per_epoch * 3
    assert len(history.lr) == len(history.loss) == len(history.grad_norm) == step + 1
    assert not (math.isfinite(history.loss[-1]) and math.isfinite(history.grad_norm[-1]))
    assert all(math.isfinite(v) for v in history.loss[:step])
    assert history.epochs < 3
    restored = train.History.from_json(history.to_json())
    assert restored.diverged_at_step == step
    assert "diverged at step" in history.table()


def test_callbacks_see_every_step_and_can_stop_the_run(digits):
    seen = []

    def watch(model, step, history):
        seen.append((step, history.steps, history.loss[-1]))
        history.record("weight_norm", step, float(model[1].weight.detach().norm()))
        if step == 14:
            raise train.StopTraining

    history = train.fit(mlp(digits), digits, 0.05, epochs=3, callbacks=[watch], progress=False)
    assert [s for s, _, _ in seen] == list(range(15))
    assert all(steps == s + 1 for s, steps, _ in seen)
    assert history.stopped_at_step == 14 and history.epochs == 1
    assert [s for s, _ in history.extras["weight_norm"]] == list(range(15))


def test_bad_arguments_raise_before_training(digits):
    net = mlp(digits)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        train.fit(net, digits, 0.1, epochs=0)
    with pytest.raises(ValueError, match="must be > 0, got -0.1"):
        train.fit(net, digits, -0.1, epochs=1)
    with pytest.raises(TypeError, match="schedule must be callable"):
        train.fit(net, digits, "cosine", epochs=1)
    with pytest.raises(ValueError, match="resume=True needs checkpoint"):
        train.fit(net, digits, 0.1, epochs=1, resume=True)
    with pytest.raises(ValueError, match="'fp16' needs a CUDA device"):
        train.fit(net, digits, 0.1, epochs=1, precision="fp16")
    with pytest.raises(ValueError, match="nesterov=True needs"):
        train.fit(net, digits, 0.1, epochs=1, optimizer="adam", nesterov=True)
    with pytest.raises(ValueError, match=r"schedule\(0\) must be a finite rate >= 0"):
        train.fit(net, digits, lambda step: -1.0, epochs=1, progress=False)


class _Recorder:
    """A callback that notes the steps it is called at."""

    def __init__(self):
        self.steps = []

    def __call__(self, model, step, history):
        self.steps.append(step)


def test_callback_with_every_is_called_at_its_multiples_only(digits):
    """35 steps (batch 40 over 1,347 images: 34 per epoch, one epoch and a step), every=10."""
    every10 = _Recorder()
    every10.every = 10
    everyone = _Recorder()

    def stop_after_35(model, step, history):
        if step == 34:
            raise train.StopTraining

    train.fit(
        mlp(digits),
        digits,
        0.05,
        epochs=2,
        batch_size=40,
        progress=False,
        callbacks=[every10, everyone, stop_after_35],
    )
    assert every10.steps == [0, 10, 20, 30]
    assert everyone.steps == list(range(35))


def test_callback_wants_takes_precedence_over_every(digits):
    pairs = _Recorder()
    pairs.every = 1000  # would call at step 0 only
    pairs.wants = lambda step: step % 5 in (3, 4)  # a pair of consecutive steps
    train.fit(mlp(digits), digits, 0.05, epochs=1, progress=False, callbacks=[pairs])
    assert pairs.steps == [3, 4, 8, 9]
    assert [t for t in range(12) if train.is_due(pairs, t)] == [3, 4, 8, 9]


def test_callbacks_are_checked_before_training(digits):
    bad = _Recorder()
    bad.every = 0
    with pytest.raises(ValueError, match="every must be an integer >= 1, got 0"):
        train.fit(mlp(digits), digits, 0.05, epochs=1, callbacks=[bad])
    bad.every = np.int64(3)  # NumPy integers are integers
    train.fit(mlp(digits), digits, 0.05, epochs=1, progress=False, callbacks=[bad])
    assert bad.steps == [0, 3, 6, 9]


def test_callback_sees_the_minibatch_gradient_of_its_step(digits):
    """With plain SGD (no momentum, no weight decay) the update is -lr times the gradient, so
    a callback called at steps t-1 and t can recover step t's gradient from the weights and
    compare it with param.grad: the gradient must not have been zeroed before the callback."""
    lr = 0.05
    seen = {}

    class Probe:
        def wants(self, step):
            return step in (6, 7)

        def __call__(self, model, step, history):
            seen[step] = [(p.detach().clone(), p.grad.detach().clone()) for p in model.parameters()]

    train.fit(
        mlp(digits),
        digits,
        lr,
        epochs=1,
        momentum=0.0,
        weight_decay=0.0,
        progress=False,
        callbacks=[Probe()],
    )
    for (before, _), (after, grad) in zip(seen[6], seen[7], strict=True):
        assert grad.abs().max() > 0
        torch.testing.assert_close(grad, (before - after) / lr, rtol=1e-4, atol=1e-6)


def test_full_batch_gd_on_the_square_loss_matches_a_hand_loop(digits):
    """What the edge-of-stability chapter runs: batch = the whole training set, momentum 0,
    weight decay 0, loss "mse". The same steps taken by hand with torch.optim-free updates
    w <- w - lr * grad of the hand-written square loss give the same weights and losses."""
    n, lr = digits.size("train"), 0.02
    model = mlp(digits)
    reference = copy.deepcopy(model)
    history = train.fit(
        model,
        digits,
        lr,
        epochs=3,
        batch_size=n,
        momentum=0.0,
        weight_decay=0.0,
        loss="mse",
        progress=False,
    )
    assert history.steps == 3 and history.config["loss"] == "mse"
    x, y = digits.tensors("train")
    onehot = nn.functional.one_hot(y, 10).float()
    losses = []
    for _ in range(3):
        loss = 0.5 * ((reference(x) - onehot) ** 2).sum(dim=1).mean()
        losses.append(float(loss.detach()))
        grads = torch.autograd.grad(loss, list(reference.parameters()))
        with torch.no_grad():
            for p, g in zip(reference.parameters(), grads, strict=True):
                p -= lr * g
    np.testing.assert_allclose(history.loss, losses, rtol=1e-5)
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="loss must be one of"):
        train.fit(mlp(digits), digits, lr, epochs=1, loss="hinge")


def test_fit_accepts_numpy_numbers_and_plain_sgd(digits):
    history = train.fit(
        mlp(digits),
        digits,
        np.float32(0.05),
        epochs=np.int64(1),
        batch_size=np.int32(256),
        momentum=0.0,
        nesterov=False,
        progress=False,
    )
    assert history.steps == digits.num_batches("train", 256)
    assert history.config["momentum"] == 0.0 and history.config["loss"] == "cross_entropy"
