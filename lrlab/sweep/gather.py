"""Gathering a sweep's records: one line per run (:func:`table`), seeds summarised per schedule
and rate (:func:`summary`, :func:`summary_table`), accuracy against the rate (:func:`plot`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lrlab.sweep.grid import normalize, schedule_label  # noqa: F401 - normalize: doctests

__all__ = ["plot", "summary", "summary_table", "table"]

_RESULT_METRICS = ("final_test_acc", "best_test_acc", "final_test_loss", "wall_time_s")


def _group(record: dict, several_models: bool) -> str:
    label = schedule_label(record["config"])
    return f"{record['config']['model']} {label}" if several_models else label


def summary(records: Sequence[dict], metric: str = "final_test_acc") -> list[dict[str, Any]]:
    """Per (schedule, rate): the metric's mean, min and max over seeds, and their number.

    Diverged runs (metric ``None``) count in ``n`` and as ``diverged``, not in the mean.

    Examples
    --------
    >>> recs = [{"config": normalize({"seed": s}), "result": {"final_test_acc": a}}
    ...         for s, a in [(0, 0.5), (1, 0.7)]]
    >>> row = summary(recs)[0]
    >>> row["label"], row["lr"], round(row["mean"], 3), row["n"]
    ('constant', 0.1, 0.6, 2)
    """
    several = len({r["config"]["model"] for r in records}) > 1
    groups: dict[tuple, list] = {}
    for record in records:
        key = (_group(record, several), record["config"]["lr"])
        groups.setdefault(key, []).append(record["result"][metric])
    rows = []
    for (label, lr), values in groups.items():
        finite = [v for v in values if v is not None]
        rows.append(
            {
                "label": label,
                "lr": lr,
                "mean": sum(finite) / len(finite) if finite else None,
                "min": min(finite) if finite else None,
                "max": max(finite) if finite else None,
                "n": len(values),
                "diverged": len(values) - len(finite),
            }
        )
    return rows


def summary_table(records: Sequence[dict], metric: str = "final_test_acc") -> str:
    """A Markdown table of the metric over seeds: one row per schedule, one column per rate.

    Each cell is the mean over seeds with the range ``[min, max]`` (accuracies in %), and
    the number of diverged seeds where there are any.

    Examples
    --------
    >>> recs = [{"config": normalize({"seed": s}), "result": {"final_test_acc": a}}
    ...         for s, a in [(0, 0.5), (1, 0.7)]]
    >>> print(summary_table(recs))
    | schedule | lr 0.1 |
    |---|---|
    | constant | 60.0% [50.0, 70.0] |
    """
    rows = summary(records, metric)
    rates = sorted({r["lr"] for r in rows})
    percent = metric.endswith("_acc")
    scale = 100.0 if percent else 1.0
    lines = [
        "| schedule | " + " | ".join(f"lr {lr:g}" for lr in rates) + " |",
        "|---" * (len(rates) + 1) + "|",
    ]
    for label in dict.fromkeys(r["label"] for r in rows):
        cells = []
        for lr in rates:
            row = next((r for r in rows if r["label"] == label and r["lr"] == lr), None)
            if row is None:
                cells.append("")
            elif row["mean"] is None:
                cells.append(f"diverged ({row['diverged']} of {row['n']})")
            else:
                unit = "%" if percent else ""
                text = f"{scale * row['mean']:.1f}{unit} [{scale * row['min']:.1f}, "
                text += f"{scale * row['max']:.1f}]"
                if row["diverged"]:
                    text += f", {row['diverged']} of {row['n']} diverged"
                cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(records: Sequence[dict], metrics: Sequence[str] = _RESULT_METRICS) -> str:
    """One line per run: model, schedule, rate, seed, then the metrics.

    Examples
    --------
    >>> rec = {"config": normalize({}), "result": {"final_test_acc": 0.5, "best_test_acc": 0.6,
    ...        "final_test_loss": 1.2, "wall_time_s": 3.0}}
    >>> print(table([rec]))
    model  schedule  lr   seed  final_test_acc  best_test_acc  final_test_loss  wall_time_s
    mlp    constant  0.1     0          0.5000         0.6000           1.2000         3.00
    """
    head = ["model", "schedule", "lr", "seed", *metrics]
    rows = []
    for record in records:
        config, result = record["config"], record["result"]
        cells = [
            config["model"],
            schedule_label(config),
            f"{config['lr']:.4g}",
            str(config["seed"]),
        ]
        for metric in metrics:
            value = result[metric]
            if value is None:
                cells.append("diverged")
            else:
                cells.append(f"{value:.2f}" if metric == "wall_time_s" else f"{value:.4f}")
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    numeric = [False, False, False, True] + [True] * len(metrics)

    def line(cells):
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(head), *(line(r) for r in rows)])


def plot(records: Sequence[dict], metric: str = "final_test_acc", ax=None):
    """The metric against the rate (log axis), one line per schedule, seeds as a band.

    The line is the mean over seeds, the band spans their minimum and maximum; diverged
    runs are left out (a rate where every seed diverged has no point).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> recs = [{"config": normalize({"lr": lr, "seed": s}), "result": {"final_test_acc": a}}
    ...         for lr, s, a in [(0.1, 0, 0.5), (0.1, 1, 0.7), (0.3, 0, 0.8), (0.3, 1, 0.9)]]
    >>> ax = plot(recs)
    >>> ax.get_xscale(), ax.get_ylabel()
    ('log', 'final test accuracy')
    """
    from lrlab import plots

    if not records:
        raise ValueError("records must hold at least one run")
    if ax is None:
        _, ax = plots.subplots()
    rows = [r for r in summary(records, metric) if r["mean"] is not None]
    for i, label in enumerate(dict.fromkeys(r["label"] for r in rows)):
        mine = sorted((r for r in rows if r["label"] == label), key=lambda r: r["lr"])
        lrs = [r["lr"] for r in mine]
        color = plots.COLORS[i % len(plots.COLORS)]
        ax.plot(lrs, [r["mean"] for r in mine], marker="o", color=color, label=label)
        ax.fill_between(
            lrs, [r["min"] for r in mine], [r["max"] for r in mine], color=color, alpha=0.2
        )
    plots.lr_axis(ax, "x", label="peak learning rate")
    ax.set_ylabel(metric.replace("_", " ").replace("acc", "accuracy"))
    ax.legend()
    return ax
