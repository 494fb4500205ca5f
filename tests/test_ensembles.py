"""Snapshot ensembles: the averaged softmax against a hand computation in NumPy, the
snapshot callback inside ``fit``, cycle ends against the schedules' own rates, and errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from torch import nn

from lrlab import data, ensembles, schedules, train


@pytest.fixture(scope="module")
def tiny():
    """Twelve test sequences of length 4 in 3 classes (float32, so no pixel scaling)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(30, 1, 4, generator=gen)
    y = torch.randint(0, 3, (30,), generator=gen)
    return data.Dataset(
        "tiny", (x[:18], y[:18]), (x[18:], y[18:]), ["a", "b", "c"], scale=1.0,
        augment_crop_flip=False, device="cpu",
    )  # fmt: skip


def linear_members(count: int, scale: float = 1.0) -> list[nn.Module]:
    torch.manual_seed(1)
    nets = [nn.Sequential(nn.Flatten(), nn.Linear(4, 3)) for _ in range(count)]
    with torch.no_grad():
        for net in nets:
            net[1].weight.mul_(scale)
    return nets


def hand_probabilities(nets, dataset) -> tuple[np.ndarray, np.ndarray]:
    """Each member's softmax, written out in float64 NumPy: exp(z - max) / sum."""
    (x, y), *_ = dataset.batches("test", 1000, shuffle=False, augment=False)
    x = x.reshape(len(x), -1).double().numpy()
    probs = []
    for net in nets:
        w = net[1].weight.detach().double().numpy()
        b = net[1].bias.detach().double().numpy()
        z = x @ w.T + b
        e = np.exp(z - z.max(axis=1, keepdims=True))
        probs.append(e / e.sum(axis=1, keepdims=True))
    return np.stack(probs), y.numpy()


def test_predict_is_the_mean_softmax_of_the_first_k_members(tiny):
    """Catches averaging logits instead of probabilities, or the wrong members."""
    nets = linear_members(3, scale=3.0)
    probs, _ = hand_probabilities(nets, tiny)
    for k in (1, 2, 3):
        got = ensembles.predict(nets, tiny, k=k).numpy()
        assert_allclose(got, probs[:k].mean(axis=0), rtol=1e-5)  # float32 logits
    # averaging logits would predict differently here: the test can tell them apart
    logits_mean = np.log(probs).mean(axis=0)
    assert not np.allclose(
        probs.mean(axis=0), np.exp(logits_mean) / np.exp(logits_mean).sum(1)[:, None]
    )


def test_evaluate_matches_hand_accuracy_and_loss_for_every_k(tiny):
    """Catches an off-by-one in k, a loss of the mean log-probability, or a wrong argmax."""
    nets = linear_members(4, scale=3.0)
    probs, labels = hand_probabilities(nets, tiny)
    scores = ensembles.evaluate(nets, tiny)
    assert scores.k.tolist() == [1, 2, 3, 4]
    for k in range(1, 5):
        mean = probs[:k].mean(axis=0)
        assert scores.accuracy[k - 1] == np.mean(mean.argmax(axis=1) == labels)
        assert_allclose(
            scores.loss[k - 1], -np.mean(np.log(mean[np.arange(len(labels)), labels])), rtol=1e-5
        )
        member = probs[k - 1]
        assert scores.member_accuracy[k - 1] == np.mean(member.argmax(axis=1) == labels)
    assert ensembles.EnsembleScores.from_dict(scores.to_dict()).to_dict() == scores.to_dict()


