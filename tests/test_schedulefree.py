"""Schedule-free training through lrlab (issue 23): ``fit(optimizer="sgd_schedulefree" |
"adamw_schedulefree")`` against loops written with the ``schedulefree`` package itself
(Defazio et al. 2024, *The Road Less Scheduled*), BatchNorm re-estimated at the evaluated
point, exact resumption, the command line, the sweep and the refusals."""

from __future__ import annotations

import json

import pytest
import schedulefree
import torch
import torch.nn.functional as F
from torch import nn

from lrlab import cli, data, lrfind, models, schedule_free, sweep, train
from lrlab.options import RunOptions
from lrlab.step import epoch_seed, prepare

PACKAGE = {
    "sgd_schedulefree": lambda params, lr, beta, wd, warmup: schedulefree.SGDScheduleFree(
        params, lr=lr, momentum=beta, weight_decay=wd, warmup_steps=warmup
    ),
    "adamw_schedulefree": lambda params, lr, beta, wd, warmup: schedulefree.AdamWScheduleFree(
        params, lr=lr, betas=(beta, 0.999), weight_decay=wd, warmup_steps=warmup
    ),
}
RATES = {"sgd_schedulefree": 0.5, "adamw_schedulefree": 0.01}


@pytest.fixture(scope="module")
def small(digits):
    """200 training and 100 test digits: full batch in one step."""
    return data.subset(digits, 200, 100, augment=False)


def bn_net(seed=0):
    """A conv net with BatchNorm (and dropout, which recalibration must leave off)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(4 * 64, 10),
    )


class Recorder:
    """Records the parameters after every step (the point y) and at every epoch's end."""

    def __init__(self):
        self.at_steps, self.at_epoch_ends, self.modes = [], [], []

    def on_fit_start(self, model, optimizer, history):
        self.optimizer = optimizer

    def __call__(self, model, step, history):
        self.at_steps.append([p.detach().clone() for p in model.parameters()])
        self.modes.append(self.optimizer.param_groups[0]["train_mode"])

    def on_epoch_end(self, model, epoch, history):
        self.at_epoch_ends.append([p.detach().clone() for p in model.parameters()])
        z = [self.optimizer.state[p]["z"].clone() for p in model.parameters()]
        self.modes.append((self.optimizer.param_groups[0]["train_mode"], z))


@pytest.mark.parametrize("name", sorted(PACKAGE))
def test_full_batch_fit_equals_a_loop_written_with_the_package(small, name):
    """Done-when of issue 23: the same run, bit for bit on the CPU, written directly with
    the package's optimizer, train()/eval() at the places its README asks for."""
    lr, beta, wd, warmup, epochs, seed = RATES[name], 0.9, 1e-3, 3, 6, 4
    n = small.size("train")
    net = models.build("mlp", 10, small.input_shape, seed=seed)
    recorder = Recorder()
    history = train.fit(
        net, small, lr, epochs, optimizer=name, batch_size=n, momentum=beta,
        weight_decay=wd, warmup_steps=warmup, seed=seed, progress=False, callbacks=[recorder],
    )  # fmt: skip

    ref = models.build("mlp", 10, small.input_shape, seed=seed)
    opt = PACKAGE[name](ref.parameters(), lr, beta, wd, warmup)
    losses, accuracies, at_ends = [], [], []
    x_test, y_test = small.tensors("test")
    for epoch in range(epochs):
        ref.train()
        opt.train()
        x, y = next(small.batches("train", n, seed=epoch_seed(seed, epoch)))
        loss = F.cross_entropy(ref(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        ref.eval()
        opt.eval()
        with torch.no_grad():
            accuracies.append(int((ref(x_test).argmax(1) == y_test).sum()) / len(y_test))
        at_ends.append([p.detach().clone() for p in ref.parameters()])

    assert history.loss == losses
    assert history.test_acc == accuracies
    for ours, theirs in zip(recorder.at_epoch_ends, at_ends, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(ours, theirs, strict=True))
    # fit leaves the model at the evaluated point x, as the loop does.
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), ref.parameters(), strict=True))


@pytest.mark.parametrize("name", sorted(PACKAGE))
def test_steps_see_y_and_epoch_ends_see_the_average_x(digits, name):
    """The paper's y_t = (1 − β) z_t + β x_t: what the epoch's end sees is x (the optimizer
    in eval mode), and the last step of the epoch saw the y made of that x and z."""
    beta = 0.8
    recorder = Recorder()
    net = models.build("mlp", 10, digits.input_shape, seed=1, hidden=(16,))
    history = train.fit(
        net, digits, RATES[name], 2, optimizer=name, momentum=beta, batch_size=256,
        progress=False, callbacks=[recorder],
    )  # fmt: skip
    per_epoch = history.steps_per_epoch
    for epoch, x in enumerate(recorder.at_epoch_ends):
        in_train_mode, z = recorder.modes[(epoch + 1) * (per_epoch + 1) - 1]
        assert not in_train_mode
        y = recorder.at_steps[(epoch + 1) * per_epoch - 1]
        for y_p, x_p, z_p in zip(y, x, z, strict=True):
            torch.testing.assert_close(y_p, (1 - beta) * z_p + beta * x_p, rtol=1e-5, atol=1e-6)
    assert all(mode is True for mode in recorder.modes if isinstance(mode, bool))


