"""The explorers' two faces: the self-contained scrubber (no browser needed) and the live slider.

What a reader needs from a scrubber: every frame is exactly what the drawing function
drew for its value, the page holds everything (no script or image from elsewhere), the
slider is labelled and starts where it says, and a frame budget keeps pages small. The
browser tests (tests/browser) check that the built page's slider really swaps frames.
"""

import base64
import io
import json
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from lrlab import dynamics, plots, scrubber, widgets
from lrlab.widgets import schedule as schedule_widgets


@pytest.fixture
def static(monkeypatch):
    monkeypatch.setenv(widgets.EXPLORERS_ENV, "static")


@pytest.fixture
def live(monkeypatch):
    monkeypatch.delenv(widgets.EXPLORERS_ENV, raising=False)


def solid(value):
    """A figure filled with one grey level, so a frame's pixels tell which value drew it."""
    fig = plt.figure(figsize=(1.0, 0.5))
    fig.patch.set_facecolor(str(value))
    return fig


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def script_data(html: str) -> dict:
    return json.loads(re.search(r"var data = (\{.*?\});\n", html).group(1))


def test_each_frame_is_what_draw_drew_for_its_value():
    greys = [0.1, 0.5, 0.9]
    scrub = widgets.scrubber(solid, greys, label="grey", dpi=40)
    assert scrub.size == (40, 20)
    for grey, frame in zip(greys, scrub.frames, strict=True):
        image = pixels(frame)
        assert image.shape == (20, 40, 3)
        assert np.all(np.abs(image.astype(int) - round(255 * grey)) <= 1)


def test_frames_are_the_drawing_functions_own_rendering():
    """The page's frame and a direct rendering of the same figure agree pixel for pixel."""
    scrub = widgets.scrubber(widgets.quadratic_figure, [0.05, 0.21], label="γ", dpi=30)
    direct, _ = scrubber._render(widgets.quadratic_figure(0.21), 30)
    plt.close("all")
    np.testing.assert_array_equal(pixels(scrub.frames[1]), pixels(direct))
    assert not np.array_equal(pixels(scrub.frames[0]), pixels(scrub.frames[1]))


def test_html_is_self_contained_and_holds_every_frame():
    scrub = widgets.scrubber(solid, [0.2, 0.4, 0.6, 0.8], label="grey", dpi=20, start=0.6)
    html = scrub.html
    assert "http" not in html and "<script src" not in html and "<link" not in html
    data = script_data(html)
    decoded = [base64.b64decode(uri.split(",", 1)[1]) for uri in data["frames"]]
    assert decoded == list(scrub.frames)
    assert data["texts"] == ["0.2", "0.4", "0.6", "0.8"]
    slider = re.search(r'<input type="range"[^>]*>', html).group(0)
    assert 'min="0"' in slider and 'max="3"' in slider and 'value="2"' in slider
    # Without JavaScript the page still shows the starting frame, with its value.
    shown = re.search(r'<img [^>]*src="([^"]+)"', html).group(1)
    assert shown == data["frames"][2]
    assert re.search(r"<output [^>]*>0.6</output>", html)


def test_the_slider_is_labelled_and_the_image_described():
    scrub = widgets.scrubber(solid, [0.2, 0.8], label="step size γ", alt="A grey square", dpi=20)
    html = scrub.html
    slider_id = re.search(r'<input type="range" id="([^"]+)"', html).group(1)
    assert re.search(rf'<label for="{slider_id}"[^>]*>step size γ</label>', html)
    assert script_data(html)["alts"] == [
        "A grey square (step size γ = 0.2)",
        "A grey square (step size γ = 0.8)",
    ]


def test_two_scrubbers_on_one_page_do_not_share_ids():
    scrub = widgets.scrubber(solid, [0.2, 0.8], label="grey", dpi=20)
    ids = [re.search(r'<figure [^>]*id="([^"]+)"', s.html).group(1) for s in (scrub, scrub)]
    assert ids[0] != ids[1]