class FixedLogits(nn.Module):
    """Returns a stored table of logits for the one test batch (a member we control)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[: len(x)]


def test_loss_stays_finite_when_one_member_is_certain_and_wrong(tiny):
    """A member whose logit margin of 2000 points at a wrong class gives the true class a
    probability that underflows to 0.0 even in float64; the ensemble's mean probability is
    then exactly half the other member's, so the loss is -mean(log(p_other / 2)). Catches
    log(mean(softmax)) computed by exponentiating (inf) instead of by logsumexp."""
    (_, y), *_ = tiny.batches("test", 1000, shuffle=False, augment=False)
    wrong = torch.nn.functional.one_hot((y + 1) % 3, 3).double() * 2000.0
    confident = FixedLogits(wrong)
    plain = FixedLogits(torch.randn(len(y), 3, generator=torch.Generator().manual_seed(2)))
    scores = ensembles.evaluate([confident, plain], tiny)
    logits = plain.logits.double().numpy()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    p_true = p[np.arange(len(y)), y.numpy()]
    assert_allclose(scores.member_loss[0], 2000.0, rtol=1e-12)
    assert_allclose(scores.loss[1], -np.mean(np.log(p_true / 2)), rtol=1e-12)
    assert scores.accuracy[1] == scores.member_accuracy[0] == 0.0


def test_state_dicts_give_the_same_scores_as_modules_and_restore_the_template(tiny):
    """Catches a template left holding the last snapshot's weights or in eval mode."""
    nets = linear_members(3)
    template = copy.deepcopy(nets[0]).train()
    before = copy.deepcopy(template.state_dict())
    other = linear_members(1, scale=5.0)[0]
    template.load_state_dict(other.state_dict())
    before = copy.deepcopy(template.state_dict())
    from_modules = ensembles.evaluate(nets, tiny)
    from_states = ensembles.evaluate([n.state_dict() for n in nets], tiny, model=template)
    assert from_states.to_dict() == from_modules.to_dict()
    assert template.training
    for key, value in template.state_dict().items():
        assert torch.equal(value, before[key])


def test_batchnorm_members_are_evaluated_with_their_own_running_statistics(tiny):
    """Catches evaluating in train mode (batch statistics) or with one member's buffers."""
    torch.manual_seed(0)
    nets = [nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4), nn.Linear(4, 3)) for _ in range(2)]
    for i, net in enumerate(nets):
        net[1].running_mean.fill_(float(i))
        net[1].running_var.fill_(1.0 + 3 * i)
    states = [copy.deepcopy(n.state_dict()) for n in nets]
    template = copy.deepcopy(nets[0])
    log_probs, _ = ensembles.member_log_probs(states, tiny, model=template)
    (x, _), *_ = tiny.batches("test", 1000, shuffle=False, augment=False)
    for i, net in enumerate(nets):
        expected = torch.log_softmax(net.eval()(x).double(), dim=1)
        assert_allclose(log_probs[i].numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-6)
    assert torch.equal(template[1].running_mean, states[0]["1.running_mean"])


def test_snapshots_inside_fit_hold_the_weights_at_cycle_ends():
    """Catches snapshots at the wrong steps, shared (not copied) tensors, or a callback
    that changes training: the run with snapshots ends with exactly the weights of the
    run without, and the last snapshot (taken after the last step) equals them."""
    digits = data.load("digits", device="cpu")
    per_epoch = digits.num_batches("train", 128)
    schedule = schedules.sgdr(0.05, first_cycle=per_epoch)
    ends = ensembles.cycle_ends(schedule, 2 * per_epoch)
    snapshots = ensembles.Snapshots(ends)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    twin = copy.deepcopy(net)
    history = train.fit(net, digits, schedule, epochs=2, callbacks=[snapshots], progress=False)
    train.fit(twin, digits, schedule, epochs=2, progress=False)
    assert snapshots.taken == ends == [per_epoch - 1, 2 * per_epoch - 1]
    assert history.extras["snapshot"] == [[step, i] for i, step in enumerate(ends)]
    for key, value in net.state_dict().items():
        assert torch.equal(value, twin.state_dict()[key])
        assert torch.equal(snapshots.states[-1][key], value)
        assert snapshots.states[-1][key].device.type == "cpu"
    first_weight = next(iter(net.state_dict()))
    assert not torch.equal(snapshots.states[0][first_weight], snapshots.states[-1][first_weight])


def test_snapshots_return_early_at_steps_they_do_not_want():
    """Catches a callback that relies on fit's filtering by wants()."""
    net = nn.Linear(2, 2)
    snapshots = ensembles.Snapshots(np.array([1, 3]))
    history = train.History()
    for step in range(5):
        with torch.no_grad():
            net.weight.fill_(float(step))
        snapshots(net, step, history)
    assert snapshots.taken == [1, 3]
    assert [float(s["weight"][0, 0]) for s in snapshots.states] == [1.0, 3.0]
    assert [snapshots.wants(s) for s in range(5)] == [False, True, False, True, False]
    assert snapshots.every == 1