def test_batchnorm_statistics_are_reestimated_at_the_evaluated_point(digits):
    """At every evaluation the running statistics are those of the x weights over the
    training set (mean of the batches' means and unbiased variances, dropout off), not
    the momentum average gathered at y during the steps."""
    batch_size = 256
    seen = []

    class AtEpochEnd:
        def __call__(self, model, step, history):
            pass

        def on_epoch_end(self, model, epoch, history):
            bn = model[1]
            seen.append((bn.running_mean.clone(), bn.running_var.clone(), _bn_input_stats(model)))

    def _bn_input_stats(model):
        was_training, means, variances = model.training, [], []
        model.eval()
        with torch.no_grad():
            for x, _ in digits.batches("train", batch_size, shuffle=False, augment=False):
                h = model[0](x).transpose(0, 1).flatten(1)
                means.append(h.mean(1))
                variances.append(h.var(1, unbiased=True))
        model.train(was_training)
        return torch.stack(means).mean(0), torch.stack(variances).mean(0)

    net = bn_net()
    train.fit(
        net, digits, 0.5, 2, optimizer="sgd_schedulefree", batch_size=batch_size,
        progress=False, callbacks=[AtEpochEnd()],
    )  # fmt: skip
    for running_mean, running_var, (mean, var) in seen:
        torch.testing.assert_close(running_mean, mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(running_var, var, rtol=1e-4, atol=1e-5)
    assert net[1].momentum == 0.1 and net.training  # momenta and modes put back

    # Plain SGD keeps the statistics gathered during its steps.
    seen.clear()
    train.fit(bn_net(), digits, 0.05, 1, batch_size=batch_size, progress=False,
              callbacks=[AtEpochEnd()])  # fmt: skip
    running_mean, _, (mean, _) = seen[0]
    assert not torch.allclose(running_mean, mean, rtol=1e-4, atol=1e-5)


def test_recalibration_touches_only_batchnorm_buffers_and_draws_nothing(digits):
    net = bn_net()
    net[0].weight.grad = torch.ones_like(net[0].weight)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    assert schedule_free.recalibrate_batchnorm(net, digits, 128) == 1
    assert torch.equal(torch.get_rng_state(), rng)
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"1.running_mean", "1.running_var", "1.num_batches_tracked"}
    assert torch.equal(net[0].weight.grad, torch.ones_like(net[0].weight))
    assert schedule_free.recalibrate_batchnorm(models.build("mlp", 10, (1, 8, 8)), digits) == 0


@pytest.mark.parametrize("name", sorted(PACKAGE))
def test_resume_after_interruption_repeats_the_uninterrupted_run(digits, tmp_path, name):
    """The checkpoint holds x, z and the optimizer in eval mode (the README's advice);
    resuming moves back to y exactly as the uninterrupted run does."""
    kwargs = dict(optimizer=name, batch_size=256, progress=False, seed=5, warmup_steps=4)
    full_model = bn_net()
    full = train.fit(full_model, digits, RATES[name], 4, checkpoint=tmp_path / "f.ckpt", **kwargs)

    class Crash:
        def __call__(self, model, step, history):
            pass

        def on_epoch_end(self, model, epoch, history):
            if epoch == 1:
                raise KeyboardInterrupt("simulated crash during epoch 2")

    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(KeyboardInterrupt):
        train.fit(bn_net(), digits, RATES[name], 4, checkpoint=ckpt, callbacks=[Crash()], **kwargs)
    resumed_model = bn_net(seed=9)  # other weights: everything must come from the checkpoint
    resumed = train.fit(
        resumed_model, digits, RATES[name], 4, checkpoint=ckpt, resume=True, **kwargs
    )
    for key in ("lr", "loss", "grad_norm", "train_loss", "test_loss", "test_acc"):
        assert getattr(resumed, key) == getattr(full, key), key
    full_state, resumed_state = full_model.state_dict(), resumed_model.state_dict()
    assert all(torch.equal(full_state[k], resumed_state[k]) for k in full_state)


def test_warmup_steps_reach_the_package(digits):
    """The package's warm-up: step k runs at lr·(k + 1)/warmup_steps, then at lr."""
    run = prepare(nn.Linear(64, 10), "cpu", optimizer="adamw_schedulefree", warmup_steps=7)
    assert run.optimizer.param_groups[0]["warmup_steps"] == 7

    class Rates:
        def on_fit_start(self, model, optimizer, history):
            self.optimizer, self.rates = optimizer, []

        def __call__(self, model, step, history):
            self.rates.append(self.optimizer.param_groups[0]["scheduled_lr"])

    rates = Rates()
    history = train.fit(
        models.build("mlp", 10, digits.input_shape, seed=0), digits, 0.5, 1,
        optimizer="sgd_schedulefree", warmup_steps=5, progress=False, callbacks=[rates],
    )  # fmt: skip
    expected = [0.5 * min(k + 1, 5) / 5 for k in range(history.steps)]
    assert rates.rates == pytest.approx(expected, rel=1e-12)
    assert history.config["warmup_steps"] == 5 and history.lr == [0.5] * history.steps


