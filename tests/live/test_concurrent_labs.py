"""Two labs at once on one engine and one registry, as two notebooks or two test runs would be: with the
classic builder neither serves nor spoils the other's cache, and each `v2` still pushes one layer."""
from __future__ import annotations

import threading

import pytest

from helpers import store
from helpers.engine import Engine
from helpers.lab import Lab
from helpers.settings import Settings, load
from helpers.workspace import Workspace
from tests.throwaway import throwaway_registry

pytestmark = pytest.mark.live


STAMPED = 'FROM {base}\nRUN pip install flask && date +%s%N > /built-at\nCMD ["python","app.py"]\nCOPY app.py /app.py\n'
"""The workshop's Dockerfile, its install layer made unique per build (pip's own layer is byte-identical
from build to build), and the same in both labs: so either lab's build could serve the other's cache."""


def workshop(lab: Lab, results: dict, key: int) -> None:
    try:
        lab.write_dockerfile(STAMPED.format(base=lab.base_image))
        lab.write_app("hello world!")
        v1 = lab.build("v1", nocache=True)
        lab.push(v1.tag)
        lab.write_app("hello beautiful world!")
        v2 = lab.build("v2", explain=True)
        results[key] = (v1, v2, lab.push(v2.tag))
    except Exception as e:  # reported by the test, with the lab it happened in
        results[key] = e


@pytest.fixture
def own_registry():
    """A registry of this test's own: the session's must stay empty for the first-push tests."""
    with throwaway_registry() as address:
        yield address


def test_two_labs_at_once_each_reuse_only_their_own_builds(engine, own_registry):
    if store.kind(engine.info()) == store.CONTAINERD:
        pytest.skip("on the containerd store the classic builder cannot keep labs apart: --cache-from meets an "
                    "engine bug there, so the engine's own cache (the newest image on a parent) serves")
    labs = [Lab(Engine(own_registry), Settings(own_registry, load().base_image, "tests"), Workspace())
            for _ in range(2)]
    results: dict = {}
    threads = [threading.Thread(target=workshop, args=(lab, results, n)) for n, lab in enumerate(labs)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        for n, lab in enumerate(labs):
            assert not isinstance(results[n], Exception), f"{lab.workspace.name}: {results[n]!r}"
            v1, v2, p2 = results[n]
            assert v2.why.all_agree, v2.why.frame.to_string()
            assert v2.step("RUN").cached and v2.step("RUN").diff_id == v1.step("RUN").diff_id
            # the COPY layer is new to the repository: uploaded, or mounted when the other lab's app.py, the same
            # text written in the same second, made the very same layer (the registry links it, content-addressed)
            assert [r.outcome for r in p2.rows][1] == "exists" and p2.rows[2].outcome in ("pushed", "mounted")
        assert results[0][0].step("RUN").diff_id != results[1][0].step("RUN").diff_id, "each lab built its own"
    finally:
        for lab in labs:
            lab.cleanup()
