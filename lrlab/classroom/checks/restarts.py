"""Self-checks for the exercises of "Restarts, cycles and snapshot ensembles" (book/restarts).

The snapshot exercises use the chapter's live example: the digits MLP from seed 0, three
cosine cycles of two epochs restarting at ``peak``. Its snapshots are trained once per
process (:func:`_digits_snapshots`); on another device or CPU a few test examples may
change class, which the tolerances allow (one of the 450 test digits is 0.2%).
"""

from __future__ import annotations

import functools

import numpy as np

from lrlab import ensembles, schedules
from lrlab.classroom.selfcheck import exercise


@exercise(
    "restarts-ex-ends",
    asks="the epochs at which the cycles end within 150 epochs, SGDR's followed by the cyclic "
    "schedule's, one list of numbers",
    hint="ensembles.cycle_ends returns the last step of each cycle: the cycle ends after step "
    "e, at epoch (e + 1) / 32. Count only complete cycles.",
    rtol=0.0,
    atol=1e-6,
    close=0.1,
)
def _cycle_end_epochs():
    steps_per_epoch, total = 32, 150 * 32
    warm = schedules.sgdr(0.3, first_cycle=10 * steps_per_epoch, cycle_mult=2)
    cyclic = schedules.cyclic(
        0.04, 0.3, step_size_up=3 * steps_per_epoch, step_size_down=5 * steps_per_epoch
    )
    ends = ensembles.cycle_ends(warm, total) + ensembles.cycle_ends(cyclic, total)
    return (np.array(ends) + 1) / steps_per_epoch


@exercise(
    "restarts-ex-exp-range",
    asks="the rate at step 959 of exp_range with base 0.04, max 0.3, half-cycles of 96 steps "
    "and gamma = 0.5 ** (1 / 192): lrlab's convention (the amplitude decays), then the "
    "paper's text (both bounds decay), two numbers",
    hint="Evaluate each schedule at step 959 (the 960th step). In the paper's text the floor "
    "decays too: the whole triangular rate is multiplied by gamma ** t.",
    rtol=1e-6,
    close=0.1,
)
def _exp_range_last_rates():
    gamma, half, t = 0.5 ** (1 / 192), 96, 959
    ours = schedules.cyclic(0.04, 0.3, half, mode="exp_range", gamma=gamma)
    triangle = schedules.cyclic(0.04, 0.3, half, mode="triangular")  # Smith's text: all decays
    return [ours(t), triangle(t) * gamma**t]


@functools.lru_cache(maxsize=2)
def _digits_snapshots(peak: float):
    """The chapter's live snapshot run on the digits at ``peak``: (log-probabilities of the
    snapshots in training order, shape (3, examples, classes); the test labels)."""
    from lrlab import data, models, train

    digits = data.load("digits", device="cpu")
    steps = digits.num_batches("train", 128)
    schedule = schedules.sgdr(peak, first_cycle=2 * steps)
    snapshots = ensembles.Snapshots(ensembles.cycle_ends(schedule, 6 * steps))
    net = models.build("mlp", digits.num_classes, digits.input_shape, seed=0)
    train.fit(net, digits, schedule, epochs=6, callbacks=[snapshots], progress=False)
    log_probs, labels = ensembles.member_log_probs(snapshots, digits, model=net)
    return log_probs.cpu().numpy(), labels.cpu().numpy()


def _ensemble_accuracy(log_probs: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the mean softmax of the members given."""
    return float((np.exp(log_probs).mean(axis=0).argmax(axis=1) == labels).mean())


def _disagreement(log_probs: np.ndarray, i: int, j: int) -> float:
    predicted = log_probs.argmax(axis=2)
    return float((predicted[i] != predicted[j]).mean())


@exercise(
    "restarts-ex-last-m",
    asks="the test accuracy (a fraction) of the ensemble of the first two snapshots of the live "
    "digits run, then of the last two, two numbers",
    hint="ensembles.evaluate(members, digits, model=live_net).accuracy[1] is the ensemble of the "
    "first two members it is given; give it the snapshots newest first for the last two.",
    rtol=0.01,
    atol=0.005,
    close=0.05,
)
def _first_and_last_two():
    log_probs, labels = _digits_snapshots(0.1)
    return [_ensemble_accuracy(log_probs[:2], labels), _ensemble_accuracy(log_probs[-2:], labels)]


@exercise(
    "restarts-ex-diversity",
    asks="the fraction of test digits on which two snapshots of the live run predict different "
    "classes, for the pairs (1, 2), (1, 3) and (2, 3), three numbers",
    hint="member_log_probs(...)[0].argmax(dim=2) gives each snapshot's predicted classes; compare "
    "two rows and average.",
    rtol=0.05,
    atol=0.005,
    close=0.3,
)
def _pairwise_disagreement():
    log_probs, _ = _digits_snapshots(0.1)
    return [_disagreement(log_probs, i, j) for i, j in ((0, 1), (0, 2), (1, 2))]


@exercise(
    "restarts-ex-peak",
    asks="the fraction of test digits on which the last two snapshots disagree, restarting at "
    "0.1 and then at 0.01, two numbers",
    hint="Train the same run with schedules.sgdr(0.01, ...) from models.build(..., seed=0), and "
    "compare the predicted classes of its last two snapshots.",
    rtol=0.05,
    atol=0.005,
    close=0.3,
)
def _last_two_disagreement_by_peak():
    return [_disagreement(_digits_snapshots(peak)[0], -2, -1) for peak in (0.1, 0.01)]


@exercise(
    "restarts-ex-seeds",
    asks="the probability that ten seeds show no collapse when each collapses with probability "
    "0.2, then the fewest seeds for which that probability is below 5%, two numbers",
    hint="No collapse in n independent seeds has probability 0.8 ** n.",
    rtol=1e-6,
    atol=1e-9,
    close=0.1,
)
def _collapse_seeds():
    n = 1
    while 0.8**n >= 0.05:
        n += 1
    return [0.8**10, n]
