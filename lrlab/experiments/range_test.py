"""The experiment of the chapter "The learning-rate range test": Smith's test over seeds, and
how far the rules' suggestions move between them.

``range-test``: one range test (:func:`lrlab.lrfind.run_config`) per seed, fresh weights and
batch order each, and every suggestion rule read off each. The stored run is the 1-D CNN on
MNIST-1D; the paper's scale is ResNet-18 on CIFAR-10, the network the chapter discusses.

>>> RANGE_TEST.config("paper")["test"]["model"]
'resnet18'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from lrlab._pool import pmap
from lrlab.experiments.experiment import Experiment, Replace

__all__ = ["EXPERIMENTS", "RANGE_TEST", "run_range_tests"]


def _one(test: dict, seed: int, device: str, data_root: str) -> dict:
    from lrlab import lrfind

    return lrfind.run_config({**test, "seed": seed}, device=device, root=data_root)


def run_range_tests(
    config: Mapping[str, Any],
    *,
    device="cpu",
    data_root: str | os.PathLike = "data/cache",
    progress: bool = False,
    jobs: int = 1,
) -> dict:
    """One range test of ``config["test"]`` per seed of ``config["seeds"]``.

    Parameters
    ----------
    config : mapping
        ``{"test": {...}, "seeds": [...]}``: ``test`` is a config of
        :func:`lrlab.lrfind.run_config` without its seed.
    device, data_root, progress, jobs
        See :func:`lrlab.experiments.store`.

    Returns
    -------
    dict
        ``{"runs": [RangeTestResult.to_dict() per seed], "suggestions": {rule: [lr per
        seed]}}``.

    Examples
    --------
    >>> out = run_range_tests(RANGE_TEST.config("smoke"))
    >>> len(out["runs"]), sorted(out["suggestions"])[:2]
    (1, ['minimum', 'slide'])
    """
    from lrlab import lrfind

    tasks = [(dict(config["test"]), seed, str(device), str(data_root)) for seed in config["seeds"]]
    runs = pmap(_one, tasks, jobs=jobs, progress=progress, desc="range tests")
    suggestions: dict[str, list[float]] = {}
    for run in runs:
        for rule, lr in lrfind.RangeTestResult.from_dict(run).suggestions().items():
            suggestions.setdefault(rule, []).append(lr)
    return {"runs": runs, "suggestions": suggestions}


def range_test_work(config: Mapping[str, Any]) -> int:
    """Training examples the range tests process at most (a test may stop early).

    Examples
    --------
    >>> range_test_work(RANGE_TEST.config("cpu")) == 5 * 100 * 128
    True
    """
    test = config["test"]
    return len(config["seeds"]) * test["num_iter"] * test.get("batch_size", 128)


RANGE_TEST = Experiment(
    name="range-test",
    chapter="range-test",
    title="The LR range test and how far its suggestions move between seeds (Smith 2017)",
    cite="smith2017cyclical",
    claim=(
        "Training for a short run while the rate grows shows where learning starts and where "
        "it stops (Smith 2017 grows it linearly and reads accuracy); rules read a good rate "
        "off that curve. Here the rate grows exponentially for 100 steps and the loss is read."
    ),
    run=run_range_tests,
    work=range_test_work,
    base={
        "test": {
            "dataset": "mnist1d",
            "model": "cnn1d",
            "start_lr": 1e-5,
            "end_lr": 10.0,
            "num_iter": 100,
            "batch_size": 128,
        },
        "seeds": [0, 1, 2, 3, 4],
    },
    scales={
        # The same ResNet-18 architecture (CIFAR version, 3x3 stem) at a quarter of its
        # width, on the 8x8 digits, for 50 steps of batch 32.
        "classroom": {
            "test": Replace(
                {
                    "dataset": "digits",
                    "model": "resnet18",
                    "model_options": {"width": 16},
                    "start_lr": 1e-4,
                    "end_lr": 10.0,
                    "num_iter": 50,
                    "smooth": 0.9,
                    "batch_size": 32,
                }
            ),
            "seeds": [0],
        },
        # ResNet-18 on CIFAR-10, 200 steps of batch 256 from 1e-6 to 10, no weight decay.
        "paper": {
            "test": Replace(
                {
                    "dataset": "cifar10",
                    "model": "resnet18",
                    "model_options": {},
                    "start_lr": 1e-6,
                    "end_lr": 10.0,
                    "num_iter": 200,
                    "mode": "exp",
                    "smooth": 0.98,
                    "diverge": 4.0,
                    "batch_size": 256,
                    "optimizer": "sgd",
                    "momentum": 0.9,
                    "weight_decay": 0.0,
                }
            ),
            "seeds": [0, 1, 2],
        },
        "smoke": {"test": {"num_iter": 20, "batch_size": 16}, "seeds": [0]},
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (RANGE_TEST,)
