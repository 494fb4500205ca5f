"""Self-checks for the exercises of "The rate, the batch and the width" (book/scaling)."""

from __future__ import annotations

from lrlab import data, experiments, models, scaling
from lrlab.classroom.selfcheck import exercise
from lrlab.experiments.scaling import batch, width

#: The pairs of batch sizes of the estimator exercise, and its draws.
PAIRS = ((8, 64), (32, 1024))
DRAWS = 32
#: The widths and the rate of the SGD coordinate-check exercise.
COORD_WIDTHS = (64, 1024)
COORD_LR = 0.5


def _untrained(seed: int = 0):
    mnist1d = data.load("mnist1d", device="cpu")
    net = models.build("mlp", 10, mnist1d.input_shape, hidden=(128, 128), seed=seed)
    return net, mnist1d


@exercise(
    "scaling-ex-pairs",
    asks="B_simple of the untrained network with (b, B) = (8, 64), then (32, 1024), 32 draws "
    "each with seed 0: a list of two numbers",
    hint="scaling.noise_scale(net, mnist1d, small_batch=b, big_batch=B, batches=32, seed=0)"
    ".b_simple, with the network models.build('mlp', 10, (1, 40), hidden=(128, 128), seed=0).",
    rtol=1e-4,
    close=0.2,
)
def _pairs():
    net, mnist1d = _untrained()
    return [
        scaling.noise_scale(net, mnist1d, small_batch=b, big_batch=big, batches=DRAWS).b_simple
        for b, big in PAIRS
    ]


@exercise(
    "scaling-ex-easier",
    asks="the critical batch size fitted to the steps to each target of the stored batch-size "
    "runs, easiest first (the easier targets, then the main one): a list of three numbers",
    hint="batch.summarize(record['result'], easier=j) for each easier target j and without "
    "easier for the main one; the fit's b_crit.",
    rtol=1e-6,
    close=0.1,
)
def _easier():
    result = experiments.load_or_run("batch-size")["result"]
    count = len(result["runs"][str(result["batch_sizes"][0])][0]["steps_easier"])
    fits = [batch.summarize(result, easier=j)["fit"] for j in range(count)]
    fits.append(batch.summarize(result)["fit"])
    return [fit.b_crit for fit in fits]


@exercise(
    "scaling-ex-transfer",
    asks="for the arms sgd-sp, sgd-mup, adam-sp and adam-mup of the stored width runs, the "
    "widest width's mean final training loss at the rate that is best at the narrowest width: "
    "a list of four numbers",
    hint="width.summarize(record['result'], arm) gives 'mean' (widths x rates) and "
    "'transferred', the index of the narrowest width's best rate; read the last row there.",
    rtol=1e-6,
    close=0.1,
)
def _transfer():
    result = experiments.load_or_run("width")["result"]
    summaries = [width.summarize(result, arm) for arm in result["arms"]]
    return [s["mean"][-1, s["transferred"]] for s in summaries]


@exercise(
    "scaling-ex-coord",
    asks="after 4 steps of SGD at rate 0.5, the output's mean |activation| at width 1024 "
    "divided by that at width 64: standard parametrization, then μP (base width 64), a "
    "list of two numbers",
    hint="scaling.coordinate_check(build, [64, 1024], mnist1d, steps=4, lr=0.5) with "
    "base_width=64 for μP; the output layer is module '5'; take the last step's column.",
    rtol=1e-4,
    close=0.2,
)
def _coordinates():
    mnist1d = data.load("mnist1d", device="cpu")
    ratios = []
    for options in ({}, {"parametrization": "mup", "base_width": 64}):
        sizes = scaling.coordinate_check(
            lambda w, o=options: models.build("mlp", 10, mnist1d.input_shape, width=w, **o),
            COORD_WIDTHS,
            mnist1d,
            steps=4,
            lr=COORD_LR,
            base_width=options.get("base_width"),
        )
        ratios.append(float(sizes["5"][-1, -1] / sizes["5"][0, -1]))
    return ratios
