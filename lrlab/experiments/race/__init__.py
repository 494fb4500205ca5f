"""The experiment of the chapter "Which schedule wins? A fair race": schedule families tuned
with the same budget on three workloads, then scored over seeds.

``race`` (:func:`run_race`), the protocol of AlgoPerf (Dahl et al. 2023) at CPU scale:

1. **Search space.** One range test per workload (Smith 2017) on its training part; the rule
   ``range_test["rule"]`` (``"steepest"``, torch-lr-finder's) reads a rate ``s`` off it.
   Every family's peak rate is searched over ``[s / factor, s * factor]``.
2. **Tuning.** Each family gets the same ``trials``: trial ``i`` (of ``n``) has the rate
   ``s * factor ** ((2 i + 1) / n - 1)``, log-evenly spread over the space, and, for a family
   with a shape parameter, the ``i mod k``-th of its ``k`` values. Each trial trains with the
   ``tune_seeds`` on the training part and is scored on the validation split (the last
   ``val_fraction`` of the training set); the pick is the trial with the highest mean final
   validation accuracy (ties: the lowest validation loss).
3. **Test.** Every family trains at its pick with each of ``seeds`` (the same seeds for every
   family: the same initial weights and data order), scored on the test split. A workload
   with ``objective_pick`` also picks each family's trial by the lowest final training
   objective (the L2-regularised loss of the last iterate, the quantity of Defazio et al.
   2023's bounds) and trains the seeds there too.

The time to a target is read from each run's validation accuracy after every epoch
(:func:`steps_to_target`); the target of a workload is the median over the families of their
picks' mean validation accuracy in tuning (:func:`median_target`).

>>> sorted(RACE.config()["families"])[:3]
['constant', 'cosine', 'gaussian-peak']
>>> lr, shape = trial_points({"shape": {"gamma": [0.1, 0.3]}}, 1.0, {"trials": 4, "factor": 4.0})[0]
>>> round(lr, 4), shape
(0.3536, {'gamma': 0.1})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrlab.experiments.experiment import TRAIN_EXAMPLES, Experiment, Replace
from lrlab.experiments.race.runs import (
    race_schedule,
    race_work,
    run_race,
    trial_points,
    val_size,
)
from lrlab.experiments.race.scoring import (
    median_target,
    pick,
    race_times,
    steps_to_target,
    trial_mean,
)

__all__ = [
    "EXPERIMENTS",
    "FAMILIES",
    "RACE",
    "median_target",
    "pick",
    "race_schedule",
    "race_times",
    "race_work",
    "run_race",
    "steps_to_target",
    "trial_mean",
    "trial_points",
    "val_size",
]


# --- the configuration ----------------------------------------------------------------------

#: The entrants: a schedule spec of :func:`lrlab.schedules.from_spec` whose rate parameter is
#: the trial's peak rate, parameters given as fractions of the run, at most one shape
#: parameter with its values, and run options that differ from the workload's.
FAMILIES = {
    "constant": {"spec": {"name": "constant"}},
    # divide by 1/gamma at half and at three quarters of the run
    "step": {
        "spec": {"name": "multistep"},
        "fractions": {"milestones": [0.5, 0.75]},
        "shape": {"gamma": [0.1, 0.3]},
    },
    # to zero, or to a tenth of the peak (Bergsma et al. 2025's baseline)
    "cosine": {"spec": {"name": "cosine"}, "shape": {"min_lr_ratio": [0.0, 0.1]}},
    # PyTorch's OneCycleLR: warm up from peak / 25 for this share of the run, anneal to 1e-4 of that
    "one-cycle": {"spec": {"name": "one_cycle"}, "shape": {"pct_start": [0.15, 0.3]}},
    # constant, then a cooldown over the last fifth (Hägele et al. 2024); no warm-up
    "wsd": {
        "spec": {"name": "wsd"},
        "fractions": {"decay_steps": 0.2},
        "shape": {"cooldown": ["linear", "1-sqrt"]},
    },
    # linear decay to zero: polynomial(power=1, end_lr=0)
    "linear": {"spec": {"name": "polynomial", "power": 1.0, "end_lr": 0.0}},
    # Seong et al. 2018: from min_lr up to the peak at mid-run and back down
    "gaussian-peak": {"spec": {"name": "gaussian_peak"}, "shape": {"min_lr_ratio": [0.01, 0.0001]}},
    # SCHEDULE-FREE: the entrant of Defazio et al. 2024 goes here once the optimizer is in
    # lrlab (optimizer="sgd_schedulefree"), e.g. {"spec": {"name": "constant"}, "options":
    # {"optimizer": "sgd_schedulefree", "momentum": 0.9}}.
}

_BASE = {
    "workloads": {
        "mnist1d-cnn": {
            "dataset": "mnist1d",
            "model": "cnn1d",
            "model_options": {},
            "epochs": 40,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "objective_pick": False,
        },
        "digits-mlp": {
            "dataset": "digits",
            "model": "mlp",
            "model_options": {},
            "epochs": 30,
            "momentum": 0.9,
            "weight_decay": 5e-4,
            "objective_pick": False,
        },
        # multinomial logistic regression, L2-regularised (strongly convex), plain SGD: the
        # setting of Defazio et al. 2023's last-iterate bounds
        "digits-logreg": {
            "dataset": "digits",
            "model": "linear",
            "model_options": {},
            "epochs": 60,
            "momentum": 0.0,
            "weight_decay": 1e-3,
            "objective_pick": True,
        },
    },
    "families": FAMILIES,
    "batch_size": 128,
    "val_fraction": 0.2,
    "range_test": {
        "start_lr": 1e-4,
        "end_lr": 10.0,
        "num_iter": 100,
        "rule": "steepest",
        "seed": 0,
    },
    # trials per family over [s / factor, s * factor] around the range test's suggestion s
    "search": {"trials": 8, "factor": 4.0},
    "tune_seeds": [1000, 1001],
    "seeds": list(range(20)),
}


def _smoke(config: Mapping[str, Any]) -> dict:
    """Seconds on any scale: two epochs per workload, two trials, one tuning seed, two seeds;
    the batch cut so that every epoch has at least four steps (a one-cycle warm-up needs a
    step of its own), also on the tiny CIFAR archives the tests write."""
    fewest = min(
        TRAIN_EXAMPLES[w["dataset"]] * (1 - config["val_fraction"])
        for w in config["workloads"].values()
    )
    return {
        "workloads": {name: {"epochs": 2} for name in config["workloads"]},
        "batch_size": max(1, min(config["batch_size"], int(fewest // 4))),
        "search": {"trials": 2},
        "tune_seeds": [1000],
        "seeds": [0, 1],
        "range_test": {"num_iter": 40},
    }


RACE = Experiment(
    name="race",
    chapter="race",
    title="Which schedule wins? Schedule families raced at an equal tuning budget",
    cite="dahl2023benchmarking",
    claim=(
        "Comparisons between training algorithms only count at an equal tuning budget "
        "(AlgoPerf). At that budget, a constant rate with a short cooldown matches cosine "
        "(Hägele et al. 2024), linear decay to zero beats cosine (Bergsma et al. 2025), and "
        "linear decay is worst-case optimal for SGD's last iterate on convex problems "
        "(Defazio et al. 2023)."
    ),
    run=run_race,
    work=race_work,
    base=_BASE,
    scales={
        # the two digits workloads, shorter, four trials of one seed, five seeds
        "classroom": {
            "workloads": Replace(
                {
                    "digits-mlp": {**_BASE["workloads"]["digits-mlp"], "epochs": 10},
                    "digits-logreg": {**_BASE["workloads"]["digits-logreg"], "epochs": 20},
                }
            ),
            "search": {"trials": 4},
            "tune_seeds": [1000],
            "seeds": [0, 1, 2, 3, 4],
            "range_test": {"num_iter": 60},
        },
        # CIFAR on a GPU: ResNet-20 and ResNet-18, and logistic regression on the pixels
        "paper": {
            "workloads": Replace(
                {
                    "cifar10-resnet20": {
                        **_BASE["workloads"]["mnist1d-cnn"],
                        "dataset": "cifar10",
                        "model": "resnet20",
                        "epochs": 30,
                    },
                    "cifar100-resnet18": {
                        **_BASE["workloads"]["mnist1d-cnn"],
                        "dataset": "cifar100",
                        "model": "resnet18",
                        "epochs": 30,
                    },
                    "cifar10-logreg": {
                        **_BASE["workloads"]["digits-logreg"],
                        "dataset": "cifar10",
                        "epochs": 20,
                    },
                }
            ),
            "tune_seeds": [1000],
            "seeds": list(range(10)),
            "range_test": {"num_iter": 200},
        },
        "smoke": _smoke,
    },
)

#: The experiments of this chapter.
EXPERIMENTS = (RACE,)
