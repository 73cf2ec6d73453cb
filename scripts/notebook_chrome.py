#!/usr/bin/env python3
"""Write the cells every notebook repeats (navigation bar and Binder link, at the end) from one place.

`python scripts/notebook_chrome.py` updates the notebooks in place; `--check` only reports
notebooks whose repeated cells are out of date (the unit tests run it).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TAG = "chrome-nav"
BINDER = "https://mybinder.org/v2/gh/layer-lab/layer-lab/HEAD?urlpath=lab/tree/notebooks/{name}"


def titles() -> list[tuple[str, str]]:
    """(file name, title) of every notebook, in order; the title is cell 0 without its `#`."""
    books = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    return [(p.name, nbformat.read(p, 4).cells[0].source.lstrip("# ").strip()) for p in books]


def nav_bar(index: int, books: list[tuple[str, str]]) -> str:
    parts = []
    if index > 0:
        parts.append(f"< [{books[index - 1][1]}]({books[index - 1][0]})")
    parts.append(f"[{books[0][1]}]({books[0][0]})" if index else "**the map is above**")
    if index + 1 < len(books):
        parts.append(f"[{books[index + 1][1]}]({books[index + 1][0]}) >")
    binder = f"[Launch this notebook on Binder]({BINDER.format(name=books[index][0])})"
    return "---\n" + " | ".join(parts) + f"\n\n{binder} (no Docker needed: it replays a recorded run)"


def apply(check: bool) -> list[str]:
    """Bring each notebook's navigation cell up to date; return the names that were (or would be) changed."""
    books = titles()
    stale = []
    for i, (name, _) in enumerate(books):
        path = NOTEBOOKS / name
        nb = nbformat.read(path, 4)
        cells = [c for c in nb.cells if TAG not in c.metadata.get("tags", [])]
        cell = nbformat.v4.new_markdown_cell(nav_bar(i, books), metadata={"tags": [TAG]})
        if [c.source for c in nb.cells[len(cells):]] != [cell.source] or nb.cells[-1].metadata.get("tags") != [TAG]:
            stale.append(name)
            if not check:
                nb.cells = cells + [cell]
                nbformat.write(nb, path)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    check = parser.parse_args().check
    stale = apply(check)
    for name in stale:
        print(f"{'out of date' if check else 'updated'}: {name}")
    return 1 if stale and check else 0

if __name__ == "__main__":
    sys.exit(main())
