"""The WSD chapter's experiments (lrlab.experiments.wsd), run end to end at a tiny size,
stored with provenance and read back; their bill of training examples counted."""

from __future__ import annotations

import dataclasses

import pytest

from lrlab import data, experiments, models, schedules, train
from lrlab.experiments import merge
from lrlab.experiments import wsd as wsd_experiments

TINY = {
    "wsd-cooldown": {
        "epochs": 3,
        "lrs": [0.1, 0.2],
        "seeds": [0, 1],
        "fractions": [0.34],
        "shapes": ["linear", "1-sqrt"],
        "baselines": ["cosine", "linear to 0"],
    },
    "wsd-branching": {"horizons": [2, 4], "fraction": 0.5, "seeds": [0, 1]},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY))
def test_each_experiment_runs_stores_with_provenance_and_loads_back(name, tmp_path, monkeypatch):
    """Catches a result that does not survive JSON, runs filed under the wrong arm, rate or
    seed, or a branch of the wrong length."""
    exp = experiments.get(name)
    tiny = dataclasses.replace(exp, base=merge(exp.base, TINY[name]))
    monkeypatch.setitem(experiments.EXPERIMENTS, name, tiny)
    record = experiments.store(name, root=tmp_path, progress=False, jobs=1)
    assert record["provenance"]["command"] == f"lrlab reproduce {name} --scale cpu"
    result = record["result"]
    if name == "wsd-cooldown":
        assert list(result["runs"]) == ["0.1", "0.2"]
        assert result["arms"] == [
            "constant",
            "wsd 34% linear",
            "wsd 34% 1-sqrt",
            "cosine",
            "linear to 0",
        ]
        for by_arm in result["runs"].values():
            assert all(len(runs) == 2 and len(runs[0]["test_acc"]) == 3 for runs in by_arm.values())
        assert len(result["cpu_s"]) == 4 and min(result["cpu_s"]) > 0
    else:
        assert result["horizons"] == [2, 4] and result["cooldowns"] == [[1, 1], [2, 2]]
        assert [len(run["test_acc"]) for run in result["wsd"][0]] == [2, 4]
        assert [len(run["test_acc"]) for run in result["cosine"][1]] == [2, 4]
        assert len(result["constant"][0]["test_acc"]) == 2  # the stable run: to the last branch
        assert result["epochs_trained"] == {"wsd": 2 + 1 + 2, "cosine": 6}


def test_a_cooldown_arm_is_the_fit_of_its_wsd_schedule(tmp_path):
    """The stored arm of run_cooldown is what fit gives for the WSD schedule it is named for
    (same seed, same options): arms are neither swapped nor mislabelled."""
    config = {**experiments.get("wsd-cooldown").config("smoke"), "shapes": ["linear"]}
    out = wsd_experiments.run_cooldown(config, data_root=tmp_path)
    mnist1d = data.load("mnist1d", root=tmp_path, device="cpu")
    spe = mnist1d.num_batches("train", config["batch_size"])
    schedule = schedules.wsd(0.2, 2 * spe, decay_steps=spe, cooldown="linear")
    model = models.build("cnn1d", mnist1d.num_classes, mnist1d.input_shape, seed=0)
    options = {k: config[k] for k in ("batch_size", "momentum", "weight_decay")}
    history = train.fit(model, mnist1d, schedule, 2, seed=0, progress=False, **options)
    assert out["runs"]["0.2"]["wsd 50% linear"][0]["test_acc"] == history.test_acc


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_work_is_the_training_examples_drawn(name, tmp_path, monkeypatch):
    """Counted independently: every example of every training batch drawn (a branch resumed
    from a checkpoint draws only its own epochs)."""
    batches, drawn = data.Dataset.batches, []

    def counting(self, split, batch_size, shuffle=True, augment=True, seed=0):
        for x, y in batches(self, split, batch_size, shuffle, augment, seed):
            if split == "train" and shuffle and augment:
                drawn.append(len(y))
            yield x, y

    monkeypatch.setattr(data.Dataset, "batches", counting)
    exp = experiments.get(name)
    config = exp.config("smoke")
    exp.run(config, data_root=tmp_path, jobs=1)
    assert exp.work(config) == sum(drawn) > 0
