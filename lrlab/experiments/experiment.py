"""What one of the book's experiments is: a claim, a run function, and one configuration
whose named scales are overrides of it.

The model is big_vision's configs: the demo, the test and the paper's run are visibly the
same experiment, because each small variant is written as a few changed keys of the full
configuration. An :class:`Experiment` holds

- ``base``: the full configuration of the run the book stores (the ``cpu`` scale);
- ``scales``: for each of :data:`SCALES`, the keys that differ from ``base``, merged into it
  by :func:`merge` (a nested mapping is merged key by key, any other value replaced);
- ``run(config, *, device, data_root, progress, jobs)``: trains and measures, returns a
  JSON-plain dict; it calls the tools of :mod:`lrlab` (``fit``, ``curvature``, trackers)
  and never re-implements them;
- ``work(config)``: the training examples the run processes, the size of its bill.

>>> exp = Experiment(
...     name="demo", chapter="schedules", title="A demo", claim="Nothing.", cite="",
...     run=lambda config, **options: {"lr": config["lr"]},
...     base={"lr": 0.1, "fit": {"epochs": 10, "batch_size": 128}},
...     scales={"classroom": {"fit": {"epochs": 1}}, "smoke": {"fit": {"epochs": 1}},
...             "paper": {"lr": 0.4}},
...     work=lambda config: config["fit"]["epochs"] * 1000,
... )
>>> exp.config("classroom")
{'lr': 0.1, 'fit': {'epochs': 1, 'batch_size': 128}}
>>> exp.work_at("cpu")
10000
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lrlab import _check

__all__ = ["SCALES", "TRAIN_EXAMPLES", "Experiment", "Replace", "check_scale", "merge"]

#: The named scales of every experiment, smallest first but for the tests' ``smoke``:
#: ``classroom`` (a key figure's small version, under a minute on a two-core laptop),
#: ``cpu`` (the run stored in ``lrlab/results_data``), ``paper`` (the paper's data and
#: networks, for a GPU), ``smoke`` (seconds: the code path end to end, for tests).
SCALES = ("classroom", "cpu", "paper", "smoke")

#: Training examples per pass of each built-in data set, to size work without loading it.
TRAIN_EXAMPLES = {"digits": 1347, "mnist1d": 4000, "cifar10": 50_000, "cifar100": 50_000}


def check_scale(scale: str) -> str:
    """``scale`` if it is one of :data:`SCALES`, else a ValueError naming them."""
    return _check.choice("scale", scale, SCALES)


class Replace(dict):
    """An override that replaces a mapping of the base configuration whole, where a plain
    mapping would be merged into it key by key (see :func:`merge`)."""


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``base`` with ``override`` merged in: a mapping merges key by key
    (recursively), anything else (numbers, lists, a :class:`Replace`) replaces the base's
    value. The result holds plain dicts only.

    Examples
    --------
    >>> merge({"a": 1, "fit": {"epochs": 40, "lr": 0.1}}, {"fit": {"epochs": 2}, "b": [1]})
    {'a': 1, 'fit': {'epochs': 2, 'lr': 0.1}, 'b': [1]}
    >>> merge({"runs": {"x": 1, "y": 2}}, {"runs": Replace({"z": 3})})
    {'runs': {'z': 3}}
    """
    out = _plain(base)
    for key, value in override.items():
        replace = isinstance(value, Replace) or not isinstance(out.get(key), Mapping)
        if isinstance(value, Mapping) and not replace:
            out[key] = merge(out[key], value)
        else:
            out[key] = _plain(value)
    return out


def _plain(value):
    """A deep copy with every mapping a plain dict (a :class:`Replace` too)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


@dataclass(frozen=True)
class Experiment:
    """One experiment of the book: its claim, its run, its configuration at every scale.

    Attributes
    ----------
    name : str
        The experiment's name (``lrlab reproduce NAME``), e.g. ``"sgdr"``.
    chapter : str
        The book page that shows it (``book/<chapter>.ipynb``).
    title : str
        One line.
    claim : str
        What the paper claims (its numbers quoted for what they are), in a few sentences.
    cite : str
        Key(s) of the paper in ``book/references.bib``.
    run : callable
        ``run(config, *, device, data_root, progress, jobs) -> dict``, JSON-plain.
    base : mapping
        The full configuration of the stored (``cpu``) run.
    scales : mapping
        ``{scale: overrides}`` for scales other than ``cpu`` (whose overrides, if given,
        are applied too); every scale of :data:`SCALES` but ``cpu`` must be present. An
        override is a mapping, or a function of the configuration it applies to that
        returns one (``smoke`` is applied on top of any scale by ``config(scale,
        smoke=True)``).
    work : callable
        ``work(config) -> int``: training examples processed by ``run(config)``.
    options : tuple of str
        Further keywords ``run`` accepts (a sweep's ``engine``, ``cache`` ...).
    stored : tuple of str
        The scales whose result the book stores in ``lrlab/results_data`` (``("cpu",)`` for
        a chapter's experiment; none for a protocol a chapter only describes).
    """

    name: str
    chapter: str
    title: str
    claim: str
    cite: str
    run: Callable[..., dict] = field(repr=False)
    base: Mapping[str, Any] = field(repr=False)
    scales: Mapping[str, Mapping[str, Any]] = field(repr=False)
    work: Callable[[Mapping[str, Any]], int] = field(repr=False)
    options: tuple[str, ...] = ()
    stored: tuple[str, ...] = ("cpu",)

    def __post_init__(self):
        for scale in self.stored:
            _check.choice("stored", scale, ("cpu", "paper"))
        missing = sorted(set(SCALES) - {"cpu"} - set(self.scales))
        unknown = sorted(set(self.scales) - set(SCALES))
        if missing or unknown:
            raise ValueError(
                f"scales of experiment {self.name!r} must give overrides for "
                f"{[s for s in SCALES if s != 'cpu']}; missing {missing}, unknown {unknown}"
            )

    def config(self, scale: str = "cpu", *, smoke: bool = False) -> dict[str, Any]:
        """The configuration at ``scale``: ``base`` with the scale's overrides merged in.

        With ``smoke``, the ``smoke`` overrides are merged in on top: the scale's code path
        (its data, its networks) run for seconds, as the tests do. An override may also be
        a function of the configuration it applies to, returning the mapping to merge.
        """
        check_scale(scale)
        config = self._apply(self.base, scale)
        if smoke and scale != "smoke":
            config = self._apply(config, "smoke")
        return config

    def _apply(self, config: Mapping[str, Any], scale: str) -> dict[str, Any]:
        override = self.scales.get(scale, {})
        return merge(config, override(config) if callable(override) else override)

    def work_at(self, scale: str = "cpu") -> int:
        """Training examples processed at ``scale`` (see :attr:`work`)."""
        return int(self.work(self.config(scale)))
