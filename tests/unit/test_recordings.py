"""The notebooks' recordings: safe to publish, complete, and from the same run as the stored outputs.

Drift check: `make test` runs every notebook live under nbval (live answers == stored outputs) and
again in replay (recorded answers == stored outputs). The last test here ties the two together by
showing the stored outputs and the recording come from one `make record` run.
"""
from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import nbformat
import pytest
import requests

from helpers import errors
from helpers.recording import RECORDINGS, ReplayEngine, _key
from tests.unit.test_notebooks import BOOKS

ROOT = Path(__file__).resolve().parents[2]
SECRETS = re.compile("|".join([re.escape(str(ROOT)), re.escape(tempfile.gettempdir() + "/layer-lab"), "/var/lib/docker",
                               r"passw(or)?d\W*[:=]", r'"(identity)?token"\s*:', "authorization", "x-registry-auth",
                               r"BEGIN [A-Z ]*(KEY|CERTIFICATE)"]), re.IGNORECASE)
"""Host paths of the recording machine, and credentials; paths inside images (/root/.bashrc) are fine."""


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_a_recording_with_its_provenance(book):
    meta = json.loads((RECORDINGS / f"{book.stem}.json").read_text())["meta"]
    assert meta["notebook"] == book.stem
    for field in ("recorded", "engine", "api", "builder", "storage_driver", "base_image", "registry", "workspace"):
        assert meta[field], field


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_recordings_hold_no_secrets_or_host_paths(book):
    text = (RECORDINGS / f"{book.stem}.json").read_text()
    assert not SECRETS.search(text), SECRETS.search(text)


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_the_recorded_run(book):
    workspace = json.loads((RECORDINGS / f"{book.stem}.json").read_text())["meta"]["workspace"]
    setup = nbformat.read(book, 4).cells[2]
    assert workspace in json.dumps(setup.outputs), "run `make record` to store outputs and recording together"


def replay(calls):
    meta = {"registry": "localhost:5000", "recorded": "today"}
    return ReplayEngine({"meta": meta, "calls": [dict(c, key=_key(*c.pop("call"))) for c in calls]}, "test")


def test_replay_answers_in_recorded_order_and_repeats_the_last():
    engine = replay([{"call": ("monotonic", (), {}), "result": 1.0}, {"call": ("monotonic", (), {}), "result": 2.5}])
    assert [engine.monotonic() for _ in range(3)] == [1.0, 2.5, 2.5]


def test_replay_raises_what_was_raised():
    engine = replay([{"call": ("http_get", ("http://127.0.0.1:5001/",), {"timeout": 1}), "raise": "ConnectionError",
                      "message": "refused", "problem": "refused"},
                     {"call": ("inspect_image", ("x:v1",), {}), "raise": "ImageMissing",
                      "message": "no x:v1\n  What to do: build it", "problem": "no x:v1"}])
    with pytest.raises(requests.ConnectionError):
        engine.http_get("http://127.0.0.1:5001/", timeout=1)
    with pytest.raises(errors.ImageMissing, match="What to do"):
        engine.inspect_image("x:v1")


def test_replay_ignores_the_build_context_folder_but_not_the_tag():
    engine = replay([{"call": ("build", ("/recorded/path", "x:v1", {}), {}), "result": [[0.1, {"stream": "x"}]]}])
    assert list(engine.build("/another/machine", "x:v1", {})) == [(0.1, {"stream": "x"})]
    with pytest.raises(errors.RecordingMissing, match=r"build\('x:v2'"):
        list(engine.build("/another/machine", "x:v2", {}))
