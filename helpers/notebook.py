"""Notebook niceties: a lab error shows as its short message, not as a traceback."""
from __future__ import annotations

from .errors import LabError


def _show_lab_error(shell, etype, value, tb, tb_offset=None):
    print(f"{etype.__name__}: {value}")
    return None


def install_error_display() -> None:
    """In IPython, print `LabError`s as their message alone (the cause stays on ``__cause__``)."""
    try:
        shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return
    shell.set_custom_exc((LabError,), _show_lab_error)
