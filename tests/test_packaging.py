"""The two ways to install (pip with pyproject.toml, conda with environment.yml) agree."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """The normalised package name of a requirement string ('jupyter-book<2' -> 'jupyter-book')."""
    name = re.split(r"[<>=!~;\[ @]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements += extra
    return {_name(r) for r in requirements}


def environment_packages() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            names |= {_name(r) for r in entry.get("pip", []) if not r.startswith("-e")}
        else:
            names.add(_name(entry))
    return names - {"python", "pip"}


def test_environment_yml_names_the_same_packages_as_pyproject():
    assert environment_packages() == pyproject_packages()


def test_jupyter_book_is_pinned_below_2_in_both():
    book = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "jupyter-book<2" in book["book"]
    assert "jupyter-book<2" in (ROOT / "environment.yml").read_text()


def test_requirement_names_are_parsed():
    assert _name("jupyter-book<2") == "jupyter-book"
    assert _name("scikit_learn>=1.0") == "scikit-learn"
