"""A room of learners on one machine, as an instructor sees it: who reached which step of which notebook, read
from the notes each learner's lab keeps in its workspaces (`helpers.workspace.PROGRESS`)."""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .display import ago
from .report import FrameReport
from .workspace import PROGRESS

STEPS = {"01-build-run-push": ["build python-hello-world:v1", "run python-hello-world:v1",
                               "push python-hello-world:v1"],
         "02-deploy-a-change": ["build python-hello-world:v1", "build python-hello-world:v2",
                                "push python-hello-world:v2"]}
"""The workshop steps a notebook's notes show, in order (the rest count as done when the notebook cleans up)."""


@dataclass
class LearnerProgress:
    """One learner's latest notebook: how far it got, and when it last did something."""

    learner: str
    notebook: str
    reached: str
    """The last workshop step done (``push python-hello-world:v2``), or ``finished`` after its cleanup."""
    actions: int
    last: str
    """When the lab last did something for this learner, as the CLI writes times (``2 minutes ago``)."""


@dataclass(repr=False)
class Room(FrameReport):
    """Every learner's progress, one row each, who is furthest behind first."""

    rows: list[LearnerProgress]
    record = LearnerProgress

    @property
    def title(self) -> str:
        done = sum(r.reached == "finished" for r in self.rows)
        return f"the room: {len(self.rows)} learners, {done} finished their latest notebook"


def _notes(path: Path) -> list[dict]:
    entries = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue
    return entries


def progress(root: Path | None = None, now: float | None = None) -> Room:
    """The progress of every learner with workspaces under ``root`` (default: the machine's temp folder, where each
    user's lab keeps ``layer-lab-<user>/lab-xxxxxx/``).

    Args:
        root: the folder holding every user's ``layer-lab-<user>`` folder.
        now: the time to measure "last" against (seconds since the epoch); by default now.
    """
    root, now = Path(root or tempfile.gettempdir()), now or time.time()
    latest: dict[str, list[dict]] = {}
    for path in root.glob(f"layer-lab-*/lab-*/{PROGRESS}"):
        learner = path.parent.parent.name.removeprefix("layer-lab-")
        notes = _notes(path)
        if notes and (learner not in latest or notes[-1]["time"] > latest[learner][-1]["time"]):
            latest[learner] = notes
    rows = []
    for learner, notes in sorted(latest.items()):
        notebook = next((n["notebook"] for n in reversed(notes) if n.get("notebook")), "?")
        done = [f"{n['action']} {n['subject']}" for n in notes]
        steps = STEPS.get(notebook, [])
        reached = "finished" if notes[-1]["action"] == "cleanup" else \
            next((s for s in reversed(steps) if s in done), done[-1] if done else "started")
        rows.append(LearnerProgress(learner, notebook, reached, len(notes), ago(now - notes[-1]["time"])))
    rows.sort(key=lambda r: (r.reached == "finished", r.actions))
    return Room(rows)
