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


def outputs(path: Path) -> list[str]:
    """Every stored output's text (streams, plain text and HTML) of a notebook."""
    found = []
    for cell in nbformat.read(path, 4).cells:
        for out in cell.get("outputs", []):
            found.append(out.get("text", "") + "".join(str(v) for k, v in out.get("data", {}).items()
                                                         if k.startswith("text/")))
    return found


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.name)
def test_the_page_shows_docker_not_the_labs_machinery(path):
    """No lab header line in the files a learner reads, no LABEL step of the lab's in what Docker printed."""
    text = "\n".join(outputs(path))
    assert "keeps other runs' builds from serving" not in text and "LABEL layer-lab" not in text
    assert "layer-lab=lab-" not in text


@pytest.mark.parametrize("name", ["01-build-run-push", "02-deploy-a-change"])
def test_the_workshops_step_lines_count_the_dockerfiles_instructions(name):
    """`Step k/M` as the workshop prints it: M is the number of instructions of the Dockerfile that was built."""
    import re
    cells = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", 4).cells
    printed = [o["text"] for c in cells for o in c.get("outputs", []) if "Step 1/" in o.get("text", "")]
    assert printed, "show what the classic builder printed right after the build"
    dockerfile = next(o["text"] for c in cells for o in c.get("outputs", []) if o.get("text", "").startswith("FROM "))
    instructions = len([line for line in dockerfile.splitlines() if line.strip()])
    for text in printed:
        totals = {int(m) for m in re.findall(r"^Step \d+/(\d+) :", text, re.M)}
        assert totals == {instructions}, f"Step k/M with M = {totals}, the Dockerfile has {instructions} lines"


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.name)
def test_guesses_start_empty(path):
    import ast
    for cell in nbformat.read(path, 4).cells:
        if cell.cell_type == "code" and cell.source.startswith("my_") and "guess" in cell.source.split("=")[0]:
            guess = ast.literal_eval(cell.source.split("=", 1)[1].strip())
            assert guess and all(value is None for value in guess.values()), f"a pre-filled guess: {cell.source}"


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.name)
def test_every_notebook_closes_with_what_you_measured(path):
    cells = nbformat.read(path, 4).cells
    heading = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source == "## What you measured"]
    assert heading and heading[0] >= len(cells) - 6, "a closing 'What you measured' section"
    summary = cells[heading[0] + 1]
    assert summary.cell_type == "code" and summary.source.count("print(") >= 2 and summary.outputs