def test_text_cannot_close_the_inline_script_early():
    scrub = widgets.scrubber(
        solid, [0.2, 0.8], label="</script><b>x</b>", fmt=lambda v: f"{v}</script>", dpi=20
    )
    html = scrub.html
    assert html.count("</script>") == 1 and html.endswith("</script>")
    assert "<b>x</b>" not in html


def test_start_is_the_nearest_value_and_defaults_to_the_middle():
    values = [0.01, 0.1, 1.0, 10.0, 100.0]
    assert widgets.scrubber(solid, [0.1, 0.5, 0.9], label="g", dpi=20).start == 1
    assert scrubber.check_frames(solid, values, label="x", start=7.0)[2] == 3
    assert scrubber.check_frames(solid, ["a", "b"], label="x", fmt="{}", start="b")[2] == 1


def test_draw_figures_are_closed_so_a_notebook_does_not_show_them_again():
    plt.close("all")
    widgets.scrubber(solid, [0.2, 0.5, 0.8], label="grey", dpi=20)
    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"values": [0.5]}, ValueError, r"^values must hold 2 to 40"),
        ({"values": list(np.linspace(0.1, 0.9, 41))}, ValueError, r"^values must hold 2 to 40"),
        ({"values": 0.5}, TypeError, r"^values must be a sequence"),
        ({"draw": "solid"}, TypeError, r"^draw must be a callable"),
        ({"label": ""}, ValueError, r"^label must be"),
        ({"values": [0.1, 0.1001]}, ValueError, r"^values must show as distinct"),
        ({"start": "middle"}, ValueError, r"^start must be one of \(0.2, 0.8\)"),
        ({"dpi": 5}, ValueError, r"^dpi must be"),
    ],
)
def test_bad_arguments_fail_before_any_drawing(kwargs, error, match):
    drawn = []

    def draw(value):
        drawn.append(value)
        return solid(value)

    arguments = {"draw": draw, "values": [0.2, 0.8], "label": "grey", **kwargs}
    with pytest.raises(error, match=match):
        widgets.scrubber(arguments.pop("draw"), arguments.pop("values"), **arguments)
    assert drawn == []


def test_draw_must_return_figures_of_one_size():
    def draw(value):
        return plt.figure(figsize=(1.0 + value, 1.0))

    with pytest.raises(ValueError, match="^draw must return figures of one size"):
        widgets.scrubber(draw, [0.0, 1.0], label="width", dpi=20)
    with pytest.raises(TypeError, match="^draw must return a matplotlib Figure"):
        widgets.scrubber(lambda v: None, [0.0, 1.0], label="nothing")


def test_explorer_mode_reads_the_environment(monkeypatch):
    monkeypatch.setenv(widgets.EXPLORERS_ENV, "static")
    assert widgets.explorer_mode() == "static"
    monkeypatch.delenv(widgets.EXPLORERS_ENV)
    assert widgets.explorer_mode() == "live"
    monkeypatch.setenv(widgets.EXPLORERS_ENV, "animated")
    with pytest.raises(ValueError, match="^LRLAB_EXPLORERS must be 'live' or 'static'"):
        widgets.explorer_mode()


def test_explorer_is_a_scrubber_in_the_book_build(static):
    shown = widgets.explorer(solid, [0.2, 0.8], label="grey")
    assert isinstance(shown, widgets.Scrubber)
    assert "lrlab-scrubber" in shown._repr_html_()


def test_explorer_is_a_live_slider_over_the_same_values_in_a_kernel(live):
    drawn = []

    def draw(value):
        drawn.append(value)
        return solid(value)

    shown = widgets.explorer(draw, [0.2, 0.5, 0.8], label="grey", start=0.8)
    slider, out = shown.children
    assert slider.description == "grey"
    assert [label for label, _ in slider.options] == ["0.2", "0.5", "0.8"]
    assert drawn == [0.8]
    slider.value = 0  # a reader moves the slider: the same function draws the new value
    assert drawn == [0.8, 0.2]
    assert plt.get_fignums() == []  # shown in the Output widget, then closed


