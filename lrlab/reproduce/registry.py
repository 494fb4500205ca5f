"""The registry of :mod:`lrlab.reproduce`: each experiment's claim and its configurations at
CPU scale and at the paper's scale (what an experiment is: :mod:`lrlab.reproduce.experiment`)."""

from __future__ import annotations

from lrlab.reproduce.experiment import (
    SCALES,
    TRAIN_EXAMPLES,
    Chapter,
    Experiment,
    check_scale,
    resolve,
)

__all__ = [
    "REGISTRY",
    "SCALES",
    "TRAIN_EXAMPLES",
    "Chapter",
    "Experiment",
    "check_scale",
    "resolve",
]

# --- the registry -------------------------------------------------------------------------

# A smoke run of lrlab.stability_experiments's experiment: one seed, one epoch of each part.
_STABILITY_SMOKE = {
    "seeds": [0],
    "probe_size": 16,
    "schedules": {
        "mnist1d": {"model": "cnn1d", "lr": 0.05, "epochs": 1, "batch_size": 512, "every": 4},
        "digits": {"model": "mlp", "lr": 0.05, "epochs": 1, "batch_size": 512, "every": 1},
    },
    "batch_vs_rate": {"batch_size": 512, "factor": 2, "epochs_before": 1, "epochs_after": 1},
    "edge": {"lrs": [0.5], "steps": 3, "sharpness_every": 3},
}
# ... and of lrlab.restarts's: one seed, one epoch, a short range test.
_RESTARTS_SMOKE = {
    "epochs": 1,
    "seeds": [0],
    "range_test": {"start_lr": 0.01, "num_iter": 30, "drop": 1e-6},
}


def _step(milestones, gamma=0.1, label="step"):
    return {
        "name": "multistep",
        "milestones": milestones,
        "gamma": gamma,
        "unit": "epoch",
        "label": label,
    }


_PEAKS = [
    {"name": "gaussian_peak", "label": "Gaussian peak"},
    {"name": "laplacian_peak", "label": "Laplacian peak"},
]

_SEONG = Experiment(
    name="seong-peak",
    title="Step decay vs Gaussian and Laplacian peak schedules (Seong et al. 2018)",
    cite="seong2018flatter",
    claim=(
        "A nonmonotonic schedule that starts low, rises to a peak and falls again (Gaussian "
        "or Laplacian in time) drives SGD to flatter minima than step decay, and the flatter "
        "minima test better: the paper compares them on CIFAR-10 with a small CNN and "
        "ResNet-110."
    ),
    kind="sweep",
    chapter=Chapter(
        runner="lrlab.flatness:run",
        result="flat_minima_mnist1d",
        config="lrlab.flatness:CONFIG",
        small="lrlab.flatness:CPU_CONFIG",
        smoke={
            "cpu": {
                "schedules": ["step", "gaussian"],
                "seeds": [0],
                "epochs": 1,
                "sharpness_every": 1,
                "sharpness_examples": 32,
                "directions": 1,
                "random_radii": [-1.0, 1.0, 3],
                "path_points": 3,
                "probe_examples": 50,
                "surface_points": 3,
            }
        },
    ),
    configs={
        # The budget of He et al. (2016)'s CIFAR-10 ResNets: 164 epochs of batch 128,
        # lr 0.1 divided by 10 at epochs 82 and 123, momentum 0.9, weight decay 1e-4.
        "paper": {
            "grid": {
                "data": "cifar10",
                "model": ["small_cnn", "resnet110"],
                "epochs": 164,
                "batch_size": 128,
                "weight_decay": 1e-4,
                "lr": 0.1,
                "seed": [0, 1, 2],
                "schedule": [_step([82, 123]), *_PEAKS],
            }
        },
    },
)

