"""Explorers of one parameter: a self-contained scrubber for the page, a live slider in a kernel.

:func:`scrubber` calls a drawing function once per value of one parameter and packs the
frames into one block of HTML: a range slider, the value it points at, the frame, and
a few lines of inline JavaScript that swap frames as the slider moves. Nothing is loaded
from elsewhere (the frames are PNG data URIs), so it works on a static page, offline, in
any browser; without JavaScript the starting frame still shows. This is the static side
of the book's explorers (see :func:`lrlab.widgets.explorer`), in the spirit of
matplotlib's ``FuncAnimation.to_jshtml`` but with a labelled, keyboard-operable slider
over parameter values rather than time.

:func:`explorer` is the entry point of every explorer in the book: it shows a drawing
function as a scrubber when the environment variable ``LRLAB_EXPLORERS`` is ``static``
(the book's Sphinx extension, ``book/_ext/lrlab_book.py``, sets it before the build
starts its kernels), and as a live ipywidgets slider otherwise (Jupyter, Colab). So a
chapter cell needs no condition of its own; set the variable yourself to preview the
page's scrubber in Jupyter. These functions are re-exported by :mod:`lrlab.widgets`.

Frames are quantised to a small palette (line plots use few colours), which keeps a
frame of a three-panel figure at a few tens of kilobytes; :data:`MAX_FRAMES` bounds a
scrubber so a page stays small.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

from lrlab import _check

#: The most frames one scrubber may hold (the book's page budget assumes it).
MAX_FRAMES = 40

#: Colours kept per frame after quantisation (anti-aliased lines need a few dozen).
PALETTE_COLORS = 64

#: The environment variable that says how explorers render: "live" or "static".
EXPLORERS_ENV = "LRLAB_EXPLORERS"

_serial = itertools.count()


@dataclass(frozen=True)
class Scrubber:
    """Frames of one figure over the values of one parameter; displays as HTML.

    Build it with :func:`scrubber`. In Jupyter it renders through ``_repr_html_``;
    :attr:`html` is the same markup for writing into a page.

    Attributes
    ----------
    values : tuple
        The parameter's values, one per frame.
    texts : tuple of str
        Each value as the slider shows it.
    frames : tuple of bytes
        One PNG image per value.
    label : str
        What the slider sets (its accessible name).
    alt : str
        Text alternative of the figure; the current value is appended.
    start : int
        Index of the frame shown first.
    size : (int, int)
        Width and height of every frame, in pixels.
    """

    values: tuple
    texts: tuple[str, ...]
    frames: tuple[bytes, ...]
    label: str
    alt: str
    start: int
    size: tuple[int, int]

    @property
    def html(self) -> str:
        """The scrubber as one self-contained block of HTML (markup and inline script)."""
        digest = hashlib.sha1(b"".join(self.frames) + self.label.encode()).hexdigest()[:10]
        uid = f"lrlab-scrubber-{digest}-{next(_serial)}"
        uris = [_data_uri(frame) for frame in self.frames]
        alts = [f"{self.alt} ({self.label} = {text})" for text in self.texts]
        width, height = self.size
        text0 = html.escape(self.texts[self.start])
        data = _script_json({"frames": uris, "texts": list(self.texts), "alts": alts})
        controls_style = "display:flex;align-items:center;gap:0.75em;flex-wrap:wrap"
        return f"""\
