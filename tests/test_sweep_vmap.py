"""Tests of the vmap engine of lrlab.sweep: the same records as the sequential engine (up to
float rounding), PyTorch's SGD re-implemented exactly, refusals before any work, divergence
kept to its member, caches shared between engines.

Tolerances. The stacked arithmetic (batched matrix products, grouped convolutions) rounds
differently from one model's, by about 1e-7 relatively per step, and training carries
that along. At the rates used here the two engines' test losses agreed to 3e-7 relatively
on the machine these tests were written on, and to 7e-5 on another (the 1-D CNN at lr 0.05
with Nesterov momentum after two epochs: a CPU with other vector kernels rounds otherwise);
we allow 1e-3. At rates near the edge of stability (lr 0.2 with Nesterov momentum on
MNIST-1D) the differences grow to 1e-3 and a few test examples, exactly as much as the
sequential engine itself moves between one and two CPU threads.
Accuracies may differ by one test example, where two logits tie up to rounding.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from lrlab import cli, models, sweep
from lrlab.sweep import vmap

LOSS_RTOL = 1e-3
_SCHEDULES = ["constant", {"name": "cosine"}]
DIGITS = {"data": "digits", "model": "mlp", "epochs": 2, "seed": [0, 1], "lr": [0.05, 0.1]}
MNIST1D = {"data": "mnist1d", "model": "cnn1d", "epochs": 2, "seed": [0, 1], "lr": [0.02, 0.05]}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """A data folder; MNIST-1D is generated into it once (two seconds) for the module."""
    return str(tmp_path_factory.mktemp("data"))


def _run(grid, engine, data_root, **kw):
    return sweep.run(
        grid, engine=engine, cache=kw.pop("cache", None), progress=False, device="cpu",
        data_root=data_root, **kw,
    )  # fmt: skip


def assert_same_records(fast: list[dict], slow: list[dict], n_test: int) -> None:
    """Equal configs, keys and counts; accuracies within one test example; losses close."""
    assert [r["key"] for r in fast] == [r["key"] for r in slow]
    for f, s in zip(fast, slow, strict=True):
        got, want = f["result"], s["result"]
        assert set(got) == set(want) and set(got["provenance"]) == set(want["provenance"])
        assert (got["steps"], got["diverged"]) == (want["steps"], want["diverged"])
        assert len(got["test_acc"]) == len(want["test_acc"])
        np.testing.assert_allclose(got["test_acc"], want["test_acc"], rtol=0, atol=1.01 / n_test)
        np.testing.assert_allclose(got["test_loss"], want["test_loss"], rtol=LOSS_RTOL)
        for key in ("final_test_loss", "best_test_loss", "final_train_loss"):
            if want[key] is None:
                assert got[key] is None
            else:
                np.testing.assert_allclose(got[key], want[key], rtol=LOSS_RTOL)
        assert got["provenance"]["seed"] == f["config"]["seed"]
        assert "engine='vmap'" in got["provenance"]["command"]
        assert got["wall_time_s"] > 0


@pytest.mark.parametrize("grid", [DIGITS, MNIST1D], ids=["digits-mlp", "mnist1d-cnn1d"])
def test_vmap_engine_returns_the_local_engines_records(grid, data_root):
    """Catches a member trained with another member's seed, data order, rate or schedule,
    a wrong SGD update, or an evaluation that differs from fit's."""
    grid = {**grid, "schedule": _SCHEDULES, "nesterov": grid is MNIST1D}
    fast = _run(grid, "vmap", data_root)
    slow = _run(grid, "local", data_root)
    n_test = sweep.grid.dataset(grid["data"], data_root, torch.device("cpu")).size("test")
    assert_same_records(fast, slow, n_test)
    # The members really differ: equal numbers would hide a stack trained as one model.
    assert len({r["result"]["final_test_loss"] for r in fast}) == len(fast)


def test_stacks_group_configs_that_differ_only_in_seed_lr_and_schedule():
    configs = sweep.expand({**DIGITS, "schedule": _SCHEDULES, "momentum": [0.0, 0.9]})
    groups = vmap.stacks({sweep.config_key(c): c for c in configs})
    assert [len(g) for g in groups] == [8, 8]
    assert [next(iter(g.values()))["momentum"] for g in groups] == [0.0, 0.9]


@pytest.mark.parametrize(
    ("momentum", "nesterov", "weight_decay"),
    [(0.9, False, 5e-4), (0.9, True, 1e-2), (0.0, False, 0.0), (0.5, False, 1e-3)],
)
def test_sgd_step_is_torch_optim_sgd(momentum, nesterov, weight_decay):
    """Each member, stepped at its own changing rate, against torch.optim.SGD on its copy."""
    nets = []
    for seed in range(3):
        torch.manual_seed(seed)
        nets.append(nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3)))
    params, _ = torch.func.stack_module_state(nets)
    params = {k: v.detach() for k, v in params.items()}
    optimizers = [
        torch.optim.SGD(
            net.parameters(), lr=0.1, momentum=momentum, nesterov=nesterov,
            weight_decay=weight_decay,
        )
        for net in nets
    ]  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    buffers = None
    for step in range(6):
        rates = torch.tensor([0.1, 0.03, 0.5]) / (1 + step)
        grads = {k: torch.randn(v.shape, generator=gen) for k, v in params.items()}
        params, buffers = vmap.sgd_step(
            params, grads, buffers, rates,
            momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
        )  # fmt: skip
        for m, (net, opt) in enumerate(zip(nets, optimizers, strict=True)):
            for name, p in net.named_parameters():
                p.grad = grads[name][m].clone()
            opt.param_groups[0]["lr"] = float(rates[m])
            opt.step()
    for m, net in enumerate(nets):
        for name, p in net.named_parameters():
            torch.testing.assert_close(params[name][m], p.detach(), rtol=1e-6, atol=1e-7)


