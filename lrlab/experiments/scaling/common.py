"""What the experiments of the chapter "The rate, the batch and the width" share: the data
set, loaded once per process, and the seeded network of a configuration."""

from __future__ import annotations

import functools
from collections.abc import Mapping

__all__ = ["build_network", "load_data"]


@functools.lru_cache(maxsize=2)
def load_data(name: str, device: str, root: str):
    """The data set ``name`` on ``device``, loaded once per process (the tasks of
    :func:`lrlab._pool.pmap` call it again and again)."""
    from lrlab import data

    return data.load(name, root=root, device=device)


def build_network(config: Mapping, dataset, seed: int, width=None, parametrization: str = "sp"):
    """The configuration's model for ``dataset``, its weights drawn from ``seed``.

    An MLP (``config["model"] == "mlp"``) of ``depth`` hidden layers of ``width`` (the
    argument, else ``config["width"]``), μP relative to ``base_width`` if
    ``parametrization == "mup"``; any other model is built with ``model_options``.

    Examples
    --------
    >>> from lrlab import data
    >>> digits = data.load("digits", device="cpu")
    >>> net = build_network({"model": "mlp", "width": 16, "depth": 2}, digits, seed=0)
    >>> [m.out_features for m in net if hasattr(m, "out_features")]
    [16, 16, 10]
    """
    from lrlab import models

    shape, classes = dataset.input_shape, dataset.num_classes
    if config["model"] != "mlp":
        return models.build(config["model"], classes, shape, seed=seed, **config["model_options"])
    hidden = (width or config["width"],) * config["depth"]
    options = {}
    if parametrization == "mup":
        options = {"parametrization": "mup", "base_width": config["base_width"]}
    return models.build("mlp", classes, shape, seed=seed, hidden=hidden, **options)