def test_quadratic_explorer_scrubs_the_step_size_around_the_cliff(static):
    shown = widgets.quadratic_explorer(steps=5, lr=0.21, lrs=[0.19, 0.21])
    assert shown.values == (0.19, 0.21) and shown.start == 1
    assert shown.label == "step size γ"


def test_quadratic_explorers_default_frames_cover_the_three_regimes(static, monkeypatch):
    asked = {}
    monkeypatch.setattr(
        scrubber, "scrubber", lambda draw, values, **kw: asked.update(kw, values=values)
    )
    widgets.quadratic_explorer(h=(1.0, 10.0), lr=0.1)
    lrs = np.array(asked["values"])
    bound = dynamics.max_stable_lr([1.0, 10.0])
    assert len(lrs) <= widgets.MAX_FRAMES
    assert lrs[0] < 1 / 10 < bound < lrs[-1]  # monotone, zig-zagging and diverging frames
    assert np.any(np.isclose(lrs, 0.1))  # the live explorer's starting step is a frame


def test_quadratic_explorer_is_live_with_momentum_controls_in_a_kernel(live):
    shown = widgets.quadratic_explorer(steps=5, lr=0.05, momentum=0.5)
    lr_slider, momentum_slider, nesterov_box = shown.children[0].children
    assert lr_slider.value == pytest.approx(0.05) and momentum_slider.value == 0.5
    plt.close("all")


def test_schedule_explorer_scrubs_one_parameter_on_a_fixed_axis(static):
    shown = widgets.schedule_explorer(steps=100, family="one_cycle", scrub="pct_start", frames=3)
    assert shown.values == pytest.approx([0.05, 0.25, 0.45])  # the slider's range
    assert shown.texts == ("0.05", "0.25", "0.45") and shown.label == "one_cycle: pct_start"
    assert shown.start == 1  # nearest to the explorer's default, 0.3


def test_schedule_frames_share_the_learning_rate_axis():
    ylim = schedule_widgets._shared_ylim("one_cycle", 100, "max_lr", [0.01, 1.0], logy=True)
    low = widgets.make_schedule("one_cycle", 100, max_lr=0.01)(np.arange(100)).min()
    assert ylim == pytest.approx((low / 1.5, 1.5))
    fig = widgets.schedule_figure("one_cycle", 100, ylim=ylim, max_lr=0.01)
    assert fig.axes[0].get_ylim() == pytest.approx(ylim)
    plt.close(fig)


def test_schedule_explorer_scrubs_choices_and_integers_through_all_their_values(static):
    modes = widgets.schedule_explorer(steps=60, family="cyclic", scrub="mode")
    assert modes.values == ("triangular", "triangular2", "exp_range")
    cycles = widgets.schedule_explorer(steps=60, family="sgdr", scrub="cycle_mult")
    assert cycles.values == (1, 2, 3) and cycles.texts == ("1", "2", "3")


def test_schedule_explorer_rejects_bad_scrub_and_frames():
    with pytest.raises(ValueError, match=r"^scrub \(for 'cosine'\) must be one of"):
        widgets.schedule_explorer(family="cosine", scrub="pct_start")
    with pytest.raises(ValueError, match="^frames must be an integer in"):
        widgets.schedule_explorer(family="cosine", frames=41)


def test_a_step_size_exactly_at_the_cliff_is_called_the_edge():
    fig, axes = plots.subplots(1, 3)
    shown = widgets.draw_quadratic(axes, lr=0.2, steps=5)
    assert not shown["converges"]
    assert "on the edge" in axes[0].get_title()
    plt.close(fig)