def _dropout_mlp(num_classes, input_shape):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.1), nn.Linear(16, 10))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model": "resnet18"}, "model 'resnet18': it has BatchNorm"),
        ({"model": "small_cnn"}, "model 'small_cnn': it has BatchNorm"),
        ({"model": "dropout_mlp"}, r"model 'dropout_mlp': it has dropout \(\['Dropout'\]\)"),
        ({"optimizer": "adam"}, "optimizer 'sgd' only, got 'adam'"),
        ({"precision": "bf16"}, "precision 'fp32' only, got 'bf16'"),
        ({"data": "cifar10"}, "cifar10's random crops and flips"),
    ],
)
def test_what_the_engine_cannot_do_is_refused_before_any_run(
    change, message, tmp_path, monkeypatch
):
    """A good config next to the refused one: nothing trains, nothing is cached (and CIFAR
    is refused before any download)."""
    monkeypatch.setitem(models.small.BUILDERS, "dropout_mlp", _dropout_mlp)
    monkeypatch.setattr(vmap, "_train_stack", lambda *a, **k: pytest.fail("trained"))
    grid = [{"data": "digits", "model": "mlp"}, {"data": "digits", "model": "mlp", **change}]
    with pytest.raises(ValueError, match=message) as error:
        _run(grid, "vmap", str(tmp_path), cache=tmp_path / "cache")
    assert 'use engine "local"' in str(error.value) or "set precision" in str(error.value)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_a_diverging_member_records_what_run_one_records_and_spares_the_others(data_root):
    """Catches NaN leaking from a diverged member into its stack-mates' numbers (through a
    reduction over members) and a diverged record that differs from the local engine's."""
    grid = {"data": "digits", "model": "mlp", "epochs": 2, "momentum": 0.0, "lr": [0.1, 1e6]}
    fast = _run(grid, "vmap", data_root)
    slow = _run(grid, "local", data_root)
    assert [r["result"]["diverged"] for r in fast] == [False, True]
    drop = ("wall_time_s", "provenance")
    diverged = {k: v for k, v in fast[1]["result"].items() if k not in drop}
    assert diverged == {k: v for k, v in slow[1]["result"].items() if k not in drop}
    assert_same_records(fast, slow, n_test=450)
    assert np.isfinite(fast[0]["result"]["test_loss"]).all()


@pytest.mark.parametrize("max_steps", [5, 11, 14])
def test_max_steps_cuts_every_member_where_run_one_does(max_steps, data_root):
    """11 steps is one epoch of digits: run_one stops inside it, before its evaluation."""
    grid = {**DIGITS, "epochs": 2}
    fast = _run(grid, "vmap", data_root, max_steps=max_steps)
    slow = _run(grid, "local", data_root, max_steps=max_steps)
    assert [r["result"]["steps"] for r in fast] == [max_steps] * 4
    assert_same_records(fast, slow, n_test=450)


def test_cached_records_are_interchangeable_between_engines(tmp_path, data_root, monkeypatch):
    """A sweep started with one engine resumes with the other and reruns nothing it has."""
    cache = tmp_path / "cache"
    grid = {**DIGITS, "epochs": 1}
    local = _run({**grid, "seed": 0}, "local", data_root, cache=cache)  # half the grid
    trained = []
    real = vmap._train_stack
    monkeypatch.setattr(
        vmap, "_train_stack", lambda configs, *a: trained.extend(configs) or real(configs, *a)
    )
    both = _run(grid, "vmap", data_root, cache=cache)
    assert sorted((c["seed"], c["lr"]) for c in trained) == [(1, 0.05), (1, 0.1)]
    by_key = {r["key"]: r["result"] for r in both}
    assert all(by_key[r["key"]] == r["result"] for r in local)  # read back, not rerun
    monkeypatch.setattr(sweep.engines, "run_one", lambda *a, **k: pytest.fail("reran"))
    again = _run(grid, "local", data_root, cache=cache)
    assert [r["result"] for r in again] == [r["result"] for r in both]
    stored = json.loads((cache / f"{both[-1]['key']}.json").read_text())
    assert stored == {
        "key": both[-1]["key"],
        "config": both[-1]["config"],
        "result": by_key[stored["key"]],
    }


def test_cli_sweep_runs_the_vmap_engine(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"data": "digits", "model": "mlp", "seed": [0, 1]}))
    argv = ["sweep", str(grid), "--engine", "vmap", "--cache", str(tmp_path / "cache")]
    assert cli.main([*argv, "--device", "cpu", "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()  # the plan, the table's head, its rows
    assert [line.split()[3] for line in lines[2:]] == ["0", "1"]
    records = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")]
    assert len(records) == 2
    assert all("engine='vmap'" in r["result"]["provenance"]["command"] for r in records)
