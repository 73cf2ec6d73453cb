"""Notebook niceties: a lab error shows as its short message, not as a traceback."""
from __future__ import annotations

from .errors import LabError


def _show_lab_error(shell, etype, value, tb, tb_offset=None):
    """Show the error as the notebook's error output, its "traceback" only the message: the learner reads
    one short paragraph, and nbval, papermill and "Run All" still see that the cell failed."""
    shell._showtraceback(etype, value, [f"{etype.__name__}: {value}"])


def install_error_display() -> None:
    """In IPython, show `LabError`s as their message alone (the cause stays on ``__cause__``)."""
    try:
        shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return
    shell.set_custom_exc((LabError,), _show_lab_error)
