"""For instructors and students: student copies of the chapters, self-checks for exercises.

- :func:`write_student_notebooks` / :func:`strip_solutions`: the chapters without their
  worked solutions (``lrlab student book/*.ipynb --out student/``), refusing to write a
  copy that could not run top to bottom;
- :func:`check`: a student's answer to an exercise, right, close or wrong, with how far
  off it is and a hint, the expected answer computed by ``lrlab`` and never shown;
- :func:`chapter_text` / :func:`sentences`: a chapter's own prose, for the hidden checks of
  what its text claims.

>>> from lrlab import classroom
>>> classroom.check("quadratic-ex-seong", None).verdict
'no answer'
"""

from __future__ import annotations

from lrlab.classroom.notebooks import solution_only_names, strip_solutions, write_student_notebooks
from lrlab.classroom.prose import chapter_text, sentences
from lrlab.classroom.selfcheck import Exercise, Feedback, check, exercise, registered

__all__ = [
    "Exercise",
    "Feedback",
    "chapter_text",
    "check",
    "exercise",
    "registered",
    "sentences",
    "solution_only_names",
    "strip_solutions",
    "write_student_notebooks",
]
