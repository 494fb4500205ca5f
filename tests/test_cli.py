"""Tests of the ``lrlab`` command (lrlab.cli), called in-process through ``main``."""

from __future__ import annotations

import argparse
import json
import types

import numpy as np

from lrlab import cli, schedules


def subparsers_of(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every (nested) subcommand parser, by its command line."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in subparsers_of(sub).items()})
    return found


def test_train_writes_a_results_file_with_provenance(tmp_path, capsys):
    out = tmp_path / "run.json"
    argv = ["train", "--dataset", "digits", "--model", "mlp", "--schedule", "cosine"]
    argv += ["--lr", "0.1", "--epochs", "2", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "cosine(lr=0.1, total_steps=22, min_lr=0.0)" in printed
    assert "test acc" in printed and f"wrote {out}" in printed
    record = json.loads(out.read_text())
    assert record["provenance"]["command"] == "lrlab " + " ".join(argv)
    assert {"git_commit", "torch_version", "lrlab_version", "device", "date"} <= set(
        record["provenance"]
    )
    assert record["config"]["schedule"] == "cosine" and record["config"]["epochs"] == 2
    assert record["config"]["schedule_params"] == {"lr": 0.1, "total_steps": 22, "min_lr": 0.0}
    expected = schedules.cosine(0.1, total_steps=22)(np.arange(22))
    np.testing.assert_array_equal(record["result"]["lr"], expected)


def test_every_option_of_every_subcommand_is_explained(capsys):
    parser = cli.build_parser()
    commands = subparsers_of(parser)
    assert {"train", "bench", "bench train"} <= set(commands)
    for name, sub in commands.items():
        for action in sub._actions:
            if action.option_strings:
                assert action.help and action.help.strip(), f"{name} {action.option_strings}"
        assert cli.main([*name.split(), "--help"]) == 0
        assert "usage: lrlab" in capsys.readouterr().out


def test_schedule_options_are_parsed_with_the_factorys_types():
    parser = argparse.ArgumentParser()
    cli.add_schedule_options(parser)
    args = parser.parse_args(["--schedule", "multistep", "--lr", "0.1", "--milestones", "5,10"])
    schedule = cli.schedule_from_args(args)
    assert schedule.params == {"lr": 0.1, "milestones": [5, 10], "gamma": 0.1}
    args = parser.parse_args(["--schedule", "one_cycle", "--lr", "0.4", "--three-phase", "true"])
    schedule = cli.schedule_from_args(args, total_steps=100)
    assert schedule.params["max_lr"] == 0.4 and schedule.params["three_phase"] is True
    assert schedule.params["total_steps"] == 100


def test_wrong_schedule_options_fail_with_a_message(capsys):
    assert cli.main(["train", "--schedule", "cosine", "--lr", "0.1", "--milestones", "3"]) == 2
    assert "--milestones: not a parameter of cosine(lr, total_steps" in capsys.readouterr().err
    assert cli.main(["train", "--schedule", "step_decay", "--lr", "0.1"]) == 2
    assert "step_decay needs --step-size" in capsys.readouterr().err
    assert cli.main(["train", "--schedule", "cosine", "--lr", "fast"]) == 2
    assert "--lr:" in capsys.readouterr().err
    assert cli.main(["train", "--epochs", "0"]) == 2
    assert "must be an integer >= 1" in capsys.readouterr().err


def test_a_new_schedule_factory_becomes_options_automatically():
    def triangle(peak: float, width: int = 3, points: list[float] | None = None):
        """A test factory.

        Parameters
        ----------
        peak : float
            Highest rate.
        width : int
            Steps per side.
        points : list of float, optional
            Extra points.
        """
        return ("triangle", peak, width, points)

    module = types.SimpleNamespace(FACTORIES={"triangle": triangle})
    parser = argparse.ArgumentParser()
    cli.add_schedule_options(parser, module=module)
    args = parser.parse_args(["--schedule", "triangle", "--peak", "0.2", "--points", "1,2.5"])
    assert cli.schedule_from_args(args, module=module) == ("triangle", 0.2, 3, [1.0, 2.5])
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["schedule_peak"] == "Highest rate [triangle]"


def test_subcommands_are_registered_from_a_list(monkeypatch, capsys):
    def add_hello_command(subparsers):
        parser = subparsers.add_parser("hello", help="say hello")
        parser.add_argument("--name", default="world", help="who to greet")
        parser.set_defaults(func=lambda args: print(f"hello {args.name}") or 0)

    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, add_hello_command])
    assert cli.main(["hello", "--name", "lab"]) == 0
    assert capsys.readouterr().out == "hello lab\n"


