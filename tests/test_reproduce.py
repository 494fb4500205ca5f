"""Tests of lrlab.reproduce: the registry is complete and consistent, every paper-scale entry
runs end to end on a synthetic archive in the real CIFAR format (a smoke run, never stored),
results are stored with provenance where lrlab.results.load_or_run finds them."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from cifar_fixture import write_archive

from lrlab import data, reproduce, results, sweep

BUILT_HERE = ["seong-peak", "sgdr", "clr", "range-test-resnet18"]
#: The results file each chapter loads, and the configuration it loads it with: the CPU
#: scale of these entries must be exactly that experiment.
CHAPTERS = {
    "snapshot-ensembles": ("restarts_snapshots_mnist1d", "lrlab.restarts", "CONFIGS"),
    "sgdr": ("restarts_sgdr_mnist1d", "lrlab.restarts", "CONFIGS"),
    "clr": ("restarts_clr_mnist1d", "lrlab.restarts", "CONFIGS"),
    "edge-of-stability": ("edge_of_stability", "lrlab.edge", "EDGE_OF_STABILITY"),
    "catapult": ("relu_catapult", "lrlab.catapult", "RELU_CATAPULT"),
    "network-stability": ("network_stability", "lrlab.stability_experiments", "CONFIG"),
    "seong-peak": ("flat_minima_mnist1d", "lrlab.flatness", "CONFIG"),
}
#: Entries whose paper scale runs the chapter's experiment function too.
CHAPTER_PAPER = ["snapshot-ensembles", "edge-of-stability", "catapult", "network-stability"]


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """Both CIFAR archives served from file:// URLs with their own MD5s."""
    for kind in ("cifar10", "cifar100"):
        archive = write_archive(tmp_path / "archives", kind, n_train=40, n_test=20)
        monkeypatch.setitem(data.SOURCES, kind, archive.source)
    return tmp_path / "cache"


def test_registry_holds_the_books_experiments_at_both_scales():
    assert set(reproduce.names()) == set(BUILT_HERE) | set(CHAPTERS)
    for name in reproduce.names():
        exp = reproduce.get(name)
        assert exp.config("cpu") != exp.config("paper")
        if exp.chapter is None:
            assert exp.runs("cpu") >= 1 and exp.work("paper") > exp.work("cpu")
        else:
            assert exp.runs("cpu") is exp.work("cpu") is None
    with pytest.raises(ValueError, match="experiment must be one of"):
        reproduce.get("seong")
    with pytest.raises(ValueError, match="scale must be one of"):
        reproduce.get("sgdr").config("gpu")


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_cpu_scale_is_the_experiment_whose_stored_result_the_chapter_loads(name):
    """One CPU-scale result per experiment: the entry names the chapter's results file and
    configuration, and that stored file (with provenance) is what reproduce loads."""
    stem, module, attribute = CHAPTERS[name]
    exp = reproduce.get(name)
    assert reproduce.result_name(name, "cpu") == stem
    chapter_configs = getattr(importlib.import_module(module), attribute)
    wanted = chapter_configs[stem] if attribute == "CONFIGS" else chapter_configs
    assert exp.config("cpu") == wanted
    record = reproduce.stored(name, "cpu")
    assert record is not None, f"the chapter's stored {stem}.json must match the entry"
    assert record["provenance"]["git_commit"] and record["provenance"]["wall_time_s"] > 0
    loaded = reproduce.load_or_run(name, "cpu", device="cpu")
    assert loaded["source"] == "stored" and loaded["scale"] == "cpu"
    # no second, differently configured CPU-scale file of the same experiment
    assert not (results.results_root() / f"{name}_cpu.json").exists()


def test_paper_scale_falls_back_to_the_cpu_scale_and_says_so(tmp_path, capsys):
    record = reproduce.load_or_run("catapult", "paper")
    assert record["scale"] == "cpu" and record["source"] == "stored"
    assert "No stored paper-scale result of catapult" in capsys.readouterr().out


def test_cpu_scale_runs_on_the_built_in_data_and_paper_scale_on_cifar():
    for name in BUILT_HERE:
        exp = reproduce.get(name)
        cpu, paper = exp.config("cpu"), exp.config("paper")
        if exp.kind == "sweep":
            assert {c["data"] for c in sweep.expand(paper["grid"])} <= {"cifar10", "cifar100"}
            if exp.chapter is not None:
                assert cpu["dataset"] == "mnist1d" and len(cpu["seeds"]) >= 3
                continue
            assert {c["data"] for c in sweep.expand(cpu["grid"])} <= {"digits", "mnist1d"}
            # every comparison has at least three seeds at the CPU scale
            assert len({c["seed"] for c in sweep.expand(cpu["grid"])}) >= 3
        else:
            assert cpu["test"]["dataset"] == "mnist1d" and paper["test"]["dataset"] == "cifar10"


