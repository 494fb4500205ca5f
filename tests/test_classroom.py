"""Student notebooks: the book's real chapters lose every solution cell, keep every exercise."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lrlab import classroom, cli

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(BOOK.glob("*.ipynb"))


def _text(cell):
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapters_lose_their_solutions_and_keep_their_exercises(path):
    notebook = json.loads(path.read_text())
    student = classroom.strip_solutions(notebook, name=path.name)
    texts = [_text(c) for c in student["cells"]]
    assert not any("{solution-start}" in t or "{solution-end}" in t for t in texts)
    exercises = sum("{exercise}" in _text(c) for c in notebook["cells"])
    assert exercises >= 3
    assert sum("{exercise}" in t for t in texts) == exercises
    # Everything outside the solutions is kept, in order.
    assert len(student["cells"]) < len(notebook["cells"])
    assert texts[0] == _text(notebook["cells"][0])


def _cell(kind, text):
    return {
        "cell_type": kind,
        "id": f"{abs(hash((kind, text))) % 16**8:08x}",
        "source": text,
        "metadata": {},
        **({"outputs": ["x"], "execution_count": 3} if kind == "code" else {}),
    }


def test_outputs_are_cleared_and_the_input_is_not_modified():
    notebook = {"cells": [_cell("code", "print(1)")]}
    student = classroom.strip_solutions(notebook)
    assert student["cells"][0]["outputs"] == [] and student["cells"][0]["execution_count"] is None
    assert notebook["cells"][0]["outputs"] == ["x"]


@pytest.mark.parametrize(
    "cells, message",
    [
        ([_cell("markdown", "```{solution-start} a\n```")], "never closed"),
        ([_cell("markdown", "```{solution-end}\n```")], "never opened"),
        (
            [
                _cell("markdown", "```{solution-start} a\n```"),
                _cell("markdown", "```{solution-start} b\n```"),
            ],
            "inside the one opened at cell 0",
        ),
    ],
)
def test_unbalanced_solution_markers_are_reported_with_the_cell(cells, message):
    with pytest.raises(ValueError, match=message):
        classroom.strip_solutions({"cells": cells}, name="demo.ipynb")


def test_the_student_command_writes_copies(tmp_path, capsys):
    out = tmp_path / "student"
    assert cli.main(["student", str(CHAPTERS[0]), "--out", str(out)]) == 0
    written = json.loads((out / CHAPTERS[0].name).read_text())
    assert not any("{solution-start}" in _text(c) for c in written["cells"])
    assert "wrote" in capsys.readouterr().out


def test_the_student_command_refuses_to_overwrite_the_chapters(capsys):
    assert cli.main(["student", str(CHAPTERS[0]), "--out", str(BOOK)]) == 2
    assert "out_dir must differ" in capsys.readouterr().err


# --- student copies run: no kept cell reads a name that only a solution defines -------------


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_copies_read_no_name_that_only_a_solution_defines(path):
    """The failure: a hidden assert left after its solution (scale-invariance, cell 30 read
    ``alpha_plain``) raised NameError in the student copy, and gave the answer away."""
    assert classroom.solution_only_names(json.loads(path.read_text()), path.name) == {}


def test_the_stripper_refuses_a_copy_that_could_not_run():
    cells = [
        _cell("markdown", "```{exercise} Q\n:label: q\n```"),
        _cell("markdown", "```{solution-start} q\n```"),
        _cell("code", "import math\nanswer = math.pi"),
        _cell("markdown", "```{solution-end}\n```"),
        _cell("code", "%matplotlib inline\nassert answer > 3 and math.isfinite(answer)"),
        _cell("code", "def f(x):\n    return x + len([y for y in range(3)])\nprint(f(1))"),
        _cell("code", "this is not python"),
    ]
    assert classroom.solution_only_names({"cells": cells}) == {4: ["answer", "math"]}
    with pytest.raises(ValueError, match=r"cell 4: answer, math\); move those cells inside"):
        classroom.strip_solutions({"cells": cells}, name="demo.ipynb")
    del cells[4]
    assert len(classroom.strip_solutions({"cells": cells})["cells"]) == 3


# --- self-checks -------------------------------------------------------------------------------

EXERCISES = classroom.registered()
LABEL = re.compile(r"```\{exercise\}[^\n]*\n:label: ([\w-]+)")


def _exercise_labels(notebook) -> list[str]:
    return [m for c in notebook["cells"] for m in LABEL.findall(_text(c))]


def test_every_registered_check_is_an_exercise_of_a_chapter():
    labels = {
        label for path in CHAPTERS for label in _exercise_labels(json.loads(path.read_text()))
    }
    assert set(EXERCISES) <= labels
    # every chapter whose exercises have numeric answers has checks (the five first chapters)
    chapters = {label.rsplit("-ex-", 1)[0] for label in EXERCISES}
    assert {"quadratic", "dynamics", "range-test", "schedules", "scale-invariance"} <= chapters


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_students_see_a_check_cell_after_each_checked_exercise(path):
    notebook = json.loads(path.read_text())
    student = classroom.strip_solutions(notebook, name=path.name)
    texts = [_text(c) for c in student["cells"]]
    for label in _exercise_labels(notebook):
        if label not in EXERCISES:
            continue
        at = next(i for i, t in enumerate(texts) if f":label: {label}" in t)
        cell = student["cells"][at + 1]
        assert (
            cell["cell_type"] == "code" and f'classroom.check("{label}", answer)' in texts[at + 1]
        )
        assert "answer = None" in texts[at + 1]
    if any(label in EXERCISES for label in _exercise_labels(notebook)):
        first_check = next(i for i, t in enumerate(texts) if "classroom.check(" in t)
        imported = re.compile(r"from lrlab import \(?[\w\s,]*\bclassroom\b")  # also ( ... )
        imports = next(i for i, t in enumerate(texts) if imported.search(t))
        assert imports < first_check


def _perturbed(expected: np.ndarray, ex, band: str) -> np.ndarray:
    right = ex.atol + ex.rtol * np.abs(expected)
    close = ex.atol + ex.close * np.abs(expected)
    step = {"close": (right + close) / 2, "wrong": 2 * close + (close == 0)}[band]
    return expected + step


def _shown_forms(value: float) -> set[str]:
    forms = {repr(float(value)), f"{value:.6g}", f"{value:.4g}", f"{value:.3g}"}
    return {f for f in forms if len(f.strip("-")) >= 4}


@pytest.mark.parametrize("label", sorted(EXERCISES))
def test_checks_say_right_close_and_wrong_and_never_show_the_answer(label):
    ex = EXERCISES[label]
    expected = np.asarray(ex.expected(), dtype=float)
    assert np.all(np.isfinite(expected)) and expected.size >= 1
    verdicts = {}
    for band, answer in [
        ("right", expected),
        ("close", _perturbed(expected, ex, "close")),
        ("wrong", _perturbed(expected, ex, "wrong")),
        ("wrong", -3 * expected - 1),
    ]:
        feedback = classroom.check(label, answer.tolist())
        verdicts.setdefault(band, set()).add(feedback.verdict)
        private = feedback.message.replace(ex.asks, "").replace(ex.hint, "")
        shown = {f for value in expected.ravel() for f in _shown_forms(value) if f in private}
        assert not shown, (band, feedback.message)
        assert repr(feedback) == str(feedback) == feedback.message
        if band != "right":
            assert ex.hint in feedback.message and "%" in feedback.message
    assert verdicts == {"right": {"right"}, "close": {"close"}, "wrong": {"wrong"}}
    assert classroom.check(label, None).verdict == "no answer"
    wrong_size = classroom.check(label, [1.0] * (expected.size + 1))
    assert wrong_size.verdict == "wrong" and "Not the right form" in wrong_size.message


def test_feedback_says_how_far_off_and_which_entries():
    feedback = classroom.check("schedules-ex-restarts", [50, 200, 700, 2000])
    assert feedback.verdict == "close" and feedback.error == pytest.approx(50 / 650)
    assert feedback.message.startswith("Close: entry 3 is off, by up to 7.7 % (relative error)")
    feedback = classroom.check("schedules-ex-restarts", [50, 150, 650, 1000])
    assert (
        feedback.verdict == "wrong" and "entries 2 and 4 are off, by up to 50 %" in feedback.message
    )
    assert classroom.check("quadratic-ex-seong", 0.05).message.startswith(
        "Not yet: your answer is off by 25 % (relative error)"
    )
    assert classroom.check("quadratic-ex-seong", np.float32(0.04)).verdict == "right"
    assert classroom.check("quadratic-ex-seong", float("nan")).verdict == "wrong"


def test_checks_reject_unknown_labels_and_non_numbers():
    with pytest.raises(ValueError, match="did you mean 'quadratic-ex-kappa'"):
        classroom.check("quadratic-ex-kapa", 1)
    with pytest.raises(TypeError, match="answer must be a number or an array of numbers"):
        classroom.check("quadratic-ex-kappa", "sixty")
    with pytest.raises(TypeError, match="answer must be a number or an array of numbers"):
        classroom.check("quadratic-ex-kappa", [1, [2, 3]])


def test_registering_a_check_validates_it():
    from lrlab.classroom import selfcheck

    with pytest.raises(ValueError, match=r"close must be >= 0.1, got 0.01"):  # rtol is 0.1
        selfcheck.exercise("x-ex-a", asks="a", hint="b", rtol=0.1, close=0.01)
    with pytest.raises(ValueError, match="asks and hint must be non-empty"):
        selfcheck.exercise("x-ex-a", asks="", hint="b")
    with pytest.raises(ValueError, match="already registered"):
        selfcheck.exercise("quadratic-ex-kappa", asks="a", hint="b")(lambda: 1)


# The checks' answers against independent references: closed forms from the chapters.


def _alpha(lr, weight_decay, momentum):
    """Li & Arora (2020): the larger root of x^2 - (1 + momentum - lr wd) x + momentum."""
    return max(np.roots([1.0, -(1 + momentum - lr * weight_decay), momentum]).real)


def test_check_answers_match_the_closed_forms():
    answer = {label: np.asarray(ex.expected(), dtype=float) for label, ex in EXERCISES.items()}
    factors = [(k - 1) / (k + 1) for k in (10, 100, 1000)]
    assert answer["quadratic-ex-kappa"].tolist() == [
        np.ceil(np.log(1e-6) / np.log(r)) for r in factors
    ]
    polyak = np.log(1e-6) / np.log([(10 - 1) / (10 + 1), 99 / 101])  # sqrt(kappa) and kappa
    np.testing.assert_allclose(answer["quadratic-ex-polyak"], polyak, rtol=1e-6)
    nesterov = [2 * (1 + m) / ((1 + 2 * m) * 4.0) for m in (0.5, 0.9, 0.99)]
    np.testing.assert_allclose(answer["quadratic-ex-nesterov"], nesterov, rtol=1e-12)
    assert answer["quadratic-ex-seong"] == pytest.approx(2 / 50)
    assert answer["dynamics-ex-escape"] == pytest.approx(2.0, abs=1e-3)  # 4(1+g)^3 = 27(2+g)
    assert answer["dynamics-ex-target"] == pytest.approx(1 / 4)
    assert answer["dynamics-ex-depth"] == pytest.approx(10 * 2**0.9)
    assert answer["range-test-ex-sweep"].tolist() == [50, 1]  # i/99 < 1/2; 1e-4 + i/99 < 1e-2
    np.testing.assert_allclose(answer["schedules-ex-resnet"], [0.1 * 1000 / 1955, 0.1, 1e-3])
    assert answer["schedules-ex-restarts"].tolist() == [50 * (3**k - 1) // 2 for k in (1, 2, 3, 4)]
    bound = np.pi / (2 * np.array([5, 10, 30, 100]))  # the cosine's largest change per epoch
    assert np.all(
        (0.9 * bound < answer["schedules-ex-per-epoch"])
        & (answer["schedules-ex-per-epoch"] <= bound)
    )
    sigma2 = -0.25 / np.log(1e-4 / 0.1)
    t0 = 0.5 - np.sqrt(-sigma2 * np.log(np.array([1e-3, 1e-2, 5e-2]) / 0.1))
    np.testing.assert_allclose(answer["schedules-ex-peak"], (0.5 - t0) / (1 - t0) * 999, atol=0.5)
    assert answer["scale-invariance-ex-no-momentum"] == pytest.approx(1 - 0.1 * 0.01, rel=1e-15)
    alpha = _alpha(0.05, 5e-3, 0.9)
    assert answer["scale-invariance-ex-zero-buffer"] == pytest.approx(0.9 / alpha**2, rel=1e-9)
    growth = np.prod([_alpha(0.1 * 0.1**k, 1e-4, 0.9) ** -150_000 for k in range(3)])
    rate, weights = answer["scale-invariance-ex-how-large"]
    assert weights == pytest.approx(growth, rel=1e-6)
    assert rate == pytest.approx(1e-3 * growth**2, rel=1e-4)  # TEXP: eta_t s_t s_{t+1}


def test_later_chapters_check_answers_match_the_closed_forms():
    answer = {label: np.asarray(ex.expected(), dtype=float) for label, ex in EXERCISES.items()}
    eta, beta = 0.01, 0.9  # Cohen et al. (2021): (2 + 2 beta)/eta; Nesterov 2(1 + b)/((1 + 2b) eta)
    edges = [(2 + 2 * beta) / eta, 2 * (1 + beta) / ((1 + 2 * beta) * eta)]
    np.testing.assert_allclose(answer["eos-ex-nesterov"], edges, rtol=1e-12)
    np.testing.assert_allclose(answer["flat-minima-ex-cliff"], [2 / 20, 2 / 50], rtol=1e-12)
    sgdr_ends = [10 * (2**k - 1) for k in (1, 2, 3, 4)]  # cycle k ends after T0 (2^k - 1) epochs
    cyclic_ends = list(range(8, 150, 8))  # complete 3 + 5 epoch cycles only
    assert answer["restarts-ex-ends"].tolist() == sgdr_ends + cyclic_ends
    # CIFAR-10 and -100 (50,000 images each), 5 seeds: step decay for 200 epochs, SGDR for 150
    hours = 2 * 5 * (200 + 150) * 50_000 / 4_000 / 3600
    assert answer["reproductions-ex-cost"] == pytest.approx(hours, rel=1e-12)
    peaks = answer["eos-ex-width"]  # Lewkowycz et al. (2020): the peak loss grows like n
    assert np.all((5 < peaks[1:] / peaks[:-1]) & (peaks[1:] / peaks[:-1] < 20))
    near_edge = [2 / (2 - p) for p in (1.9, 1.99)]  # E g^2 of the noisy quadratic
    np.testing.assert_allclose(answer["network-stability-ex-gradient-size"], near_edge, rtol=0.2)
    assert -1 <= answer["reproductions-ex-best"] <= 1


def test_markdown_sharing_a_cell_with_a_marker_is_kept():
    """The failure: the next exercise written in the cell of a ``{solution-end}`` (as in
    book/reproductions) vanished from the student copy with the whole cell."""
    cells = [
        _cell("markdown", "```{exercise} A\n:label: a\n```"),
        _cell(
            "markdown", "Try it first.\n\n```{solution-start} a\n:class: dropdown\n```\n\nSay 1."
        ),
        _cell("code", "one = 1"),
        _cell("markdown", "```{solution-end}\n```\n\n```{exercise} B\n:label: b\n```"),
        _cell("markdown", ":::{solution-start} b\n:::\nSecret.\n:::{solution-end}\n:::\nAfter."),
    ]
    student = classroom.strip_solutions({"cells": cells})
    texts = [_text(c) for c in student["cells"]]
    assert texts == [
        "```{exercise} A\n:label: a\n```",
        "Try it first.",
        "```{exercise} B\n:label: b\n```",
        "After.",
    ]
    assert [c["id"] for c in student["cells"]] == [cells[i]["id"] for i in (0, 1, 3, 4)]