_SGDR = Experiment(
    name="sgdr",
    title="Warm restarts against step decay (Loshchilov & Hutter 2017)",
    cite="loshchilov2017sgdr",
    claim=(
        "Cosine annealing with warm restarts has better anytime performance than step "
        "decay and reaches as good or better final accuracy; with WRN-28-10 the paper "
        "reports 3.14% test error on CIFAR-10 and 16.21% on CIFAR-100 (its abstract)."
    ),
    kind="sweep",
    chapter=Chapter(
        runner="lrlab.restarts:sgdr_experiment",
        result="restarts_sgdr_mnist1d",
        config="lrlab.restarts:CONFIGS[restarts_sgdr_mnist1d]",
        small="lrlab.restarts:CPU_CONFIGS[restarts_sgdr_mnist1d]",
        smoke={"cpu": {**_RESTARTS_SMOKE, "first_cycle_epochs": 1, "cycle_mult": 1}},
    ),
    configs={
        # WRN-28-10, batch 128, momentum 0.9, weight decay 5e-4. Baseline: lr 0.1 divided
        # by 5 at epochs 60, 120, 160 of 200; SGDR: lr 0.05, T0 = 10, Tmult = 2, 150 epochs.
        "paper": {
            "grid": [
                {
                    "data": ["cifar10", "cifar100"],
                    "model": "wrn28_10",
                    "batch_size": 128,
                    "epochs": 200,
                    "lr": 0.1,
                    "schedule": _step([60, 120, 160], gamma=0.2, label="step (/5)"),
                },
                {
                    "data": ["cifar10", "cifar100"],
                    "model": "wrn28_10",
                    "batch_size": 128,
                    "epochs": 150,
                    "lr": 0.05,
                    "schedule": {
                        "name": "sgdr",
                        "first_cycle": 10,
                        "cycle_mult": 2,
                        "unit": "epoch",
                        "label": "SGDR T0=10, Tmult=2",
                    },
                },
            ]
        },
    },
)

_CLR = Experiment(
    name="clr",
    title="Cyclical learning rates reach a fixed rate's accuracy in fewer steps (Smith 2017)",
    cite="smith2017cyclical",
    claim=(
        "Letting the rate cycle between two bounds reaches the accuracy of a tuned fixed "
        "rate in fewer iterations: on CIFAR-10 the paper's triangular2 policy reaches 81.4% "
        "in 25,000 iterations, which the fixed rate needs 70,000 iterations for."
    ),
    kind="sweep",
    chapter=Chapter(
        runner="lrlab.restarts:clr_experiment",
        result="restarts_clr_mnist1d",
        config="lrlab.restarts:CONFIGS[restarts_clr_mnist1d]",
        small="lrlab.restarts:CPU_CONFIGS[restarts_clr_mnist1d]",
        smoke={"cpu": {**_RESTARTS_SMOKE, "step_size_epochs": 1, "exp_range_halving_epochs": 2}},
    ),
    configs={
        # Batch 100 (500 iterations per epoch): fixed 0.001 for 70,000 iterations (140
        # epochs) against triangular2 between 0.001 and 0.006 with a stepsize of 2,000
        # iterations (4 epochs) for 25,000 iterations (50 epochs). small_cnn stands in for
        # Caffe's CIFAR-10 network.
        "paper": {
            "grid": [
                {
                    "data": "cifar10",
                    "model": "small_cnn",
                    "batch_size": 100,
                    "seed": [0, 1, 2],
                    "epochs": 140,
                    "lr": 0.001,
                    "schedule": "constant",
                },
                {
                    "data": "cifar10",
                    "model": "small_cnn",
                    "batch_size": 100,
                    "seed": [0, 1, 2],
                    "epochs": 50,
                    "lr": 0.006,
                    "schedule": {
                        "name": "cyclic",
                        "base_lr": 0.001,
                        "step_size_up": 4,
                        "mode": "triangular2",
                        "unit": "epoch",
                        "label": "triangular2",
                    },
                },
            ]
        },
    },
)