def test_sgdr_paper_scale_is_the_papers_setting():
    """Loshchilov & Hutter (2017): WRN-28-10, T0 = 10, Tmult = 2 (150 epochs = 10+20+40+80),
    lr 0.05; the baseline divides 0.1 by 5 at epochs 60, 120 and 160 of 200."""
    configs = sweep.expand(reproduce.get("sgdr").config("paper")["grid"])
    assert {c["model"] for c in configs} == {"wrn28_10"}
    restarts = [c for c in configs if c["schedule"]["name"] == "sgdr"]
    assert {(c["epochs"], c["lr"], c["schedule"]["first_cycle"]) for c in restarts} == {
        (150, 0.05, 10)
    }
    s = sweep.make_schedule(restarts[0]["schedule"], 0.05, steps_per_epoch=391, epochs=150)
    rates = s(np.arange(150 * 391))
    cycle_starts = np.flatnonzero(np.diff(rates) > 0) + 1
    assert cycle_starts.tolist() == [10 * 391, 30 * 391, 70 * 391]


@pytest.mark.slow
@pytest.mark.parametrize("name", BUILT_HERE)
def test_paper_scale_runs_end_to_end_on_the_cifar_format_and_stores_nothing(name, cifar, tmp_path):
    out = reproduce.run(
        name, "paper", device="cpu", data_root=cifar, root=tmp_path / "results", smoke=True
    )
    assert out["smoke"] is True
    assert not (tmp_path / "results").exists()  # a smoke run is never a result
    assert (cifar / "cifar10.pt").is_file()  # downloaded, checksummed, cached
    result = out["result"]
    if name == "range-test-resnet18":
        assert len(result["runs"][0]["lrs"]) == 2
    else:
        steps = {r["result"]["steps"] for r in result["records"]}
        assert steps == {2}
        models_run = {r["config"]["model"] for r in result["records"]}
        paper_models = {
            c["model"] for c in sweep.expand(reproduce.get(name).config("paper")["grid"])
        }
        assert models_run == paper_models


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_a_chapter_entry_smoke_runs_its_chapters_function_and_stores_nothing(name, tmp_path):
    out = reproduce.run(name, "cpu", root=tmp_path / "results", smoke=True, progress=False)
    assert out["smoke"] is True and out["result"]
    assert not (tmp_path / "results").exists()
    with pytest.raises(ValueError, match="engine 'local'"):
        reproduce.run(name, "cpu", engine="ray", root=tmp_path, smoke=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", CHAPTER_PAPER)
def test_chapter_paper_scale_runs_end_to_end_on_the_cifar_format(name, cifar, tmp_path):
    out = reproduce.run(
        name, "paper", device="cpu", data_root=cifar, root=tmp_path / "results", smoke=True
    )
    assert out["smoke"] is True and out["config"]["seeds"] == [0]
    assert (cifar / "cifar10.pt").is_file()  # downloaded, checksummed, cached where asked
    assert not (tmp_path / "results").exists()


@pytest.fixture
def requested_devices(monkeypatch):
    """Every data set built is built on the CPU but remembers the device it was asked for;
    returns the devices asked for by the data sets that lrlab.train.fit trained on."""
    from lrlab import train

    init, fit, trained = data.Dataset.__init__, train.fit, []

    def spy_init(self, *args, device=None, **kwargs):
        init(self, *args, device="cpu", **kwargs)
        self.requested = str(device)

    def spy_fit(model, dataset, *args, **kwargs):
        trained.append(dataset.requested)
        return fit(model, dataset, *args, **kwargs)

    monkeypatch.setattr(data.Dataset, "__init__", spy_init)
    monkeypatch.setattr(train, "fit", spy_fit)
    return trained


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_a_chapter_entry_trains_on_the_device_it_is_given(name, requested_devices, tmp_path):
    """The device reaches the data the chapter's experiment function trains on (here a GPU's
    name on a machine without one: the data sets are built on the CPU regardless)."""
    reproduce.run(name, "cpu", device="cuda:1", root=tmp_path, smoke=True, progress=False)
    assert requested_devices and set(requested_devices) == {"cuda:1"}


def test_a_chapters_cpu_scale_runs_on_the_cpu_and_its_paper_scale_on_the_default_device(
    requested_devices, cifar, tmp_path, monkeypatch
):
    import torch

    import lrlab

    monkeypatch.setattr(lrlab, "device", lambda: torch.device("cuda:0"))
    reproduce.run("catapult", "cpu", root=tmp_path, smoke=True)
    assert set(requested_devices) == {"cpu"}  # as the chapter computed its stored result
    requested_devices.clear()
    reproduce.run("catapult", "paper", data_root=cifar, root=tmp_path, smoke=True)
    assert set(requested_devices) == {"cuda:0"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, scale",
    [
        ("snapshot-ensembles", "paper"),
        ("network-stability", "paper"),
        ("edge-of-stability", "paper"),
        ("catapult", "cpu"),
    ],
)
def test_a_chapter_modules_count_of_training_examples_is_what_its_experiment_trains_on(
    name, scale, cifar, tmp_path, monkeypatch
):
    """Counted independently: every example of every training batch the experiment draws
    (range tests included; evaluation and probe batches are not training). The count is
    the planned one: a range test that stops early at divergence draws fewer."""
    from lrlab import lrfind

    batches, range_test, drawn, unplanned = data.Dataset.batches, lrfind.range_test, [], []

    def counting(self, split, batch_size, shuffle=True, augment=True, seed=0):
        for x, y in batches(self, split, batch_size, shuffle, augment, seed):
            if split == "train" and shuffle and augment:
                drawn.append(len(y))
            yield x, y

    def stopping(model, dataset, *, num_iter, batch_size, **options):
        result = range_test(model, dataset, num_iter=num_iter, batch_size=batch_size, **options)
        unplanned.append((num_iter - len(result.lrs)) * batch_size)
        return result

    monkeypatch.setattr(data.Dataset, "batches", counting)
    monkeypatch.setattr(lrfind, "range_test", stopping)
    out = reproduce.run(name, scale, device="cpu", data_root=cifar, root=tmp_path, smoke=True)
    sizes = {
        "cifar10": data.load("cifar10", root=cifar, device="cpu").size("train"),
        **{n: data.load(n, root=cifar, device="cpu").size("train") for n in ("digits", "mnist1d")},
    }
    counted = reproduce.resolve(reproduce.get(name).chapter.work)(out["config"], sizes)
    assert counted - sum(unplanned) == sum(drawn) > 0


def test_resolve_reads_module_references_and_refuses_others():
    assert reproduce.resolve("lrlab.edge:EDGE_OF_STABILITY")["seeds"] == [0, 1, 2]
    with pytest.raises(ValueError, match="reference must read"):
        reproduce.resolve("lrlab.edge.EDGE_OF_STABILITY")


def test_a_stored_run_carries_provenance_and_is_found_by_load_or_run(tmp_path, monkeypatch):
    """A real (tiny) sweep stored through reproduce.run, read back by results.load_or_run."""
    tiny = reproduce.Experiment(
        name="tiny",
        title="tiny",
        cite="smith2017cyclical",
        claim="",
        kind="sweep",
        configs={
            "cpu": {"grid": {"data": "digits", "model": "mlp", "epochs": 1, "seed": [0, 1]}},
            "paper": {"grid": {"data": "digits", "model": "mlp", "epochs": 2}},
        },
    )
    monkeypatch.setitem(reproduce.REGISTRY, "tiny", tiny)
    record = reproduce.run("tiny", "cpu", device="cpu", root=tmp_path, cache=None, command="x")
    prov = record["provenance"]
    assert prov["command"] == "x" and prov["device"] == "cpu" and prov["wall_time_s"] > 0
    assert len(record["result"]["records"]) == 2
    assert reproduce.stored("tiny", "cpu", root=tmp_path)["result"] == record["result"]
    assert reproduce.stored("tiny", "paper", root=tmp_path) is None
    again = results.load_or_run(
        reproduce.result_name("tiny", "cpu"),
        tiny.config("cpu"),
        lambda c: pytest.fail("a stored result must not be recomputed"),
        tiny.config("cpu"),
        root=tmp_path,
    )
    assert again["source"] == "stored" and again["result"] == record["result"]


def test_describe_lists_every_entry_with_both_scales():
    text = reproduce.describe()
    for name in reproduce.names():
        assert f"\n{name}: " in f"\n{text}"
    assert text.count("  cpu: ") == text.count("  paper: ") == len(reproduce.names())
    # --list tells where each CPU-scale result lives: the chapter's own file
    for stem, _, _ in CHAPTERS.values():
        assert f"stored as {stem}.json" in text


def test_cost_note_counts_the_paper_runs_images():
    """SGDR at paper scale: 2 data sets x (200 + 150) epochs x 50,000 images."""
    note = reproduce.cost_note("sgdr", images_per_s=35_000)
    assert note.startswith("`lrlab reproduce sgdr --scale paper`: 4 runs, 35,000,000 training")
    assert "1000.0 GPU-hours" not in note and "0.3 GPU-hours" in note
    with pytest.raises(ValueError, match="images_per_s must be > 0"):
        reproduce.cost_note("sgdr", images_per_s=0)