def test_schedule_free_options_are_refused_where_they_mean_nothing():
    with pytest.raises(ValueError, match="warmup_steps is the schedule-free optimizers' own"):
        RunOptions(optimizer="sgd", warmup_steps=10)
    with pytest.raises(ValueError, match=r"needs momentum \(its interpolation β\) in \(0, 1\)"):
        RunOptions(optimizer="adamw_schedulefree", momentum=0.0)
    with pytest.raises(ValueError, match="nesterov=True needs optimizer='sgd'"):
        RunOptions(optimizer="sgd_schedulefree", nesterov=True)
    with pytest.raises(ValueError, match="warmup_steps must be an integer >= 0"):
        RunOptions(optimizer="sgd_schedulefree", warmup_steps=-1)
    with pytest.raises(ValueError, match="name must be one of"):
        schedule_free.make_optimizer(nn.Linear(2, 1).parameters(), "adam", lr=0.1)


def test_range_test_runs_schedule_free_and_puts_everything_back(digits):
    net = models.build("mlp", 10, digits.input_shape, seed=0)
    opt = schedule_free.make_optimizer(net.parameters(), "sgd_schedulefree", lr=0.5)
    train.fit(net, digits, 0.5, 1, optimizer=opt, progress=False)  # leaves opt in eval mode
    params = [p.detach().clone() for p in net.parameters()]
    state = json.dumps(opt.state_dict()["param_groups"])
    z = [opt.state[p]["z"].clone() for p in net.parameters()]
    result = lrfind.range_test(net, digits, start_lr=1e-3, end_lr=10.0, num_iter=40, optimizer=opt)
    assert 5 < len(result.lrs) <= 40 and result.config["optimizer"] == "SGDScheduleFree"
    assert all(torch.equal(a, b) for a, b in zip(params, net.parameters(), strict=True))
    assert json.dumps(opt.state_dict()["param_groups"]) == state
    assert all(torch.equal(a, opt.state[p]["z"]) for a, p in zip(z, net.parameters(), strict=True))
    named = lrlab_range(digits, "adamw_schedulefree")
    assert named.config["optimizer"] == "adamw_schedulefree"
    with pytest.raises(ValueError, match="warmup_steps must be 0 in a range test"):
        lrlab_range(digits, "sgd_schedulefree", warmup_steps=3)


def lrlab_range(digits, name, **options):
    net = models.build("mlp", 10, digits.input_shape, seed=0)
    return lrfind.range_test(net, digits, num_iter=20, optimizer=name, **options)


def test_cli_trains_schedule_free_and_refuses_its_warmup_for_sgd(tmp_path, capsys):
    """--optimizer-warmup-steps is the optimizer's; --warmup-steps stays the schedule's."""
    out = tmp_path / "run.json"
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--device", "cpu", "--no-progress"]
    argv += ["--lr", "0.5", "--epochs", "1", "--optimizer", "sgd_schedulefree"]
    assert cli.main([*argv, "--optimizer-warmup-steps", "5", "--out", str(out)]) == 0
    config = json.loads(out.read_text())["result"]["config"]
    assert config["optimizer"] == "sgd_schedulefree" and config["warmup_steps"] == 5
    capsys.readouterr()
    assert cli.main([*argv[:-2], "--optimizer", "sgd", "--optimizer-warmup-steps", "5"]) == 2
    assert "warmup_steps is the schedule-free optimizers' own" in capsys.readouterr().err
    sgd = [*argv[:-2], "--optimizer", "sgd", "--lr", "0.05", "--warmup-steps", "3"]
    assert cli.main([*sgd, "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["result"]["config"]["warmup_steps"] == 0  # the optimizer's: none
    assert record["result"]["lr"][:4] == pytest.approx([0.0, 0.05 / 3, 0.1 / 3, 0.05])


def test_sweep_runs_a_schedule_free_config_and_vmap_refuses_it(tmp_path):
    config = {"data": "digits", "model": "mlp", "lr": 0.5, "optimizer": "adamw_schedulefree"}
    config |= {"warmup_steps": 3, "momentum": 0.9}
    out = sweep.run_one(config, device="cpu")
    assert out["steps"] == 11 and 0 <= out["final_test_acc"] <= 1
    assert sweep.normalize(config)["warmup_steps"] == 3
    with pytest.raises(ValueError, match="engine 'vmap' trains with optimizer 'sgd' only"):
        sweep.run(config, engine="vmap", cache=None, device="cpu", progress=False)
    with pytest.raises(ValueError, match="warmup_steps is the schedule-free"):
        sweep.normalize({**config, "optimizer": "sgd"})