def test_cycle_ends_are_the_steps_before_each_restart_of_sgdr():
    """Reference: the schedule's own rates jump up right after a cycle end. Loshchilov &
    Hutter (2017) restart at epochs 10, 30, 70, 150 with T_0 = 10, T_mult = 2."""
    for first_cycle, mult, total in ((10, 2, 150), (7, 1, 40), (5, 3, 200)):
        s = schedules.sgdr(0.1, first_cycle, cycle_mult=mult, min_lr=0.001)
        lr = s(np.arange(total + 1))
        restarts = np.flatnonzero(lr[1:] > lr[:-1])  # t with s(t + 1) > s(t)
        assert ensembles.cycle_ends(s, total) == [int(t) for t in restarts if t < total]
    sgdr = schedules.sgdr(0.1, first_cycle=10, cycle_mult=2)
    assert [e + 1 for e in ensembles.cycle_ends(sgdr, 150)] == [10, 30, 70, 150]


@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cycle_ends_of_cyclic_are_the_steps_before_the_rate_is_back_at_base(mode):
    """Reference: the rate of CyclicLR returns to base_lr at the first step of each cycle."""
    s = schedules.cyclic(0.01, 0.1, step_size_up=4, step_size_down=6, mode=mode, gamma=0.99)
    lr = s(np.arange(51))
    at_base = np.flatnonzero(np.isclose(lr, 0.01, rtol=0, atol=1e-12))
    assert ensembles.cycle_ends(s, 50) == [int(t) - 1 for t in at_base if 0 < t <= 50]


def test_cycle_ends_accepts_numpy_integers_and_explicit_steps():
    s = schedules.cyclic(0.01, 0.1, step_size_up=np.int64(3))
    assert ensembles.cycle_ends(s, np.int64(12)) == [5, 11]
    assert ensembles.cycle_ends(np.array([2, 7]), 8) == [2, 7]


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((schedules.cosine(0.1, 100), 100), TypeError, "sgdr or cyclic"),
        ((lambda t: 0.1, 100), TypeError, "sgdr or cyclic"),
        ((schedules.sgdr(0.1, 50), 40), ValueError, "first cycle"),
        (([3, 3], 10), ValueError, "strictly increasing"),
        (([], 10), ValueError, "at least one"),
        (([4, 10], 10), ValueError, r"< total_steps \(10\)"),
        (([-1, 2], 10), ValueError, ">= 0"),
        (([1.5], 10), TypeError, "integer"),
        (([1], 0), ValueError, "total_steps must be an integer >= 1"),
    ],
)
def test_cycle_ends_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        ensembles.cycle_ends(*args)


def test_evaluate_and_predict_reject_bad_members_and_k(tiny):
    nets = linear_members(2)
    with pytest.raises(ValueError, match="at least one"):
        ensembles.evaluate(ensembles.Snapshots([0]), tiny, model=nets[0])
    with pytest.raises(ValueError, match=r"members\[1\] does not match"):
        ensembles.evaluate([nets[0], nn.Sequential(nn.Flatten(), nn.Linear(4, 5))], tiny)
    wide = nn.Sequential(nn.Flatten(), nn.Linear(4, 7)).state_dict()
    with pytest.raises(ValueError, match=r"members\[0\] does not match .* model"):
        ensembles.evaluate([wide], tiny, model=nets[0])
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        ensembles.evaluate([nets[0].state_dict()], tiny)
    with pytest.raises(TypeError, match="not a mixture"):
        ensembles.evaluate([nets[0], nets[1].state_dict()], tiny)
    with pytest.raises(TypeError, match="members must be"):
        ensembles.evaluate(nets[0], tiny)
    for k in (0, 3):
        with pytest.raises(ValueError, match=r"k must be an integer (>= 1|in \[1, 2\])"):
            ensembles.predict(nets, tiny, k=k)
    assert ensembles.predict(nets, tiny, k=np.int64(2)).shape == (12, 3)


def test_snapshots_reject_bad_steps():
    with pytest.raises(ValueError, match="steps must be strictly increasing"):
        ensembles.Snapshots([5, 2])
    with pytest.raises(TypeError, match="steps must be a sequence"):
        ensembles.Snapshots(5)


def test_scores_table_has_one_row_per_k_with_the_steps():
    scores = ensembles.EnsembleScores(
        np.array([1, 2, 3]), np.array([0.8, 0.85, 0.9]), np.array([0.5, 0.4, 0.3]),
        np.array([0.8, 0.82, 0.84]), np.array([0.5, 0.45, 0.41]),
    )  # fmt: skip
    lines = scores.table(steps=[9, 29, 69]).splitlines()
    assert len(lines) == 4
    assert lines[3].split() == ["3", "69", "0.8400", "0.4100", "0.9000", "0.3000"]
    with pytest.raises(ValueError, match="one step per member"):
        scores.table(steps=[9])
