"""A live run recorded at the engine boundary replays to the same reports, through the same code."""
from __future__ import annotations

import pytest

from helpers import recording
from helpers.lab import Lab
from helpers.workspace import Workspace

pytestmark = pytest.mark.live


def workshop(lab: Lab) -> dict:
    lab.write_dockerfile()
    lab.write_app("hello world!")
    v1 = lab.build("v1", nocache=True)
    app = lab.run(v1.tag)
    answer = lab.get(app)
    p1 = lab.push(v1.tag)
    lab.cleanup()
    return {"build": v1.frame.to_dict(), "answer": answer, "push": p1.frame.to_dict(), "seconds": app.seconds}


def test_replay_of_a_recording_gives_the_same_reports(engine, lab, tmp_path):
    path = tmp_path / "round-trip.jsonl"
    meta = recording.meta_for(engine, "round-trip", lab.workspace.name, lab.base_image)
    live = workshop(Lab(recording.RecordingEngine(engine, path, meta), lab.settings, lab.workspace))
    replayed = recording.ReplayEngine(recording.read(path), "round-trip")
    again = workshop(Lab(replayed, lab.settings, Workspace(root=tmp_path, name=lab.workspace.name)))
    assert again == live
    assert live["answer"] == "hello world!" and live["seconds"] > 0
