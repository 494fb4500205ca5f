"""What an experiment of :mod:`lrlab.reproduce` is: its claim, where its chapter keeps it,
and its configurations at CPU scale and at the paper's scale. The experiments themselves are
in :mod:`lrlab.reproduce.registry`."""

from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCALES",
    "TRAIN_EXAMPLES",
    "Chapter",
    "Experiment",
    "check_scale",
    "resolve",
]

SCALES = ("cpu", "paper")

#: Training examples per pass, to size an experiment's work without loading the data.
TRAIN_EXAMPLES = {"digits": 1347, "mnist1d": 4000, "cifar10": 50_000, "cifar100": 50_000}


def resolve(reference: str) -> Any:
    """The object a ``"module:NAME"`` or ``"module:NAME[key]"`` reference names.

    Examples
    --------
    >>> resolve("lrlab.restarts:CONFIGS[restarts_clr_mnist1d]")["epochs"]
    40
    """
    found = re.fullmatch(r"([\w.]+):(\w+)(?:\[([\w.-]+)\])?", reference)
    if found is None:
        raise ValueError(
            f"reference must read 'module:NAME' or 'module:NAME[key]', got {reference!r}"
        )
    module, attribute, key = found.groups()
    value = getattr(importlib.import_module(module), attribute)
    return value if key is None else value[key]


@dataclass(frozen=True)
class Chapter:
    """Where a chapter keeps an experiment: the experiment function of its module and the
    stored result the chapter loads, so that ``lrlab reproduce NAME --scale cpu`` runs
    exactly that experiment and stores it where the chapter finds it.

    Attributes
    ----------
    runner : str
        ``"module:function"``, the chapter module's ``experiment(config) -> dict``.
    result : str
        The results-file stem the chapter loads (:func:`lrlab.results.load_or_run`).
    config : str
        Reference (:func:`resolve`) to the configuration of that stored result.
    small : str
        Reference to the small variant the chapter runs when no stored result matches.
    smoke : dict
        ``{scale: overrides}``: keys replaced (one level down for dict values) for a smoke
        run of the runner at that scale, seconds long.
    work : str, optional
        ``"module:function"``, the chapter module's ``function(config, sizes) -> int``:
        the training examples the runner processes on a configuration, given each data
        set's size; :meth:`Experiment.work` calls it at the paper's scale.
    """

    runner: str
    result: str
    config: str
    small: str
    smoke: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    work: str | None = None


@dataclass(frozen=True)
class Experiment:
    """One experiment of the book: what it claims, how to run it at each scale.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"seong-peak"``.
    title : str
        One line.
    cite : str
        Key of the paper in the book's ``references.bib``.
    claim : str
        The paper's claim (and its numbers, where we quote them) in a few sentences.
    kind : {"sweep", "range_test", "chapter"}
        How the paper scale runs (and the CPU scale, unless ``chapter`` is given):
        ``"chapter"`` runs the chapter's experiment function on ``configs["paper"]``.
    configs : dict
        ``{"cpu": config, "paper": config}``, JSON-plain; with ``chapter``, ``"cpu"`` is
        the chapter's own configuration and is not given here.
    chapter : Chapter, optional
        The chapter module that runs the CPU scale (and the paper scale when ``kind`` is
        ``"chapter"``).
    """

    name: str
    title: str
    cite: str
    claim: str
    kind: str
    configs: Mapping[str, Mapping[str, Any]] = field(repr=False)
    chapter: Chapter | None = None

    def delegated(self, scale: str) -> bool:
        """Whether the chapter module's experiment function runs ``scale``."""
        check_scale(scale)
        return self.chapter is not None and (scale == "cpu" or self.kind == "chapter")

    def config(self, scale: str) -> dict[str, Any]:
        """A copy of the configuration at ``scale`` (``"cpu"`` or ``"paper"``)."""
        check_scale(scale)
        if scale == "cpu" and self.chapter is not None:
            return copy.deepcopy(dict(resolve(self.chapter.config)))
        return copy.deepcopy(dict(self.configs[scale]))

    def runs(self, scale: str) -> int | None:
        """How many training runs (or range tests) the scale's configuration holds; None
        where the chapter's experiment function runs the scale (it decides)."""
        if self.delegated(scale):
            return None
        config = self.config(scale)
        if self.kind == "sweep":
            from lrlab import sweep

            return len(sweep.expand(config["grid"]))
        return len(config["seeds"])  # a range test per seed

    def work(self, scale: str) -> int | None:
        """Training examples processed (passes × set size, summed over runs): with the
        images/s ``lrlab bench train`` measures, the run's cost in seconds. Where the
        chapter's experiment function runs the scale, its module's count
        (:attr:`Chapter.work`) at the paper's scale, else None.

        Examples
        --------
        >>> from lrlab.reproduce.registry import REGISTRY
        >>> REGISTRY["clr"].work("paper") == 3 * (140 + 50) * 50_000
        True
        """
        config = self.config(scale)
        if self.delegated(scale):
            if scale == "paper" and self.chapter.work is not None:
                return int(resolve(self.chapter.work)(config, TRAIN_EXAMPLES))
            return None
        if self.kind == "sweep":
            from lrlab import sweep

            return sum(
                c["epochs"] * TRAIN_EXAMPLES[c["data"]] for c in sweep.expand(config["grid"])
            )
        test = config["test"]  # a range test
        return len(config["seeds"]) * test["num_iter"] * test["batch_size"]


def check_scale(scale: str) -> None:
    """Raise a ValueError unless ``scale`` is one of :data:`SCALES`."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
