"""Self-checks for the exercises of "Reproductions" (book/reproductions)."""

from __future__ import annotations

import numpy as np

from lrlab import experiments
from lrlab.classroom.selfcheck import exercise


@exercise(
    "reproductions-ex-cost",
    asks="the GPU-hours of the paper-scale sgdr-grid entry at 4,000 images/s, one number",
    hint="experiments.get('sgdr-grid').work_at('paper') counts the images; divide by the "
    "throughput and by the seconds in an hour.",
    rtol=1e-6,
    close=0.1,
)
def _paper_gpu_hours():
    return experiments.get("sgdr-grid").work_at("paper") / 4_000 / 3600


@exercise(
    "reproductions-ex-best",
    asks="the rank correlation of λ_max and test accuracy over every final model of the "
    "stored seong-peak result that trained (its run did not diverge), one number",
    hint="Take every run's final lambda_max and 1 - test_error (a diverged run has no final "
    "measures: its 'final' is None), rank both (argsort of argsort) and take np.corrcoef of "
    "the ranks.",
    rtol=1e-6,
    atol=1e-9,
    close=0.2,
)
def _flatness_accuracy_rank_correlation():
    finals = [
        run["final"]
        for label_runs in experiments.load("seong-peak")["result"]["runs"].values()
        for run in label_runs
        if run["final"] is not None
    ]
    sharp = np.array([final["lambda_max"] for final in finals])
    accuracy = np.array([1 - final["test_error"] for final in finals])
    return np.corrcoef(np.argsort(np.argsort(sharp)), np.argsort(np.argsort(accuracy)))[0, 1]
