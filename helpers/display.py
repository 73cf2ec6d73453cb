"""How reports look in JupyterLab: compact HTML tables, reused work marked by colour and by text."""
from __future__ import annotations

import html

import pandas as pd

REUSED_BG, NEW_BG = "#deebf7", "#fee6ce"
"""Light forms of the charts' blue (reused) and orange (new)."""
BYTES = {"size", "compressed", "uploaded", "saved", "size_rw", "size_root_fs", "size_before", "size_after", "wasted"}
"""Columns that hold byte counts, shown like the docker CLI shows sizes."""
REUSED = {"exists", "mounted"}


def short_name(image: str) -> str:
    """An image's name as a learner reads it, without the registry host and the workspace's namespace in front
    (``localhost:5000/lab-1a2b3c/python-hello-world:v2`` -> ``python-hello-world:v2``)."""
    return image.rsplit("/", 1)[-1]


def ago(seconds: float) -> str:
    """A time span as the docker CLI writes CREATED (``5 minutes ago``, ``About an hour ago``): go-units'
    ``HumanDuration``, its steps and roundings."""
    whole, minutes, hours = int(seconds), int(seconds // 60), int(seconds / 3600 + 0.5)
    if whole < 1:
        text = "Less than a second"
    elif whole == 1:
        text = "1 second"
    elif whole < 60:
        text = f"{whole} seconds"
    elif minutes == 1:
        text = "About a minute"
    elif minutes < 60:
        text = f"{minutes} minutes"
    elif hours == 1:
        text = "About an hour"
    elif hours < 48:
        text = f"{hours} hours"
    elif hours < 24 * 7 * 2:
        text = f"{hours // 24} days"
    elif hours < 24 * 30 * 2:
        text = f"{hours // 24 // 7} weeks"
    elif hours < 24 * 365 * 2:
        text = f"{hours // 24 // 30} months"
    else:
        text = f"{int(seconds / 3600 / 24 / 365)} years"
    return f"{text} ago"


def human(nbytes: int | float | None) -> str:
    """``nbytes`` as the docker CLI shows sizes (1000-based): ``161 B``, ``4.9 MB``."""
    if nbytes is None or pd.isna(nbytes):
        return ""
    if nbytes < 1000:
        return f"{int(nbytes)} B"
    value = float(nbytes)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if round(value, 1) < 1000 or unit == "GB":
            return f"{value:.1f} {unit}"


def _cell(column: str, value) -> str:
    if value is None or (not isinstance(value, (list, str)) and pd.isna(value)):
        return ""
    if column in BYTES:
        return html.escape(human(value))
    if isinstance(value, bool):
        return ("cached" if value else "rebuilt") if column == "cached" else ("yes" if value else "no")
    if isinstance(value, float):
        return f"{value:.2f}"
    text = str(value)
    if text.startswith("sha256:") and len(text) > 19:
        return f'<span title="{html.escape(text)}">{html.escape(text[:19])}…</span>'
    return html.escape(text)


def _reused(row: pd.Series) -> bool | None:
    """Whether a row stands for reused work (cache hit, layer the registry had, shared layer)."""
    for column in ("cached", "shared"):
        if column in row and isinstance(row[column], bool):
            return row[column]
    for column in ("outcome", "push"):
        if column in row and isinstance(row[column], str):
            return row[column] in REUSED
    return None


def html_table(title: str, frame: pd.DataFrame) -> str:
    """``frame`` as a compact, left-aligned table under ``title``; reused rows blue, new ones orange."""
    cell = "text-align:left;padding:2px 8px;border-bottom:1px solid #ddd;vertical-align:top"
    head = "".join(f'<th style="{cell}">{html.escape(c)}</th>' for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        reused = _reused(row)
        colour = "" if reused is None else f' style="background:{REUSED_BG if reused else NEW_BG}"'
        rows.append(f"<tr{colour}>" + "".join(f'<td style="{cell}">{_cell(c, row[c])}</td>' for c in frame.columns)
                    + "</tr>")
    return (f"<p><b>{html.escape(title)}</b></p><table style=\"border-collapse:collapse;font-size:12px\">"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
