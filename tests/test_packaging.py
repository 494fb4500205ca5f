"""The ways to install agree: pyproject.toml (ranges), the lock (pins), environment.yml (conda).

- every package that pyproject.toml names, in its dependencies or in any extra, is pinned in
  ``requirements/lock.txt`` at a version inside pyproject's range, and the lock was made
  from the current pyproject (its header records the extras and a digest of the
  requirements: change a dependency and these tests say ``make lock``);
- environment.yml names the same packages with the same version ranges;
- the Makefile installs only through the lock;
- requires-python is what is tested (the lock's Python, conda's python).
"""

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"

_spec = importlib.util.spec_from_file_location("lock_tool", ROOT / "requirements" / "lock.py")
lock_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_tool)


def _name(requirement: str) -> str:
    """The normalised package name of a requirement string ('jupyter-book<2' -> 'jupyter-book')."""
    name = re.split(r"[<>=!~;\[ @]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements() -> dict[str, Requirement]:
    return {_name(r): Requirement(r) for r in lock_tool.requirements(project())}


def pyproject_packages() -> set[str]:
    return set(pyproject_requirements())


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def environment_requirements() -> dict[str, str]:
    """``{name: specifier}`` of environment.yml (conda and pip entries, not python or pip)."""
    found = {}
    for entry in environment()["dependencies"]:
        entries = entry.get("pip", []) if isinstance(entry, dict) else [entry]
        for text in entries:
            if not text.startswith("-e"):
                found[_name(text)] = str(Requirement(text).specifier)
    return {k: v for k, v in found.items() if k not in {"python", "pip"}}


def environment_packages() -> set[str]:
    return set(environment_requirements())


def lock() -> tuple[dict[str, str], dict[str, str]]:
    """The lock's header fields and its pins ``{name: version}``."""
    header, pins = {}, {}
    for line in LOCK.read_text().splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].partition(":")
            if sep and " " not in key.strip():
                header[key.strip()] = value.strip()
        elif line.strip():
            name, version = line.split("==")
            pins[_name(name)] = version.strip()
    return header, pins


def test_environment_yml_names_the_same_packages_as_pyproject():
    assert environment_packages() == pyproject_packages()


def test_environment_yml_has_the_same_version_ranges_as_pyproject():
    ours = {name: str(req.specifier) for name, req in pyproject_requirements().items()}
    assert environment_requirements() == ours


def test_jupyter_book_is_pinned_below_2_in_both():
    book = project()["optional-dependencies"]["book"]
    assert "jupyter-book<2" in book
    assert "jupyter-book<2" in (ROOT / "environment.yml").read_text()


def test_sphinx_exercise_is_held_to_the_tested_minor_version():
    """Gated solutions are tested with sphinx-exercise 1.2.x; a new minor must be tried first."""
    spec = pyproject_requirements()["sphinx-exercise"].specifier
    _, pins = lock()
    assert spec.contains(pins["sphinx-exercise"])
    assert not spec.contains("1.3.0") and not spec.contains("1.1.0")


def test_every_pyproject_package_is_pinned_in_the_lock_within_its_range():
    _, pins = lock()
    missing = sorted(pyproject_packages() - set(pins))
    assert not missing, f"not in {LOCK.name}: {missing}; run `make lock`"
    outside = {
        name: (pins[name], str(req.specifier))
        for name, req in pyproject_requirements().items()
        if not req.specifier.contains(pins[name], prereleases=True)
    }
    assert not outside, f"pinned outside pyproject's range: {outside}; run `make lock`"


def test_the_lock_was_made_from_the_current_pyproject():
    header, _ = lock()
    extras = ", ".join(sorted(project()["optional-dependencies"]))
    assert header["extras"] == extras, "an extra was added or removed: run `make lock`"
    digest = lock_tool.digest(lock_tool.requirements(project()))
    assert header["requirements-digest"] == digest, "pyproject changed: run `make lock`"


def _pip_constraint_files() -> list[Path]:
    """The constraint files pip is configured with on this machine (``pip config``)."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    found = re.findall(r"^[\w:.]*constraint='([^']+)'", out, re.M)
    return [Path(p) for text in found for p in text.split() if Path(p).is_file()]


def test_the_lock_is_installable_here():
    """pip on a machine may be capped (here torch<=2.14.1, torchvision<=0.29.1: the releases
    on local disk); the lock must pin versions inside every configured cap."""
    _, pins = lock()
    assert "torch" in pins and "torchvision" in pins and "pip" in pins and "lrlab" not in pins
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", v) for v in pins.values())
    for path in _pip_constraint_files():
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                cap = Requirement(line)
                if _name(cap.name) in pins:
                    assert cap.specifier.contains(pins[_name(cap.name)]), (str(cap), path)


def test_requires_python_is_the_tested_python():
    """The tests use tomllib (3.11+); the lock was made on the Python CI runs."""
    header, _ = lock()
    requires = SpecifierSet(project()["requires-python"])
    locked = header["python"].split()[0]
    assert requires.contains(locked) and not requires.contains("3.10")
    assert requires.contains(".".join(map(str, sys.version_info[:2])))
    conda = [d for d in environment()["dependencies"] if str(d).startswith("python")]
    assert conda == [f"python{requires}"]


def test_the_makefile_installs_only_through_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line]
    assert installs and all("-c $(LOCK)" in line for line in installs), installs
    assert "LOCK   := requirements/lock.txt" in makefile
    assert re.search(r"^lock:\n\t\$\(PYTHON\) requirements/lock.py", makefile, re.M)


def test_the_lock_tool_reads_every_extra_from_pyproject():
    meta = {
        "name": "x",
        "dependencies": ["numpy"],
        "optional-dependencies": {"test": ["pytest"], "sweep": ["ray[tune]>=2"]},
    }
    assert lock_tool.requirements(meta) == ["numpy", "ray[tune]>=2", "pytest"]
    assert lock_tool.digest(["a", "b"]) == lock_tool.digest(["b", "a"]) != lock_tool.digest(["a"])


@pytest.mark.parametrize(
    ("requirement", "name"),
    [
        ("jupyter-book<2", "jupyter-book"),
        ("scikit_learn>=1.0", "scikit-learn"),
        ("ray[tune]", "ray"),
    ],
)
def test_requirement_names_are_parsed(requirement, name):
    assert _name(requirement) == name