def test_bench_train_runs_on_the_cpu_and_prints_the_table(capsys):
    argv = ["bench", "train", "--model", "mlp", "--batch-size", "32", "--images", "256"]
    argv += ["--steps", "2", "--warmup", "1", "--workers", "0", "--device", "cpu"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "device-resident (lrlab.data)" in out and "DataLoader (torchvision, 0 workers)" in out
    assert "measured bf16 matmul peak: n/a (CPU)" in out
    assert out.count("n/a") >= 6  # the peaks and both MFUs of both pipelines
    assert "compile on" not in out  # torch.compile is timed on the CPU only on request


def test_bench_train_stores_its_table_with_provenance(tmp_path, capsys):
    out = tmp_path / "bench.json"
    argv = ["bench", "train", "--model", "mlp", "--batch-size", "16", "--images", "64"]
    argv += ["--steps", "2", "--warmup", "1", "--workers", "0", "--device", "cpu"]
    argv += ["--compile-modes", "off", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    record = json.loads(out.read_text())
    rows = record["result"]["rows"]
    assert [(r["pipeline"].split()[0], r["compile"]) for r in rows] == [
        ("device-resident", False),
        ("DataLoader", False),
    ]
    assert all(r["images_per_s"] > 0 and r["mfu_measured_peak"] is None for r in rows)
    assert f"{rows[0]['images_per_s']:,.0f}" in printed
    assert record["provenance"]["device"] == "cpu" and record["config"]["batch_size"] == 16
    assert record["result"]["training_flops_per_image"] > 0


def test_datasheet_peaks_are_dense_bf16_and_pcie_is_told_apart():
    from lrlab.cli.bench import datasheet_peak

    assert datasheet_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert datasheet_peak("NVIDIA H100 PCIe") == 756e12
    assert datasheet_peak("Tesla T4") is None  # no bf16 tensor cores: no bf16 MFU


def test_sweep_runs_a_grid_file_caches_it_and_prints_one_line_per_run(tmp_path, capsys):
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"data": "digits", "model": "mlp", "lr": [0.05, 0.1]}))
    argv = ["sweep", str(grid), "--cache", str(tmp_path / "cache"), "--device", "cpu"]
    argv += ["--no-progress", "--out", str(tmp_path / "records.json")]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "2 runs, 0 cached, about 2,694 training examples"  # 2 x 1,347 digits
    assert lines[1].split()[:4] == ["model", "schedule", "lr", "seed"]
    assert [line.split()[2] for line in lines[2:4]] == ["0.05", "0.1"]
    records = json.loads((tmp_path / "records.json").read_text())
    assert len(records) == 2 and len(list((tmp_path / "cache").glob("*.json"))) == 2
    assert cli.main(["sweep", str(grid), "--engine", "dask"]) == 2  # argparse refuses it
    assert cli.main(["sweep", str(grid), "--resources", "tpu=1"]) == 2


def test_reproduce_lists_the_experiments_and_refuses_a_missing_name(capsys):
    from lrlab import experiments

    assert cli.main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(f"{name}: " in out for name in experiments.names())
    assert cli.main(["reproduce"]) == 2
    assert "name one experiment to run, or pass --all" in capsys.readouterr().err
    assert cli.main(["reproduce", "no-such-experiment"]) == 2


def test_reproduce_smoke_runs_an_experiment_and_stores_nothing(tmp_path, capsys):
    argv = ["reproduce", "range-test", "--scale", "smoke", "--device", "cpu"]
    argv += ["--results", str(tmp_path), "--no-progress"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "valley" in out and "stored nowhere" in out
    assert not list(tmp_path.iterdir())
