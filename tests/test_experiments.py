"""The experiments wing (lrlab.experiments): one protocol, every experiment's configuration
at every scale, runs end to end at its smoke size on each scale's own data (CIFAR from a
synthetic archive in the real format), stored with provenance where chapters find it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cifar_fixture import write_archive

from lrlab import data, experiments, results
from lrlab.experiments import SCALES, TRAIN_EXAMPLES, Experiment, Replace, merge

STORED = Path(results.PACKAGE_RESULTS)


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    """Both CIFAR archives served from file:// URLs with their own MD5s (40 training
    images each), and the experiments' size table told so."""
    for kind in ("cifar10", "cifar100"):
        archive = write_archive(tmp_path / "archives", kind, n_train=40, n_test=20)
        monkeypatch.setitem(data.SOURCES, kind, archive.source)
        monkeypatch.setitem(TRAIN_EXAMPLES, kind, 40)
    return tmp_path / "cache"


def _tiny(**changes) -> Experiment:
    options = {
        "name": "tiny",
        "chapter": "schedules",
        "title": "tiny",
        "claim": "",
        "cite": "",
        "run": lambda config, **kw: {"lr": config["lr"], "device": str(kw["device"])},
        "base": {"lr": 0.1, "fit": {"epochs": 10, "batch_size": 128}},
        "scales": {"classroom": {"fit": {"epochs": 1}}, "paper": {"lr": 0.4}, "smoke": {}},
        "work": lambda config: config["fit"]["epochs"],
    }
    return Experiment(**{**options, **changes})


def test_scales_are_overrides_merged_into_the_base():
    exp = _tiny(scales={"classroom": {"fit": {"epochs": 1}}, "paper": {}, "smoke": {"lr": 1}})
    assert exp.config("classroom") == {"lr": 0.1, "fit": {"epochs": 1, "batch_size": 128}}
    assert exp.config("paper", smoke=True)["lr"] == 1
    assert exp.config() == exp.base and exp.config() is not exp.base
    assert merge({"runs": {"a": 1}}, {"runs": Replace({"b": 2})}) == {"runs": {"b": 2}}
    assert type(merge({}, {"runs": Replace({"b": {"c": 1}})})["runs"]) is dict  # JSON-plain
    scaled = _tiny(scales={"classroom": lambda c: {"lr": c["lr"] / 10}, "paper": {}, "smoke": {}})
    assert scaled.config("classroom")["lr"] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="missing \\['smoke'\\]"):
        _tiny(scales={"classroom": {}, "paper": {}})
    with pytest.raises(ValueError, match="scale must be one of"):
        _tiny().config("gpu")


def test_every_experiment_names_its_chapter_claim_and_all_scales():
    chapters = {p.stem for p in Path("book").glob("*.ipynb")}
    bibliography = Path("book/references.bib").read_text(encoding="utf-8")
    for name, exp in experiments.EXPERIMENTS.items():
        assert exp.name == name and exp.chapter in chapters, name
        assert exp.claim and re.search(rf"@\w+\{{{re.escape(exp.cite)},", bibliography), name
        for scale in SCALES:
            config = exp.config(scale)
            json.dumps(config, allow_nan=False)  # plain JSON at every scale
            assert exp.work_at(scale) > 0, (name, scale)
        assert exp.work_at("classroom") < exp.work_at("cpu") < exp.work_at("paper"), name
    with pytest.raises(ValueError, match="experiment must be one of"):
        experiments.get("seong")


