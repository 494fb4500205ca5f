"""The ``lrlab`` command under faults: every failure is one line ``lrlab CMD: error: <what>:
<why>`` and a non-zero exit, never a traceback; outputs are checked before any work; Ctrl-C
says whether rerunning resumes; ``lrlab student`` writes all copies or none."""

from __future__ import annotations

import json
import socket

import pytest
import torch

from lrlab import cli, data, experiments, results


def _error(capsys, command: str) -> str:
    """The error line of a failed command (and that there is no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith(f"lrlab {command}: error: "), err
    return err


def _refuse_work(monkeypatch, target: str) -> None:
    """Make ``target`` (a dotted name: the first piece of real work) fail the test if it
    is reached."""

    def reached(*args, **kwargs):
        raise AssertionError(f"{target} ran before the outputs were checked")

    monkeypatch.setattr(target, reached)


def _closed_port() -> int:
    """A local port nothing listens on (bound, never listening, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- 1. divergence is reported, not raised ---------------------------------------------------


@pytest.mark.parametrize("lr", ["1e30", "1e39"])
def test_train_says_that_a_full_batch_run_at_a_huge_rate_diverged(lr, capsys):
    argv = ["train", "--lr", lr, "--batch-size", "2048", "--momentum", "0", "--epochs", "1"]
    assert cli.main([*argv, "--device", "cpu", "--no-progress"]) == 0
    assert "diverged at step 0" in capsys.readouterr().out


# --- 3. outputs are checked before the work --------------------------------------------------


@pytest.fixture
def a_file(tmp_path):
    """A regular file: a folder under it cannot exist (NotADirectoryError, even for root)."""
    path = tmp_path / "file"
    path.write_text("x")
    return path


@pytest.mark.parametrize("option", ["--out", "--checkpoint"])
def test_train_checks_its_outputs_before_loading_data(option, a_file, monkeypatch, capsys):
    _refuse_work(monkeypatch, "lrlab.cli.train.load_data")
    target = a_file / "sub" / "run.json"
    assert cli.main(["train", "--lr", "0.1", option, str(target), "--no-progress"]) == 2
    assert f"{option}: cannot write into {target.parent}: Not a directory" in _error(
        capsys, "train"
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--out", "{file}/records.json", "--out: cannot write into"),
        ("--plot", "{tmp}/acc.pnj", "--plot's format must be one of"),
        ("--plot", "{file}/acc.png", "--plot: cannot write into"),
        ("--cache", "{file}/cache", "--cache: cannot write into"),
    ],
)
def test_sweep_checks_its_outputs_before_the_first_run(
    option, value, message, a_file, tmp_path, monkeypatch, capsys
):
    _refuse_work(monkeypatch, "lrlab.sweep.engines.run_one")
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"lr": [0.1, 0.2]}))
    argv = ["sweep", str(grid), "--cache", str(tmp_path / "cache"), "--no-progress"]
    argv += [option, value.format(file=a_file, tmp=tmp_path)]
    assert cli.main(argv) == 2
    assert message in _error(capsys, "sweep")


def test_lr_find_checks_its_plot_format_before_loading_data(tmp_path, monkeypatch, capsys):
    _refuse_work(monkeypatch, "lrlab.cli.lr_find.load_data")
    assert cli.main(["lr-find", "--plot", str(tmp_path / "lr.jpgg"), "--no-progress"]) == 2
    assert "--plot's format must be one of" in _error(capsys, "lr-find")


@pytest.mark.parametrize("option", ["--results", "--cache"])
def test_reproduce_checks_its_folders_before_the_run(option, a_file, monkeypatch, capsys):
    """A paper-scale run of hours ended in NotADirectoryError and lost its result."""
    _refuse_work(monkeypatch, "lrlab.experiments.run")
    argv = ["reproduce", "sgdr", "--scale", "cpu", option, str(a_file / "sub")]
    assert cli.main(argv) == 2
    assert f"{option}: cannot write into {a_file / 'sub'}" in _error(capsys, "reproduce")


