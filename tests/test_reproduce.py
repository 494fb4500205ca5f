"""lrlab.reproduce, the command-line face of the experiments: what each experiment costs,
which results the book stores, and ``lrlab reproduce`` itself."""

from __future__ import annotations

import pytest

from lrlab import cli, experiments, reproduce


def test_describe_lists_every_experiment_with_every_scale():
    text = reproduce.describe()
    for name in experiments.names():
        assert f"\n{name}: " in f"\n{text}"
    assert text.count("  cpu (stored): ") == len(reproduce.stored_names("cpu"))
    assert text.count("  paper: ") == len(experiments.names())


def test_stored_names_are_the_chapters_experiments_not_the_papers_protocols():
    assert "sgdr" in reproduce.stored_names() and "sgdr-grid" not in reproduce.stored_names()
    assert reproduce.stored_names("paper") == []


def test_cost_note_counts_the_paper_runs_images():
    """The SGDR protocol at paper scale: 2 data sets x 5 seeds x (200 + 150) epochs x 50,000
    images."""
    note = reproduce.cost_note("sgdr-grid", images_per_s=35_000)
    assert note.startswith("`lrlab reproduce sgdr-grid --scale paper`: 175,000,000 training")
    assert "1.4 GPU-hours" in note
    with pytest.raises(ValueError, match="images_per_s must be > 0"):
        reproduce.cost_note("sgdr-grid", images_per_s=0)


def test_the_command_runs_lists_and_refuses(capsys):
    assert cli.main(["reproduce", "catapult", "--scale", "smoke", "--no-progress"]) == 0
    assert "stored nowhere" in capsys.readouterr().out
    assert cli.main(["reproduce", "--list"]) == 0
    assert "catapult: The catapult phase" in capsys.readouterr().out
    assert cli.main(["reproduce", "--all", "--scale", "paper"]) == 2
    assert "stores no result at scale 'paper'" in capsys.readouterr().err
    assert cli.main(["reproduce", "catapult", "--engine", "ray"]) == 2
    assert "is no sweep" in capsys.readouterr().err
    assert cli.main(["reproduce"]) == 2
