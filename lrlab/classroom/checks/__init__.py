"""The self-checks of the book's exercises, one module per chapter.

Every module in this package is imported on the first :func:`lrlab.classroom.check`; each
registers its exercises with :func:`lrlab.classroom.selfcheck.exercise`. A new chapter adds
a module here (named after the chapter) and nothing else.
"""
