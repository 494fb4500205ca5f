"""The package's promises: `import lrlab` does no work, and every advertised module exists."""

import subprocess
import sys

import pytest

import lrlab


def test_import_lrlab_does_not_import_torch():
    code = "import sys, lrlab; print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("name", lrlab._SUBMODULES)
def test_every_listed_submodule_loads_on_first_use(name):
    assert getattr(lrlab, name).__name__ == f"lrlab.{name}"


def test_unknown_attributes_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'no_such_module'"):
        lrlab.no_such_module  # noqa: B018
