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

from helpers import errors
from helpers.recording import RECORDINGS, RecordingEngine, ReplayEngine, _key, read, recording_path
from tests.unit.test_notebooks import BOOKS

ROOT = Path(__file__).resolve().parents[2]
SECRETS = re.compile("|".join([re.escape(str(ROOT)), re.escape(tempfile.gettempdir() + "/layer-lab"),
                               r"/var/lib/docker/(?!overlay2/)", r"passw(or)?d\W*[:=]", r'"(identity)?token"\s*:',
                               "authorization", "x-registry-auth", r"BEGIN [A-Z ]*(KEY|CERTIFICATE)"]), re.IGNORECASE)
"""Host paths of the recording machine, and credentials; paths inside images (/root/.bashrc) are fine, and so are
the layer folders a container's overlay mount names (notebook 03 shows them: the same on every Docker host)."""


BUILDERS = ("classic", "buildkit")
RUNS = [(book, builder) for book in BOOKS for builder in BUILDERS]


def ids(run) -> str:
    return f"{run[0].stem}-{run[1]}" if isinstance(run, tuple) else str(run)


@pytest.mark.parametrize("run", RUNS, ids=ids)
def test_every_notebook_has_a_recording_per_builder_with_its_provenance(run):
    book, builder = run
    meta = read(recording_path(book.stem, builder))["meta"]
    assert meta["notebook"] == book.stem and meta["builder"] == builder
    for field in ("recorded", "engine", "api", "storage_driver", "base_image", "registry", "workspace"):
        assert meta[field], field


@pytest.mark.parametrize("run", RUNS, ids=ids)
def test_recordings_hold_no_secrets_or_host_paths(run):
    text = recording_path(run[0].stem, run[1]).read_text()
    assert not SECRETS.search(text), SECRETS.search(text)


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_the_recorded_classic_run(book):
    workspace = read(recording_path(book.stem, "classic"))["meta"]["workspace"]
    setup = nbformat.read(book, 4).cells[3]
    assert workspace in json.dumps(setup.outputs), "run `make record` to store outputs and recording together"


def test_only_the_recordings_of_todays_notebooks_are_kept():
    expected = {recording_path(book.stem, builder).name for book, builder in RUNS}
    assert {p.name for p in RECORDINGS.iterdir()} == expected


def test_a_layer_list_is_stored_once_and_read_back_in_full(tmp_path):
    layer = {"diff_id": "sha256:aa", "entries": [["/bin", 0, "link"]]}
    path = tmp_path / "r.jsonl"
    recorder = RecordingEngine(type("Fake", (), {"registry": "r", "layer_files": lambda self, image: {
        "image": image, "layout": "classic", "layers": [layer]}})(), path, {"registry": "r"})
    recorder.layer_files("x:1"), recorder.layer_files("x:2")
    assert path.read_text().count("/bin") == 1
    assert [c["result"]["layers"] for c in read(path)["calls"]] == [[layer], [layer]]


def replay(calls):
    meta = {"registry": "localhost:5000", "recorded": "today"}
    return ReplayEngine({"meta": meta, "calls": [dict(c, key=_key(*c.pop("call"))) for c in calls]}, "test")


def test_replay_answers_in_recorded_order_and_repeats_the_last():
    engine = replay([{"call": ("monotonic", (), {}), "result": 1.0}, {"call": ("monotonic", (), {}), "result": 2.5}])
    assert [engine.monotonic() for _ in range(3)] == [1.0, 2.5, 2.5]


def test_replay_raises_what_was_raised():
    engine = replay([{"call": ("http_get", ("http://127.0.0.1:5001/",), {"timeout": 1}), "raise": "NotAnswering",
                      "message": "Nothing answers", "attributes": {"problem": "Nothing answers"}},
                     {"call": ("inspect_image", ("x:v1",), {}), "raise": "ImageMissing",
                      "message": "no x:v1\n  What to do: build it", "attributes": {"problem": "no x:v1"}}])
    with pytest.raises(errors.NotAnswering):
        engine.http_get("http://127.0.0.1:5001/", timeout=1)
    with pytest.raises(errors.ImageMissing, match="What to do"):
        engine.inspect_image("x:v1")


def test_replay_ignores_the_build_context_folder_but_not_the_tag():
    engine = replay([{"call": ("build", ("/recorded/path", "x:v1", {}), {}), "result": [[0.1, {"stream": "x"}]]}])
    assert list(engine.build("/another/machine", "x:v1", {})) == [(0.1, {"stream": "x"})]
    with pytest.raises(errors.RecordingMissing, match=r"build\('x:v2'"):
        list(engine.build("/another/machine", "x:v2", {}))
