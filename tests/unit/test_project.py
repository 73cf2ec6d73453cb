"""A folder of one's own as the lab reads and copies it: what the context sends, what .dockerignore keeps out,
and the copies the lab edits (the folder itself untouched)."""
from __future__ import annotations

import os

import pytest

from helpers import project as project_module
from helpers.errors import BadInput
from helpers.workspace import MARK, Workspace


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "app"
    for path, text in {"Dockerfile": "FROM x\nCOPY . .\n", ".dockerignore": "# notes\nnotes/\n*.log\n!keep.log\n",
                       "src/main.py": "print(1)\n", "src/util.py": "", "requirements.txt": "flask\n",
                       "notes/a.md": "a", "debug.log": "x" * 10, "keep.log": "k"}.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    os.symlink("src/main.py", root / "link.py")
    os.utime(root / "src/util.py", (1, 1))
    return root


@pytest.fixture
def opened(folder, tmp_path):
    return project_module.open_project(folder, Workspace(root=tmp_path / "ws", name="lab-abc123"))


def test_the_context_sends_what_the_cli_would_and_names_the_rule_that_kept_the_rest_out(opened):
    out = {r.path: r.rule for r in opened.rows if not r.sent}
    assert out == {"debug.log": "*.log", "notes": "notes"}
    assert "keep.log" in opened.sent and "link.py" in opened.sent and "src/main.py" in opened.sent
    assert opened.title == "docker build app: 6 files sent (63 B), 2 entries kept out by .dockerignore"
    assert list(opened.frame["sent"])[:3] == ["sent", "sent", "kept out by '*.log'"]


def test_the_copy_holds_only_what_is_sent_marked_as_the_workspaces(opened, folder):
    copied = sorted(str(p.relative_to(opened.folder)) for p in opened.folder.rglob("*"))
    assert copied == sorted(opened.sent)
    assert os.readlink(opened.folder / "link.py") == "src/main.py"
    assert os.getxattr(opened.folder / "src/main.py", MARK) == b"lab-abc123"
    assert opened.folder.parent.parent.name == "lab-abc123" and folder not in opened.folder.parents


def test_an_edit_changes_the_copy_only_and_only_a_sent_file(opened, folder):
    assert opened.edit("src/main.py") == "src/main.py"
    assert (opened.folder / "src/main.py").read_text() == "print(1)\n\n"
    assert (folder / "src/main.py").read_text() == "print(1)\n"
    for path in ("notes/a.md", "src", "missing.py"):
        with pytest.raises(BadInput, match="is not a file the build context of app sends"):
            opened.edit(path)


def test_the_twin_is_a_second_copy_with_its_own_dockerfile(opened):
    twin = opened.twin("advised", "FROM y\n")
    assert twin.text == "FROM y\n" and opened.text == "FROM x\nCOPY . .\n"
    assert (twin.folder / "src/main.py").read_text() == (opened.folder / "src/main.py").read_text()
    assert twin.folder.name == "advised" and twin.folder.parent == opened.folder.parent


def test_the_edits_the_lab_picks_are_the_newest_code_then_a_dependency_list(opened):
    assert opened.edits[-1] == "requirements.txt"
    assert "src/util.py" not in opened.edits[:2] and len(opened.edits) == 3  # the oldest file comes last


def test_the_sample_project_and_its_edits(tmp_path):
    sample = project_module.open_project(None, Workspace(root=tmp_path))
    assert sample.edits == list(project_module.SAMPLE_EDITS)
    assert set(sample.edits) <= set(sample.sent) and [r.path for r in sample.rows if not r.sent] == ["notes"]


def test_a_folder_without_its_dockerfile_is_named(folder, tmp_path):
    with pytest.raises(BadInput, match="There is no Dockerfile.dev"):
        project_module.open_project(folder, Workspace(root=tmp_path), "Dockerfile.dev")
    with pytest.raises(BadInput, match="does not exist"):
        project_module.open_project(tmp_path / "nope", Workspace(root=tmp_path))


def test_a_context_with_nothing_to_edit_says_how_to_name_the_edits(tmp_path):
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "Dockerfile").write_text("FROM x\n")
    bare = project_module.open_project(tmp_path / "bare", Workspace(root=tmp_path / "ws"))
    with pytest.raises(BadInput, match="sends no file but the Dockerfile"):
        assert not bare.edits
