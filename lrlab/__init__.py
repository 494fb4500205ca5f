"""Learning-Rate Lab: why the step size of gradient descent matters, by running code.

The package is organised one module per idea (see the book's API appendix)::

    from lrlab import schedules, dynamics, curvature
    s = schedules.cosine(0.1, total_steps=1000)

Submodules are imported on first use, so ``import lrlab`` does no work and does not
import PyTorch until a module that needs it is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_SUBMODULES = (
    "branching",
    "classroom",
    "cli",
    "curvature",
    "data",
    "dynamics",
    "ensembles",
    "experiments",
    "explr",
    "history",
    "landscape",
    "lrfind",
    "models",
    "options",
    "plots",
    "reproduce",
    "results",
    "scale",
    "scaling",
    "schedule_free",
    "schedules",
    "speed",
    "stability",
    "stats",
    "step",
    "sweep",
    "train",
    "widgets",
)

__all__ = ["__version__", "device", "device_name", *_SUBMODULES]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors only
    import torch


def device() -> torch.device:
    """Return the device experiments should run on: CUDA when available, else the CPU.

    Returns
    -------
    torch.device
        ``cuda`` if ``torch.cuda.is_available()``, otherwise ``cpu``.

    Examples
    --------
    >>> import lrlab
    >>> lrlab.device().type in {"cuda", "cpu"}
    True
    """
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device | str | None = None) -> str:
    """A readable name of a torch device: the GPU model on CUDA, ``"cpu"`` otherwise.

    Parameters
    ----------
    device : torch.device or str, optional
        :func:`device` by default.

    Examples
    --------
    >>> import lrlab, torch
    >>> lrlab.device_name(torch.device("cpu"))
    'cpu'
    """
    import torch

    device = torch.device(device) if device is not None else globals()["device"]()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = import_module(f"lrlab.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'lrlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