def test_a_read_only_package_folder_sends_results_to_a_user_folder(
    a_file, tmp_path, monkeypatch, capsys
):
    """A system or container install: lrlab/results_data cannot be written."""
    monkeypatch.setattr(results, "PACKAGE_RESULTS", a_file / "results_data")
    monkeypatch.delenv(results.ROOT_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    user = tmp_path / "xdg" / "lrlab" / "results"
    assert results.writable_root() == user

    def run(name, scale, **options):  # the experiment, done in no time
        config = experiments.get(name).config(scale)
        return {
            "result": {"acc": 0.5},
            "config": config,
            "device": torch.device("cpu"),
            "wall_time_s": 1.0,
        }

    monkeypatch.setattr(experiments, "run", run)
    record = experiments.store("sgdr", "cpu", progress=False)
    assert record["result"] == {"acc": 0.5} and (user / "sgdr.json").is_file()
    out = capsys.readouterr().out
    assert f"wrote {user / 'sgdr.json'}" in out and f"LRLAB_RESULTS={user}" in out


# --- 4. errors, not tracebacks ---------------------------------------------------------------


def test_a_bad_device_is_refused_before_anything_else(capsys):
    assert cli.main(["train", "--device", "gpu0"]) == 2
    err = capsys.readouterr().err
    assert "argument --device: 'gpu0' is not a torch device" in err and "Traceback" not in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("command", [["train"], ["sweep", "grid.json"], ["reproduce", "sgdr"]])
def test_cuda_on_a_machine_without_one_is_refused(command, capsys):
    assert cli.main([*command, "--device", "cuda"]) == 2
    assert "argument --device: cuda: PyTorch sees no CUDA GPU" in capsys.readouterr().err


def test_an_offline_download_is_one_line(tmp_path, monkeypatch, capsys):
    source = data.SOURCES["cifar10"]
    url = f"http://127.0.0.1:{_closed_port()}/{source.filename}"
    monkeypatch.setitem(data.SOURCES, "cifar10", type(source)(**{**vars(source), "url": url}))
    argv = ["train", "--dataset", "cifar10", "--data-root", str(tmp_path), "--no-progress"]
    assert cli.main(argv) == 1
    assert f"cannot download {url}" in _error(capsys, "train")


def test_a_corrupt_archive_is_one_line(tmp_path, monkeypatch, capsys):
    from cifar_fixture import corrupt_copy, write_archive

    archive = write_archive(tmp_path / "mirror")
    monkeypatch.setitem(data.SOURCES, "cifar10", archive.source)
    corrupt_copy(archive, tmp_path / "root")
    argv = ["train", "--dataset", "cifar10", "--data-root", str(tmp_path / "root")]
    assert cli.main([*argv, "--no-download", "--no-progress"]) == 1
    assert "checksum mismatch for" in _error(capsys, "train")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr: [0.1, 0.3\n", "the grid is not plain YAML data"),
        ("lr: !!python/object/apply:os.system ['echo hi']\n", "could not determine a constructor"),
        ("lr: [0.1\n", "while parsing a flow sequence"),
    ],
    ids=["malformed", "python-tag", "unclosed"],
)
def test_a_bad_yaml_grid_is_one_line_naming_the_file(text, message, tmp_path, capsys):
    grid = tmp_path / "grid.yaml"
    grid.write_text(text)
    assert cli.main(["sweep", str(grid), "--cache", str(tmp_path / "c")]) == 2
    err = _error(capsys, "sweep")
    assert f"{grid}: the grid is not plain YAML data" in err and message in err


@pytest.mark.parametrize("kind", ["missing", "folder", "json"])
def test_an_unreadable_grid_file_is_one_line(kind, tmp_path, capsys):
    grid = tmp_path / "grid.json"
    if kind == "folder":
        grid.mkdir()
    elif kind == "json":
        grid.write_text('{"lr": [0.1,')
    code = cli.main(["sweep", str(grid), "--cache", str(tmp_path / "c")])
    err = _error(capsys, "sweep")
    assert code != 0 and str(grid) in err


def test_a_corrupt_checkpoint_is_one_line_saying_what_to_do(tmp_path, capsys):
    ckpt = tmp_path / "run.ckpt"
    ckpt.write_bytes(b"PK\x03\x04 not a checkpoint")
    argv = ["train", "--lr", "0.1", "--checkpoint", str(ckpt), "--resume", "--no-progress"]
    assert cli.main(argv) == 2
    err = _error(capsys, "train")
    assert f"checkpoint {ckpt} cannot be read" in err and "delete it to start afresh" in err


def test_ctrl_c_exits_130_and_says_a_sweep_resumes(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lrlab.sweep.engines.run_one", interrupted)
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({"lr": [0.1, 0.2]}))
    assert cli.main(["sweep", str(grid), "--cache", str(tmp_path / "c"), "--no-progress"]) == 130
    assert capsys.readouterr().err == "lrlab sweep: interrupted; rerun to resume\n"


def test_ctrl_c_in_train_says_how_to_resume_from_the_checkpoint(tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("lrlab.train.fit", interrupted)
    ckpt = tmp_path / "run.ckpt"
    assert cli.main(["train", "--lr", "0.1", "--checkpoint", str(ckpt), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert (
        err.startswith("lrlab train: interrupted; rerun with --resume to resume")
        and str(ckpt) in err
    )


# --- 8. lrlab student ------------------------------------------------------------------------


def _notebook(text: str) -> str:
    return json.dumps({"cells": [{"cell_type": "markdown", "source": text}], "metadata": {}})


def test_student_refuses_two_chapters_with_one_file_name(tmp_path, capsys):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "chapter.ipynb").write_text(_notebook(folder))
    out = tmp_path / "student"
    argv = ["student", str(tmp_path / "a/chapter.ipynb"), str(tmp_path / "b/chapter.ipynb")]
    assert cli.main([*argv, "--out", str(out)]) == 2
    assert "would both be written to" in _error(capsys, "student")
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a notebook (not JSON text"),
        (json.dumps({"cells": [["a list, not a cell"]]}), "cell 0 is not a notebook cell"),
        (json.dumps([1, 2]), "notebook must be a notebook's JSON"),
    ],
    ids=["not-json", "bad-cell", "not-a-notebook"],
)
def test_student_writes_nothing_when_one_notebook_is_malformed(content, message, tmp_path, capsys):
    good, bad = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    good.write_text(_notebook("fine"))
    bad.write_text(content)
    out = tmp_path / "student"
    assert cli.main(["student", str(good), str(bad), "--out", str(out)]) == 2
    err = _error(capsys, "student")
    assert str(bad) in err and message in err
    assert not out.exists() or not list(out.iterdir())  # no half-written folder