def test_no_module_references_an_experiment_by_a_string():
    """The registry holds real references: no "module:NAME" strings anywhere in lrlab."""
    pattern = re.compile(r"[\"']lrlab\.[\w.]+:\w+")
    found = [
        str(p) for p in Path("lrlab").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_experiment_runs_its_smoke_size_on_the_cpu_scales_data(name, tmp_path):
    out = experiments.run(name, "cpu", smoke=True, jobs=1, data_root=tmp_path)
    assert out["config"] == experiments.get(name).config("cpu", smoke=True)
    assert out["result"] and out["device"].type == "cpu"
    results.save("smoke", out["result"], out["config"], device="cpu", root=tmp_path)


#: Experiments whose paper-scale count of training examples the paper smoke run checks (the
#: count test below checks the others' at the scale named there; a paper smoke run of a
#: wide ResNet takes minutes on a CPU, so it runs once for both checks).
COUNTED_AT_PAPER_SCALE = (
    "snapshot-ensembles",
    "network-stability",
    "edge-of-stability",
    "sgdr-grid",
)


def _count_training_batches(monkeypatch) -> tuple[list[int], list[int]]:
    """From now on, every example of every training batch drawn goes into the first list,
    and the planned range-test examples a range test did not draw (it stopped early at
    divergence) into the second. Evaluation and probe batches are not training."""
    from lrlab import lrfind

    batches, range_test, drawn, unplanned = data.Dataset.batches, lrfind.range_test, [], []

    def counting(self, split, batch_size, shuffle=True, augment=True, seed=0):
        for x, y in batches(self, split, batch_size, shuffle, augment, seed):
            if split == "train" and shuffle and augment:
                drawn.append(len(y))
            yield x, y

    def stopping(model, dataset, *args, **options):
        result = range_test(model, dataset, *args, **options)
        unplanned.append((result.num_iter - len(result.lrs)) * result.config["batch_size"])
        return result

    monkeypatch.setattr(data.Dataset, "batches", counting)
    monkeypatch.setattr(lrfind, "range_test", stopping)
    return drawn, unplanned


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_experiment_runs_its_smoke_size_on_the_papers_data(name, cifar, monkeypatch):
    """Downloads, checksums and caches the (synthetic) CIFAR archive, builds the paper's
    networks, trains and measures for a few steps: the paper scale's code path; for
    COUNTED_AT_PAPER_SCALE, its count of training examples is what it trained on."""
    drawn, unplanned = _count_training_batches(monkeypatch)
    fresh = {"cache": None} if "cache" in experiments.get(name).options else {}
    out = experiments.run(name, "paper", smoke=True, device="cpu", jobs=1, data_root=cifar, **fresh)
    assert out["result"]
    names = {d["data"] for d in _grids(out["config"])} or {_data_of(out["config"])}
    assert names & {"cifar10", "cifar100"}, names
    assert (cifar / "cifar10.pt").is_file() or (cifar / "cifar100.pt").is_file()
    if name in COUNTED_AT_PAPER_SCALE:
        counted = experiments.get(name).work(out["config"])
        assert counted - sum(unplanned) == sum(drawn) > 0


def _grids(config):
    from lrlab import sweep

    return sweep.expand(config["grid"]) if "grid" in config else []


def _data_of(config) -> str:
    """The data set a chapter experiment's configuration names."""
    for key in ("dataset", "data"):
        if key in config:
            return config[key]
    for key in ("test", "base"):
        if key in config:
            return _data_of(config[key])
    if "workloads" in config:  # the race: one data set per workload, the first one's
        return _data_of(next(iter(config["workloads"].values())))
    return next(iter(config["schedules"]))  # network-stability: one entry per data set


def test_the_two_jobs_give_the_same_result_as_one():
    """Each task is a function of its own seed on one thread: the process count is free."""
    one = experiments.run("edge-of-stability", "smoke", jobs=1)["result"]
    two = experiments.run("edge-of-stability", "smoke", jobs=2)["result"]
    assert one == two


@pytest.fixture
def requested_devices(monkeypatch):
    """Every data set is built on the CPU but remembers the device it was asked for;
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


@pytest.mark.parametrize("name", ["edge-of-stability", "catapult", "clr", "network-stability"])
def test_an_experiment_trains_on_the_device_it_is_given(name, requested_devices, tmp_path):
    """The device reaches the data every fit trains on (here a GPU's name on a machine
    without one: the data sets are built on the CPU regardless)."""
    experiments.run(name, "smoke", device="cuda:1", jobs=1, data_root=tmp_path)
    assert requested_devices and set(requested_devices) == {"cuda:1"}


def test_cpu_scales_run_on_the_cpu_and_the_paper_scale_on_the_default_device(
    requested_devices, cifar, monkeypatch
):
    import torch

    import lrlab

    monkeypatch.setattr(lrlab, "device", lambda: torch.device("cuda:0"))
    experiments.run("catapult", "cpu", smoke=True, jobs=1)
    assert set(requested_devices) == {"cpu"}
    requested_devices.clear()
    experiments.run("catapult", "paper", smoke=True, jobs=1, data_root=cifar)
    assert set(requested_devices) == {"cuda:0"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, scale",
    [("catapult", "cpu"), ("clr", "cpu")],  # and COUNTED_AT_PAPER_SCALE, at the paper scale
)
def test_an_experiments_count_of_training_examples_is_what_it_trains_on(
    name, scale, cifar, monkeypatch
):
    """Counted independently: every example of every training batch the experiment draws
    (range tests included; evaluation and probe batches are not training). The count is
    the planned one: a range test that stops early at divergence draws fewer."""
    drawn, unplanned = _count_training_batches(monkeypatch)
    # A sweep experiment trains nothing for points its cache already holds: no cache here.
    fresh = {"cache": None} if "cache" in experiments.get(name).options else {}
    out = experiments.run(name, scale, smoke=True, device="cpu", jobs=1, data_root=cifar, **fresh)
    counted = experiments.get(name).work(out["config"])
    assert counted - sum(unplanned) == sum(drawn) > 0


def test_store_records_the_reproduce_command_and_load_or_run_finds_it(
    tmp_path, monkeypatch, capsys
):
    tiny = _tiny()
    monkeypatch.setitem(experiments.EXPERIMENTS, "tiny", tiny)
    record = experiments.store("tiny", root=tmp_path, progress=False)
    prov = record["provenance"]
    assert prov["command"] == "lrlab reproduce tiny --scale cpu"
    assert prov["device"] == "cpu" and prov["wall_time_s"] >= 0
    assert (tmp_path / "tiny.json").is_file()
    loaded = experiments.load_or_run("tiny", root=tmp_path)
    assert loaded["source"] == "stored" and loaded["result"] == {"lr": 0.1, "device": "cpu"}
    assert f"{Path(tmp_path).name}/tiny.json" in capsys.readouterr().out
    # no paper result stored: the CPU one stands in where asked, said so; else a live run
    assert experiments.load_or_run("tiny", "paper", fallback="cpu", root=tmp_path)["scale"] == "cpu"
    assert experiments.load_or_run("tiny", "paper", root=tmp_path)["scale"] == "classroom"
    # another configuration: a live classroom run, not stored
    monkeypatch.setitem(experiments.EXPERIMENTS, "tiny", _tiny(base={**tiny.base, "lr": 0.2}))
    live = experiments.load_or_run("tiny", root=tmp_path)
    assert live["source"] == "live run" and live["scale"] == "classroom"
    assert "running the classroom scale now" in capsys.readouterr().out
    with pytest.raises(ValueError, match="scale must be 'cpu' or 'paper'"):
        experiments.store("tiny", "classroom", root=tmp_path)


def test_the_package_results_are_the_stored_experiments_and_nothing_else():
    """Every file in lrlab/results_data is one experiment's stored result at a scale the
    book stores, and every such experiment has its file."""
    files = {p.stem for p in STORED.glob("*.json")}
    wanted = {
        experiments.result_name(name, scale)
        for name, exp in experiments.EXPERIMENTS.items()
        for scale in exp.stored
    }
    assert files == wanted


@pytest.mark.parametrize(
    "name, scale",
    [(n, s) for n, e in experiments.EXPERIMENTS.items() for s in e.stored],
)
def test_every_stored_result_is_its_experiments_configuration_stored_by_reproduce(name, scale):
    """The stored file holds exactly the scale's configuration (else a chapter silently
    falls back to a live run) and was written by `lrlab reproduce NAME --scale S` from a
    clean commit, so that its provenance says how to make it again."""
    record = experiments.load(name, scale)
    assert record["config"] == results.as_stored(experiments.get(name).config(scale))
    prov = record["provenance"]
    assert prov["command"] == f"lrlab reproduce {name} --scale {scale}"
    assert prov["git_commit"] and prov["git_dirty"] is False
    assert record["name"] == experiments.result_name(name, scale)
