"""The command-line face of the book's experiments: ``lrlab reproduce``.

:mod:`lrlab.experiments` holds the experiments and stores their results; this module says
what each costs and runs them from the command line:

- ``lrlab reproduce --list`` prints :func:`describe`: each experiment's claim and what each
  of its scales processes;
- ``lrlab reproduce NAME --scale cpu|paper`` calls :func:`lrlab.experiments.store`;
- ``lrlab reproduce --all --scale cpu`` regenerates every stored result (:func:`stored_names`);
- :func:`cost_note` says in one sentence what a paper-scale run costs on a GPU.

>>> print(describe().splitlines()[0])
edge-of-stability: Full-batch gradient descent at the edge of stability (Cohen et al. 2021)
"""

from __future__ import annotations

from lrlab import _check
from lrlab.experiments import SCALES, get, names

__all__ = ["cost_note", "describe", "stored_names"]


def stored_names(scale: str = "cpu") -> list[str]:
    """The experiments whose result at ``scale`` the book stores, in the book's order.

    Examples
    --------
    >>> "sgdr" in stored_names("cpu"), "sgdr-grid" in stored_names("cpu")
    (True, False)
    """
    _check.choice("scale", scale, SCALES)
    return [name for name in names() if scale in get(name).stored]


def describe() -> str:
    """Every experiment: its title, its claim, and the training examples of each scale."""
    blocks = []
    for name in names():
        exp = get(name)
        lines = [f"{name}: {exp.title}", f"  claim: {exp.claim}", f"  chapter: {exp.chapter}"]
        for scale in SCALES:
            note = " (stored)" if scale in exp.stored else ""
            lines.append(f"  {scale}{note}: {exp.work_at(scale):,} training examples processed")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def cost_note(name: str, images_per_s: float | None = None) -> str:
    """How to run an experiment at the paper's scale and what it costs, in one sentence.

    Parameters
    ----------
    name : str
        One of :func:`lrlab.experiments.names`.
    images_per_s : float, optional
        Training throughput of the GPU (``lrlab bench train`` measures it); with it the
        sentence adds the GPU time, work / images_per_s, for the training alone.

    Examples
    --------
    >>> print(cost_note("clr-grid", images_per_s=50_000))  # doctest: +NORMALIZE_WHITESPACE
    `lrlab reproduce clr-grid --scale paper`: 28,500,000 training images;
    at 50,000 images/s, 0.2 GPU-hours for the training alone.
    """
    work = get(name).work_at("paper")
    text = f"`lrlab reproduce {name} --scale paper`: {work:,} training images"
    if images_per_s is not None:
        images_per_s = _check.number("images_per_s", images_per_s, low=0, low_open=True)
        hours = work / images_per_s / 3600
        text += f"; at {images_per_s:,.0f} images/s, {hours:.1f} GPU-hours for the training alone"
    return text + "."