<figure class="lrlab-scrubber" id="{uid}" data-frames="{len(self.frames)}">
<div class="lrlab-scrubber-controls" style="{controls_style}">
<label for="{uid}-slider" style="font-weight:600">{html.escape(self.label)}</label>
<input type="range" id="{uid}-slider" min="0" max="{len(self.frames) - 1}" step="1" \
value="{self.start}" aria-valuetext="{text0}" style="flex:1 1 14em;max-width:28em">
<output id="{uid}-value" for="{uid}-slider">{text0}</output>
</div>
<img id="{uid}-frame" class="lrlab-scrubber-frame" src="{uris[self.start]}" width="{width}" \
height="{height}" alt="{html.escape(alts[self.start])}" style="max-width:100%;height:auto">
</figure>
<script>
(function () {{
  var data = {data};
  var slider = document.getElementById("{uid}-slider");
  var value = document.getElementById("{uid}-value");
  var frame = document.getElementById("{uid}-frame");
  if (!slider || !value || !frame) {{ return; }}
  function show() {{
    var i = Number(slider.value);
    frame.src = data.frames[i];
    frame.alt = data.alts[i];
    value.textContent = data.texts[i];
    slider.setAttribute("aria-valuetext", data.texts[i]);
  }}
  slider.addEventListener("input", show);
  slider.addEventListener("change", show);
}})();
</script>"""

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        first, last = self.texts[0], self.texts[-1]
        return f"Scrubber({self.label!r}: {len(self.frames)} frames, {first} … {last})"


def scrubber(
    draw: Callable[[Any], Any],
    values: Sequence,
    *,
    label: str,
    fmt: str | Callable[[Any], str] = "{:.3g}",
    start=None,
    alt: str | None = None,
    dpi: float = 80,
) -> Scrubber:
    """Precompute ``draw(value)`` for every value and pack the frames into a scrubber.

    Parameters
    ----------
    draw : callable
        ``draw(value) -> matplotlib.figure.Figure``: the explorer's drawing function. Each
        figure is rendered to PNG and closed; all must have the same size.
    values : sequence
        The parameter's values, 2 to :data:`MAX_FRAMES` of them, in slider order.
    label : str
        What the slider sets, shown beside it ("step size γ").
    fmt : str or callable
        How a value is shown: a format string (``"{:.3g}"``) or a function to ``str``.
    start : optional
        The value shown first (the nearest one for numbers); by default the middle one.
    alt : str, optional
        Text alternative of the figure; by default ``"Figure drawn at each <label>"``.
    dpi : float
        Resolution of the frames (80 makes a 10-inch figure 800 pixels wide, about the
        width of the book's text column).

    Returns
    -------
    Scrubber
        Displays as self-contained HTML in Jupyter and in the built book.

    Examples
    --------
    >>> from lrlab import plots
    >>> def draw(slope):
    ...     fig, ax = plots.subplots(width=3, height=2)
    ...     ax.plot([0, 1], [0, slope])
    ...     return fig
    >>> scrub = scrubber(draw, [0.5, 1.0, 2.0], label="slope", start=1.0)
    >>> len(scrub.frames), scrub.texts, scrub.start
    (3, ('0.5', '1', '2'), 1)
    >>> scrub.html.count('type="range"')
    1
    """
    values, texts, first = check_frames(draw, values, label=label, fmt=fmt, start=start)
    dpi = _check.number("dpi", dpi, 10, 300)
    import matplotlib.pyplot as plt

    frames, sizes = [], set()
    for value in values:
        figure = draw(value)
        if not hasattr(figure, "savefig"):
            plt.close("all")
            raise TypeError(f"draw must return a matplotlib Figure, got {type(figure).__name__}")
        try:
            frame, size = _render(figure, dpi)
        finally:
            plt.close(figure)
        frames.append(frame)
        sizes.add(size)
    if len(sizes) > 1:
        raise ValueError(f"draw must return figures of one size, got sizes {sorted(sizes)}")
    return Scrubber(
        values=tuple(values),
        texts=tuple(texts),
        frames=tuple(frames),
        label=label,
        alt=alt if alt is not None else f"Figure drawn at each {label}",
        start=first,
        size=sizes.pop(),
    )


def explorer_mode() -> str:
    """How explorers render here: ``"static"`` (scrubber) or ``"live"`` (ipywidgets).

    Read from :data:`EXPLORERS_ENV` on every call; unset means ``"live"``.

    Examples
    --------
    >>> import os
    >>> _ = os.environ.pop(EXPLORERS_ENV, None)
    >>> explorer_mode()
    'live'
    """
    mode = os.environ.get(EXPLORERS_ENV, "live").strip().lower() or "live"
    if mode not in ("live", "static"):
        raise ValueError(f"{EXPLORERS_ENV} must be 'live' or 'static', got {mode!r}")
    return mode


def explorer(
    draw: Callable[[Any], Any],
    values: Sequence,
    *,
    label: str,
    fmt: str | Callable[[Any], str] = "{:.3g}",
    start=None,
    alt: str | None = None,
    live: Callable[[], Any] | None = None,
):
    """Show ``draw(value)`` with a slider over ``values``: live in a kernel, a scrubber in the book.

    The one entry point of every explorer in the book. In ``static`` mode (see
    :func:`explorer_mode`) it returns :func:`scrubber`'s frames of ``draw``; in ``live``
    mode it returns ``live()`` when given (an explorer with more controls built on the
    same drawing function), else :func:`live_explorer` over the same values.

    Parameters
    ----------
    draw : callable
        ``draw(value) -> matplotlib.figure.Figure``, for one value of the parameter.
    values : sequence
        The values the slider visits, 2 to :data:`MAX_FRAMES` of them.
    label, fmt, start, alt
        As in :func:`scrubber`.
    live : callable, optional
        Builds the live explorer (no arguments); used only in ``live`` mode.

    Returns
    -------
    Scrubber or ipywidgets.Widget

    Examples
    --------
    >>> import os
    >>> from lrlab import plots
    >>> def draw(slope):
    ...     fig, ax = plots.subplots(width=3, height=2)
    ...     ax.plot([0, 1], [0, slope])
    ...     return fig
    >>> os.environ[EXPLORERS_ENV] = "static"
    >>> explorer(draw, [0.5, 1.0, 2.0], label="slope")
    Scrubber('slope': 3 frames, 0.5 … 2)
    >>> del os.environ[EXPLORERS_ENV]
    """
    check_frames(draw, values, label=label, fmt=fmt, start=start)
    if live is not None and not callable(live):
        raise TypeError(f"live must be a callable building a widget, got {type(live).__name__}")
    if explorer_mode() == "static":
        return scrubber(draw, values, label=label, fmt=fmt, start=start, alt=alt)
    if live is not None:
        return live()
    return live_explorer(draw, values, label=label, fmt=fmt, start=start)


def live_explorer(
    draw: Callable[[Any], Any],
    values: Sequence,
    *,
    label: str,
    fmt: str | Callable[[Any], str] = "{:.3g}",
    start=None,
):
    """A live explorer: a slider over ``values`` that redraws ``draw(value)``.

    Needs a running Jupyter kernel; uses only widgets that ipywidgets 7 (Colab) and 8
    both have.

    Returns
    -------
    ipywidgets.VBox
        The slider (a ``SelectionSlider`` showing the formatted values) and the figure.
    """
    import ipywidgets as w

    values, texts, first = check_frames(draw, values, label=label, fmt=fmt, start=start)
    slider = w.SelectionSlider(
        options=list(zip(texts, range(len(values)), strict=True)),
        value=first,
        description=label,
        style={"description_width": "initial"},
        layout=w.Layout(width="32em"),
    )
    out = w.Output()

    def redraw(*_):
        show_in(out, draw(values[slider.value]))

    slider.observe(redraw, names="value")
    redraw()
    return w.VBox([slider, out])


def show_in(out, figure) -> None:
    """Show the figure in an ipywidgets Output (replacing what it showed) and close it."""
    import matplotlib.pyplot as plt
    from IPython.display import display

    with out:
        out.clear_output(wait=True)
        display(figure)
        plt.close(figure)


def check_frames(draw, values, *, label, fmt="{:.3g}", start=None):
    """Check an explorer's arguments before any drawing; return values, texts, start index.

    Shared by the scrubber and the live explorer so that both reject the same input.

    Examples
    --------
    >>> check_frames(print, [1, 2, 4], label="n", fmt="{:d}", start=3)
    ([1, 2, 4], ['1', '2', '4'], 1)
    """
    if not callable(draw):
        raise TypeError(f"draw must be a callable returning a Figure, got {type(draw).__name__}")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"label must be a non-empty string, got {label!r}")
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise TypeError(f"values must be a sequence, got {type(values).__name__}")
    values = list(values)
    if not 2 <= len(values) <= MAX_FRAMES:
        raise ValueError(f"values must hold 2 to {MAX_FRAMES} values, got {len(values)}")
    if isinstance(fmt, str):
        texts = [fmt.format(value) for value in values]
    elif callable(fmt):
        texts = [str(fmt(value)) for value in values]
    else:
        raise TypeError(f"fmt must be a format string or a callable, got {type(fmt).__name__}")
    if len(set(texts)) != len(texts):
        raise ValueError(f"values must show as distinct texts with fmt {fmt!r}, got {texts}")
    return values, texts, _start_index(values, start)


def _start_index(values: list, start) -> int:
    if start is None:
        return len(values) // 2
    if isinstance(start, Real) and all(isinstance(v, Real) for v in values):
        return min(range(len(values)), key=lambda i: abs(values[i] - start))
    return values.index(_check.choice("start", start, values))


def _render(figure, dpi: float) -> tuple[bytes, tuple[int, int]]:
    """The figure as a palette PNG (no dithering, so lines stay crisp) and its pixel size."""
    import matplotlib as mpl
    from PIL import Image

    raw = io.BytesIO()
    # The whole canvas, not a tight bounding box (the book's style), so every frame of a
    # figure size has the same pixel size whatever its titles and tick labels.
    with mpl.rc_context({"savefig.bbox": "standard"}):
        figure.savefig(raw, format="png", dpi=dpi)
    image = Image.open(raw).convert("RGB")
    small = image.quantize(colors=PALETTE_COLORS, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="png", optimize=True)
    return out.getvalue(), image.size


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _script_json(data: dict) -> str:
    # Inside <script>, "</" could end the element early; "<\/" means the same in JSON.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
