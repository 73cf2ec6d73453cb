"""Shared test fixtures: recorded engine payloads, the rule that live tests fail in CI, and the
learner's own objects, planted before the whole session and checked intact after it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers.cleanup import ANY_WORKSPACE, CONTAINER_LABEL

DATA = Path(__file__).parent / "data"


def load(name: str):
    """A recorded payload from tests/data; streams come back as lists of (seconds, chunk) tuples."""
    payload = json.loads((DATA / f"{name}.json").read_text())
    if isinstance(payload, list) and payload and isinstance(payload[0], list):
        return [tuple(event) for event in payload]
    return payload


CONTAINERD = "_containerd"
"""The end of the names of payloads recorded on an engine with the containerd image store."""


def recorded(prefix: str, without: tuple[str, ...] = ()) -> list[str]:
    """Names of every recorded file starting with ``prefix``, from either store, so parser tests run over all of
    them; but those whose name (the store's suffix aside) ends with one of ``without``."""
    names = sorted(p.stem for p in DATA.glob(f"{prefix}*.json"))
    return [n for n in names if not without or not n.removesuffix(CONTAINERD).endswith(without)]


def engine_required() -> bool:
    return os.environ.get("LAYER_LAB_REQUIRE_ENGINE") == "1" or os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def pytest_sessionstart(session):
    """Plant a learner's own image, containers, volume and files before anything of the lab runs."""
    session.config.learner = None
    try:
        import docker

        from helpers.settings import load as load_settings
        from tests.learner import LearnerObjects

        client = docker.from_env()
        client.ping()
        if client.images.list(name=load_settings().base_image):
            session.config.learner = LearnerObjects(client, load_settings().base_image)
    except Exception as e:  # no engine: a replay or unit-only session has nothing to plant
        if engine_required():
            raise
        print(f"learner objects not planted: {e}")


def pytest_sessionfinish(session, exitstatus):
    """Fail the session if any learner object changed, or a lab container or image made during it is left."""
    learner = getattr(session.config, "learner", None)
    if learner is None:
        return
    problems = learner.problems()
    started = learner.started
    leftovers = [c.name for c in learner.client.containers.list(all=True, filters={"label": CONTAINER_LABEL})
                 if _created(c) >= started]
    leftovers += [(i.tags or [i.short_id])[0] for i in learner.client.images.list(all=True)
                  if _created(i) >= started and (not i.tags or any(ANY_WORKSPACE.match(t.split("/")[-2])
                                                                   for t in i.tags if "/" in t))]
    learner.remove()
    if leftovers:
        problems.append(f"lab containers or lab images made during the suite are still there: {leftovers}")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        reporter.write_line("LEARNER OBJECTS OR LEFTOVERS: " + "; ".join(problems), red=True)
        session.exitstatus = 1
    else:
        reporter.write_line(f"learner objects checked intact after the session: {learner.count} of "
                            f"{learner.count}; no lab container or lab image made during it is left")


def _created(thing) -> float:
    import datetime
    stamp = thing.attrs["Created"][:26].rstrip("Z")
    return datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.UTC).timestamp()
