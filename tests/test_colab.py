"""What Colab does, on this machine: install lrlab's wheel next to a PyTorch that is already
there, and run a chapter from a folder outside the repository.

Colab ships its own torch: the chapters' install cell must add lrlab and nothing that is
already satisfied (no torch download), and everything a chapter reads (stored results) must
come from the installed package, not from a clone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from lrlab import results

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
INSTALL = re.compile(r'%pip install -q "lrlab @ git\+(https://github\.com/[\w.-]+/[\w.-]+)"')


def _install_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_every_chapter_installs_lrlab_from_the_repository_of_the_config():
    """The URL in _config.yml (launch buttons, repository button) and in every chapter's
    install cell, README and the Colab page must be one repository."""
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for path in CHAPTERS:
        cell = _install_cell(path)
        found = INSTALL.search(cell)
        assert found and found.group(1) == url, f"{path.name}: {cell!r}"
        # only when lrlab is missing, and never forcing upgrades (Colab's torch stays)
        assert 'if importlib.util.find_spec("lrlab") is None:' in cell
        assert not re.search(r"-U\b|--upgrade|--force-reinstall", cell), path.name
    for page in (ROOT / "README.md", ROOT / "book" / "colab.md"):
        text = page.read_text()
        repos = set(
            re.findall(r"github(?:\.com)?/([\w-]+/[\w.-]+?)(?=/blob|\.git|[\s\"`)]|$)", text)
        )
        assert repos == {url.removeprefix("https://github.com/")}, (page.name, repos)


def _stage_sources(target: Path) -> Path:
    """A copy of what the wheel is built from, so the build leaves the work tree alone."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(
        ROOT / "lrlab", target / "lrlab", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    return target


def _borrow_site_packages(venv_python: Path) -> None:
    """Make this environment's packages (torch, numpy, jupyter ...) installed in the new one,
    as Colab has them, by linking them in; lrlab itself (an editable install here) is not."""
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = Path(
        subprocess.run(
            [venv_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    for entry in ours.iterdir():
        name = entry.name.lower()
        skip = name.startswith(("lrlab", "__editable__", "_distutils_hack")) or name.endswith(
            ".pth"
        )
        if not skip and not (theirs / entry.name).exists():
            (theirs / entry.name).symlink_to(entry)


RUN_CHAPTER = """
import json, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient

notebook = nbformat.read(sys.argv[1], as_version=4)
notebook.cells.append(nbformat.v4.new_code_cell(
    "import json, sys, lrlab\\n"
    "from lrlab import results\\n"
    "record = results.load('colab_probe')\\n"
    "print(json.dumps({'file': lrlab.__file__, 'path': sys.path,\\n"
    "                  'available': results.available(), 'result': record['result']}))"
))
NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
print(notebook.cells[-1].outputs[-1]["text"])
"""


@pytest.mark.slow
def test_the_wheel_runs_a_chapter_outside_the_repository(tmp_path):
    """Build the wheel (with a stored result in it), install it into a fresh virtual
    environment that already has torch, check that the install cell's requirement would
    install lrlab alone, and execute book/quadratic.ipynb from a folder outside the
    repository, with the repository on no path."""
    source = _stage_sources(tmp_path / "src")
    results.save(
        "colab_probe",
        {"answer": 42},
        {"probe": True},
        device="cpu",
        root=source / "lrlab" / "results_data",
    )
    pip_env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    pip_env["PIP_CONFIG_FILE"] = os.devnull  # no index, no find-links: nothing to download
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", source],
        check=True,
        env=pip_env,
    )
    (wheel,) = (tmp_path / "dist").glob("lrlab-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    _borrow_site_packages(python)

    # The install cell's requirement, resolved offline: only lrlab is to be installed.
    report = subprocess.run(
        [
            *pip,
            "--python",
            python,
            "install",
            "--dry-run",
            "--no-index",
            "-q",
            "--report",
            "-",
            f"lrlab @ {wheel.as_uri()}",
        ],
        capture_output=True,
        text=True,
        env=pip_env,
    )
    assert report.returncode == 0, report.stderr
    planned = [item["metadata"]["name"] for item in json.loads(report.stdout)["install"]]
    assert planned == ["lrlab"]
    subprocess.run(
        [*pip, "--python", python, "install", "--no-deps", "--no-index", "-q", wheel],
        check=True,
        env=pip_env,
    )

    work = tmp_path / "colab"
    work.mkdir()
    shutil.copy2(ROOT / "book" / "quadratic.ipynb", work / "quadratic.ipynb")
    env = {k: v for k, v in pip_env.items() if k != "PIP_CONFIG_FILE"}
    env["MPLBACKEND"] = "Agg"
    run = subprocess.run(
        [python, "-c", RUN_CHAPTER, "quadratic.ipynb"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(seen["file"]).resolve().is_relative_to(venv.resolve())
    assert not any(str(ROOT) in entry for entry in seen["path"] if entry)
    assert "colab_probe" in seen["available"] and seen["result"] == {"answer": 42}
