"""The notebooks follow the handout's shape, and their repeated cells come from the chrome script."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def test_navigation_cells_are_up_to_date():
    result = subprocess.run([sys.executable, "scripts/notebook_chrome.py", "--check"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + "\nrun: python scripts/notebook_chrome.py"


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.name)
def test_handout_shape(path):
    cells = nbformat.read(path, 4).cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ") and "\n" not in cells[0].source
    assert cells[1].cell_type == "markdown" and len(cells[1].source) < 600
    assert cells[2].cell_type == "code" and cells[2].source.startswith("BUILDER = None  #")
    assert cells[2].metadata.get("tags") == ["parameters"], "papermill and the tests set BUILDER here"
    assert f"helpers.connect(\"{path.stem}\", builder=BUILDER)" in cells[3].source
    code = [c for c in cells if c.cell_type == "code"]
    assert all(len(c.source.splitlines()) <= 8 for c in code), "keep code cells short; move logic to helpers"
    assert all(c.execution_count for c in code), "store outputs from a real run of the whole notebook"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert "lab.cleanup()" in code[-1].source


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.name)
def test_every_lesson_is_checked_in_a_cell_that_nbval_compares(path):
    cells = nbformat.read(path, 4).cells
    checks = [c for c in cells if c.cell_type == "code" and "assert " in c.source]
    if path.name.startswith("00"):
        return
    assert len(checks) >= 3
    assert all("nbval-ignore-output" not in c.metadata.get("tags", []) for c in checks)