_RANGE_TEST = Experiment(
    name="range-test-resnet18",
    title="The LR range test and how far its suggestions move between seeds (Smith 2017)",
    cite="smith2017cyclical",
    claim=(
        "Training a few hundred steps while the rate grows exponentially shows where the "
        "loss starts to fall and where it blows up; rules read a good rate off that curve."
    ),
    kind="range_test",
    configs={
        "cpu": {
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
        # One epoch of CIFAR-10 at batch 128 (391 steps) from 1e-5 to 10.
        "paper": {
            "test": {
                "dataset": "cifar10",
                "model": "resnet18",
                "start_lr": 1e-5,
                "end_lr": 10.0,
                "num_iter": 391,
                "batch_size": 128,
            },
            "seeds": [0, 1, 2],
        },
    },
)

_SNAPSHOTS = Experiment(
    name="snapshot-ensembles",
    title="Snapshot ensembles: M models from one cyclic run (Huang et al. 2017)",
    cite="huang2017snapshot",
    claim=(
        "Saving the model at the end of each cosine cycle and averaging the snapshots' "
        "softmax outputs beats the single model of the same budget; with DenseNets the "
        "paper reports 3.4% test error on CIFAR-10 and 17.4% on CIFAR-100 (its abstract)."
    ),
    kind="chapter",
    chapter=Chapter(
        runner="lrlab.restarts:snapshot_experiment",
        work="lrlab.restarts:snapshot_examples",
        result="restarts_snapshots_mnist1d",
        config="lrlab.restarts:CONFIGS[restarts_snapshots_mnist1d]",
        small="lrlab.restarts:CPU_CONFIGS[restarts_snapshots_mnist1d]",
        smoke={
            "cpu": {**_RESTARTS_SMOKE, "independent_models": 1},
            # Full batch on the synthetic archive's 40 images, so that the range test's
            # loss falls; 4 steps, so that step decay has two milestones.
            "paper": {
                **_RESTARTS_SMOKE,
                "independent_models": 1,
                "batch_size": 40,
                "epochs": 4,
                "cycles": 2,
                "range_test": {**_RESTARTS_SMOKE["range_test"], "num_iter": 8},
            },
        },
    ),
    configs={
        # The chapter's experiment with ResNet-110 (the paper's DenseNets are not in
        # lrlab.models): 200 epochs in M = 5 cosine cycles from the range test's upper
        # bound, against step decay and against independently trained models.
        "paper": {
            "dataset": "cifar10",
            "model": "resnet110",
            "batch_size": 64,
            "momentum": 0.9,
            "weight_decay": 1e-4,
            "range_test": {
                "start_lr": 1e-4,
                "end_lr": 10.0,
                "num_iter": 400,
                "drop": 0.01,
                "seed": 0,
            },
            "epochs": 200,
            "seeds": [0],
            "cycles": 5,
            "independent_models": 2,
        },
    },
)

_STABILITY = Experiment(
    name="network-stability",
    title="Learning-rate decay and network stability (ResNet-18, CIFAR-10)",
    cite="lrdecay2020stability",
    claim=(
        "Decaying the rate makes successive SGD steps see nearly the same loss field, so "
        "activations and backward signals stop jumping between regimes; the source argues "
        "it with ResNet-18 on CIFAR-10 and gives no numbers."
    ),
    kind="chapter",
    chapter=Chapter(
        runner="lrlab.stability_experiments:run",
        work="lrlab.stability_experiments:training_examples",
        result="network_stability",
        config="lrlab.stability_experiments:CONFIG",
        small="lrlab.stability_experiments:CPU_CONFIG",
        smoke={
            "cpu": _STABILITY_SMOKE,
            "paper": {
                **_STABILITY_SMOKE,
                "schedules": {
                    "cifar10": {
                        "model": "resnet18",
                        "lr": 0.1,
                        "epochs": 1,
                        "batch_size": 10,  # 4 steps: two step-decay milestones
                        "every": 1,
                    }
                },
            },
        },
    ),
    configs={
        # The chapter's experiment with ResNet-18 on CIFAR-10 in place of its two small
        # data sets (100 epochs, batch 128); its batch-versus-rate and full-batch parts
        # stay the chapter's.
        "paper": {
            "seeds": [0, 1, 2],
            "probe_size": 256,
            "schedules": {
                "cifar10": {
                    "model": "resnet18",
                    "lr": 0.1,
                    "epochs": 100,
                    "batch_size": 128,
                    "every": 50,
                }
            },
            "batch_vs_rate": {
                "data": "mnist1d",
                "model": "cnn1d",
                "lr": 0.05,
                "batch_size": 32,
                "factor": 4,
                "epochs_before": 12,
                "epochs_after": 12,
                "every": 8,
            },
            "edge": {
                "hidden": [64, 64],
                "lrs": [0.2, 0.5, 1.0, 2.0],
                "steps": 400,
                "sharpness_every": 20,
            },
        },
    },
)

_EOS = Experiment(
    name="edge-of-stability",
    title="Full-batch gradient descent at the edge of stability (Cohen et al. 2021)",
    cite="cohen2021eos",
    claim=(
        "Under full-batch gradient descent at rate eta, the sharpness (top Hessian "
        "eigenvalue) rises until it reaches 2/eta and then hovers there while the loss "
        "keeps falling, non-monotonically; the paper shows it on a 5,000-image subset of "
        "CIFAR-10."
    ),
    kind="chapter",
    chapter=Chapter(
        runner="lrlab.edge:edge_of_stability",
        work="lrlab.edge:training_examples",
        result="edge_of_stability",
        config="lrlab.edge:EDGE_OF_STABILITY",
        small="lrlab.edge:EDGE_OF_STABILITY_CPU",
        smoke={
            scale: {"base": {"examples": 20, "hidden": [8], "steps": 2, "every": 1}, "seeds": [0]}
            for scale in SCALES
        },
    ),
    configs={
        # The chapter's runs on the first 5,000 CIFAR-10 images, 2,000 full-batch steps.
        "paper": {
            "base": {
                "data": "cifar10",
                "examples": 5000,
                "hidden": [200, 200],
                "steps": 2000,
                "every": 20,
            },
            "seeds": [0],
            "runs": {"gd-0.01": {"lr": 0.01}, "gd-0.02": {"lr": 0.02}, "gd-0.04": {"lr": 0.04}},
        },
    },
)

_CATAPULT = Experiment(
    name="catapult",
    title="The catapult phase of a wide ReLU network (Lewkowycz et al. 2020)",
    cite="lewkowycz2020catapult",
    claim=(
        "With rate eta and initial sharpness lambda0, training is lazy below 2/lambda0, "
        "catapults between 2/lambda0 and a maximal rate (the loss first grows, the sharpness "
        "falls below 2/eta, then training converges to a flatter minimum) and diverges "
        "above; for ReLU networks the paper finds that maximal rate near 12/lambda0."
    ),
    kind="chapter",
    chapter=Chapter(
        runner="lrlab.catapult:relu_catapult",
        work="lrlab.catapult:training_examples",
        result="relu_catapult",
        config="lrlab.catapult:RELU_CATAPULT",
        small="lrlab.catapult:RELU_CATAPULT_CPU",
        smoke={
            scale: {"examples": 8, "width": 16, "ratios": [1.0], "seeds": [0], "steps": 2}
            for scale in SCALES
        },
    ),
    configs={
        # Wider, on two classes of CIFAR-10 (airplane against automobile).
        "paper": {
            "data": "cifar10",
            "classes": [0, 1],
            "examples": 512,
            "width": 8192,
            "ratios": [0.5, 1.0, 1.5, 1.9, 2.2, 2.6, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0],
            "seeds": [0, 1, 2],
            "steps": 200,
        },
    },
)

#: Every experiment, by name.
REGISTRY: dict[str, Experiment] = {
    e.name: e for e in (_SEONG, _SNAPSHOTS, _SGDR, _CLR, _STABILITY, _EOS, _CATAPULT, _RANGE_TEST)
}
