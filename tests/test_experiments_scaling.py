"""The experiments of the chapter "The rate, the batch and the width": each run at a small
size, the training examples it draws against its ``work`` (counted independently, batch by
batch), the batch sweep's result against the order it tries the rates in, and μP at its
base width against the standard network."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lrlab import data, experiments
from lrlab.experiments.scaling import BATCH, NOISE, WIDTH, batch, run_batch, run_noise, run_width
from lrlab.experiments.scaling.width import width_work


@pytest.fixture
def drawn(monkeypatch):
    """The size of every training batch the runs draw (evaluation and the noise scale's
    own draws are not training)."""
    batches, sizes = data.Dataset.batches, []

    def counting(self, split, batch_size, shuffle=True, augment=True, seed=0):
        for x, y in batches(self, split, batch_size, shuffle, augment, seed):
            if split == "train" and shuffle:
                sizes.append(len(y))
            yield x, y

    monkeypatch.setattr(data.Dataset, "batches", counting)
    return sizes


def _without_time(result):
    """A result with every ``cpu_time_s`` removed (the only entry that is not a function of
    the configuration)."""
    if isinstance(result, dict):
        return {k: _without_time(v) for k, v in result.items() if k != "cpu_time_s"}
    if isinstance(result, list):
        return [_without_time(v) for v in result]
    return result


def test_noise_run_measures_on_its_grid_and_trains_on_its_work(drawn):
    """Measurements after steps 1, every + 1, ...; B_simple is the ratio of its parts
    (McCandlish et al. 2018, eq. 2.8); every training example counted."""
    config = NOISE.config("smoke")
    (run,) = run_noise(config)["runs"]
    per_epoch = math.ceil(4000 / config["batch_size"])
    assert run["steps"] == list(range(1, per_epoch + 1, config["every"]))
    trace, grad_sq = np.array(run["trace_sigma"]), np.array(run["grad_sq"])
    ratio = np.where(grad_sq > 0, trace / np.where(grad_sq > 0, grad_sq, 1.0), np.inf)
    np.testing.assert_allclose(run["b_simple"], ratio, rtol=1e-12)
    assert len(run["train_loss"]) == len(run["steps"]) and run["trained_steps"] == per_epoch
    assert sum(drawn) == batch.noise_work(config)


def _examples(steps: int, n: int, batch_size: int) -> int:
    """Training examples in the first ``steps`` steps over ``n`` examples: whole epochs of
    ``n``, then full batches (an epoch's one short batch is its last)."""
    epochs, rest = divmod(steps, math.ceil(n / batch_size))
    return epochs * n + rest * batch_size


def _digits_sweep(search_rate: float) -> dict:
    """A batch-size sweep on the digits that reaches a test accuracy of 60% in tens of
    steps; ``search_rate`` only changes the order in which the rates are tried."""
    return {
        "data": "digits",
        "model": "mlp",
        "width": 16,
        "depth": 1,
        "batch_sizes": [16, 128],
        "rates": [0.02, 0.08, 0.32, 1.28, 5.12],
        "target": {"metric": "accuracy", "value": 0.6, "easier": [0.4]},
        "max_examples": 6400,
        "min_steps": 60,
        "patience": 2,
        "eval_examples": 32,
        "search": {"rate": search_rate, "batch_size": 16, "max_rate": search_rate},
        "noise": {"small_batch": 4, "big_batch": 16, "batches": 2},
        "seeds": [0, 1],
    }


def test_batch_sweep_keeps_exact_counts_within_patience_whatever_the_order(drawn):
    """Tried from the smallest or from the largest rate, the sweep reports the same steps:
    exact where within `patience` times the fastest, None elsewhere; every count is an
    evaluation step; the examples drawn are the runs' trained steps, within the work."""
    low, high = _digits_sweep(0.02), _digits_sweep(5.12)
    assert batch.search_order(low, 16)[0] == 0.02 and batch.search_order(high, 16)[0] == 5.12
    first = run_batch(low)
    trained = sum(
        _examples(steps, 1347, size)
        for size, runs in zip(low["batch_sizes"], first["runs"].values(), strict=True)
        for run in runs
        for steps in run["trained_steps"]
    )
    assert sum(drawn) == trained <= batch.batch_work(low)
    second = run_batch(high)
    for size in low["batch_sizes"]:
        _, every = batch.batch_limits(low, size)
        for a, b in zip(first["runs"][str(size)], second["runs"][str(size)], strict=True):
            assert a["steps"] == b["steps"]
            np.testing.assert_array_equal(a["b_simple"], b["b_simple"])
            reached = [s for s in a["steps"] if s is not None]
            assert reached and max(reached) <= low["patience"] * min(reached)
            assert all((s - 1) % every == 0 for s in reached)
            pairs = zip(a["steps"], a["b_simple"], strict=True)
            assert all((s is None) == math.isnan(b) for s, b in pairs)
            assert a["steps_easier"] == b["steps_easier"]
            (easier,) = a["steps_easier"]
            assert all(e <= s for e, s in zip(easier, a["steps"], strict=True) if s is not None)
    assert any(
        a["trained_steps"] != b["trained_steps"]
        for size in low["batch_sizes"]
        for a, b in zip(first["runs"][str(size)], second["runs"][str(size)], strict=True)
    )  # the order did change the work done


def test_batch_budget_and_order_follow_the_configuration():
    config = BATCH.config()
    for size in config["batch_sizes"]:
        budget, every = batch.batch_limits(config, size)
        assert budget * size >= config["max_examples"] and budget >= config["min_steps"]
        assert every == max(1, round(config["eval_examples"] / size))
        order = batch.search_order(config, size)
        assert sorted(order) == sorted(config["rates"])
    assert batch.search_order(config, 64)[0] == 0.5  # 0.125 * 64 / 16


def test_width_mup_at_its_base_width_is_the_standard_network(drawn):
    """At width == base_width μP's initialisation and rates are the standard ones (Yang et
    al. 2022, Table 8), so both arms train the same network the same way."""
    config = WIDTH.config("smoke")
    out = run_width(config)
    base = str(config["base_width"])
    for optimizer in ("sgd", "adam"):
        sp, mup = out["runs"][f"{optimizer}-sp"][base], out["runs"][f"{optimizer}-mup"][base]
        for a, b in zip(sp, mup, strict=True):
            np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-5)
    wide = str(max(config["widths"]))
    assert (
        out["runs"]["sgd-sp"][wide][0]["train_loss"]
        != out["runs"]["sgd-mup"][wide][0]["train_loss"]
    )
    assert sum(drawn) == width_work(config)


@pytest.mark.slow
def test_the_batch_sweep_gives_the_same_result_in_one_process_or_two():
    one = experiments.run("batch-size", "smoke", jobs=1)["result"]
    two = experiments.run("batch-size", "smoke", jobs=2)["result"]
    assert _without_time(one) == _without_time(two)


def test_the_chapters_scales_shrink_from_cpu_to_classroom():
    for exp in (NOISE, BATCH, WIDTH):
        assert exp.work_at("smoke") < exp.work_at("classroom") < exp.work_at("cpu")
        assert len(exp.config("cpu")["seeds"]) >= 10  # the chapter compares arms
