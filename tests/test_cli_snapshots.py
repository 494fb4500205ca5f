"""``lrlab train --snapshots``: snapshots at cycle ends or given steps, and the accuracy of
the ensembles of the first k snapshots in the output and the results file."""

from __future__ import annotations

import json

import pytest

from lrlab import cli, data, ensembles, schedules

TRAIN = [
    "train",
    "--dataset",
    "digits",
    "--model",
    "mlp",
    "--device",
    "cpu",
    "--no-progress",
    "--lr",
    "0.05",
]


def test_train_keeps_snapshots_at_cycle_ends_and_reports_the_ensembles(tmp_path, capsys):
    """Catches snapshots at other steps than the schedule's cycle ends, or an ensemble
    report missing from the output or the results file."""
    per_epoch = data.load("digits", device="cpu").num_batches("train", 128)
    out = tmp_path / "run.json"
    argv = [*TRAIN, "--schedule", "sgdr", "--lr", "0.05", "--first-cycle", str(per_epoch)]
    assert cli.main([*argv, "--epochs", "2", "--snapshots", "cycle-ends", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    expected = ensembles.cycle_ends(schedules.sgdr(0.05, per_epoch), 2 * per_epoch)
    assert "snapshot ensemble" in printed and "ensemble acc" in printed
    record = json.loads(out.read_text())
    assert record["config"]["snapshots"] == expected
    rows = record["result"]["extras"]["snapshot_ensemble"]
    assert [step for step, _ in rows] == expected
    assert [row["k"] for _, row in rows] == [1, 2]
    assert rows[0][1]["accuracy"] == rows[0][1]["member_accuracy"]
    assert all(0 <= row["accuracy"] <= 1 and row["loss"] > 0 for _, row in rows)


def test_train_takes_an_explicit_list_of_snapshot_steps(capsys):
    assert cli.main([*TRAIN, "--epochs", "1", "--snapshots", "3,7"]) == 0
    table = capsys.readouterr().out.split("snapshot ensemble")[1].splitlines()
    assert [line.split()[:2] for line in table[2:4]] == [["1", "3"], ["2", "7"]]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--schedule", "cosine", "--snapshots", "cycle-ends"], "sgdr or cyclic"),
        (["--snapshots", "5,x"], "cycle-ends"),
        (["--snapshots", "7,3"], "strictly increasing"),
        (["--snapshots", "100000"], "total_steps"),
        (["--snapshots", "3", "--checkpoint", "c.ckpt", "--resume"], "--resume"),
    ],
)
def test_train_rejects_bad_snapshot_options(options, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main([*TRAIN, "--epochs", "1", *options]) == 2
    assert message in capsys.readouterr().err
