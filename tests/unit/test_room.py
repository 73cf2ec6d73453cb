"""The instructor's view of a room, read from the notes each learner's lab keeps in its workspaces."""
from __future__ import annotations

from helpers.room import progress
from helpers.workspace import PROGRESS, Workspace


def test_each_learners_latest_notebook_and_last_step(tmp_path):
    ana = Workspace(tmp_path / "layer-lab-ana", "lab-000001")
    for action, subject in (("build", "python-hello-world:v1"), ("build", "python-hello-world:v2"),
                            ("push", "python-hello-world:v2")):
        ana.note("02-deploy-a-change", action, subject)
    ben = Workspace(tmp_path / "layer-lab-ben", "lab-000002")
    ben.note("01-build-run-push", "build", "python-hello-world:v1")
    ben.note("01-build-run-push", "cleanup", "everything of the notebook's")
    older = Workspace(tmp_path / "layer-lab-ben", "lab-000003")
    (older.path / PROGRESS).write_text('{"time": 1, "notebook": "00-start-here", "action": "cleanup", '
                                       '"subject": "x"}\nnot json\n')
    room = progress(tmp_path)
    rows = {r.learner: r for r in room.rows}
    assert rows["ana"].notebook == "02-deploy-a-change" and rows["ana"].reached == "push python-hello-world:v2"
    assert rows["ben"].notebook == "01-build-run-push" and rows["ben"].reached == "finished"
    assert [r.learner for r in room.rows] == ["ana", "ben"]  # furthest behind first
    assert room.title == "the room: 2 learners, 1 finished their latest notebook"


def test_an_empty_room(tmp_path):
    assert progress(tmp_path).rows == []
