"""Explorers: a figure with a slider, live (ipywidgets) in a kernel, a scrubber on the page.

Every explorer is a drawing function of its parameters that returns a matplotlib
Figure, shown two ways by :func:`explorer`: in a running kernel (Jupyter, Colab) a live
ipywidgets explorer that calls the drawing function whenever a control moves; in the
book build a self-contained :func:`scrubber`, a slider over precomputed frames of the
same drawing function, inline in the page, that works in any browser without a kernel
or network. The environment variable ``LRLAB_EXPLORERS`` decides which (see
:func:`explorer_mode`); the book's build sets it, so a chapter cell needs no condition.

A new explorer needs only its drawing function::

    widgets.explorer(lambda radius: draw_landscape(radius), radii, label="radius")

Each explorer is thin glue over plain functions that build and draw what it shows;
those functions are what the tests check. The generic machinery lives in
:mod:`lrlab.scrubber`, the schedule explorer in :mod:`lrlab.widgets.schedule` and the
quadratic step-size explorer in :mod:`lrlab.widgets.quadratic`, the river-valley explorer of
warmup-stable-decay in :mod:`lrlab.widgets.river_valley`; this module gathers them.
"""

from __future__ import annotations

from lrlab.scrubber import (
    EXPLORERS_ENV,
    MAX_FRAMES,
    Scrubber,
    explorer,
    explorer_mode,
    live_explorer,
    scrubber,
)
from lrlab.widgets.quadratic import (
    draw_quadratic,
    quadratic_explorer,
    quadratic_figure,
    quadratic_panels,
)
from lrlab.widgets.river_valley import (
    draw_river_valley,
    final_losses,
    river_valley_explorer,
    river_valley_figure,
)
from lrlab.widgets.schedule import (
    SCHEDULE_CONTROLS,
    default_values,
    draw_schedule,
    make_schedule,
    schedule_explorer,
    schedule_figure,
    schedule_gallery,
)

__all__ = [
    "EXPLORERS_ENV",
    "MAX_FRAMES",
    "SCHEDULE_CONTROLS",
    "Scrubber",
    "default_values",
    "draw_quadratic",
    "draw_river_valley",
    "draw_schedule",
    "explorer",
    "explorer_mode",
    "final_losses",
    "live_explorer",
    "make_schedule",
    "quadratic_explorer",
    "quadratic_figure",
    "quadratic_panels",
    "river_valley_explorer",
    "river_valley_figure",
    "schedule_explorer",
    "schedule_figure",
    "schedule_gallery",
    "scrubber",
]
