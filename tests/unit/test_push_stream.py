"""The engine's push stream, parsed from recordings, with sizes joined from the registry manifest."""
from __future__ import annotations

import pytest
import requests

from helpers.engine import Engine
from helpers.errors import CredentialsRejected, EngineUnavailable, PushFailed, RegistryUnavailable
from helpers.push import join_manifest, parse_push_stream
from tests.conftest import load, recorded

PUSHES = [n for n in recorded("push_") if n != "push_missing_tag"]


@pytest.mark.parametrize("name", PUSHES)
def test_every_recorded_push_has_one_outcome_per_layer(name):
    report = parse_push_stream("repo", "v", load(name))
    assert len(report.rows) == 3
    assert {r.outcome for r in report.rows} <= {"pushed", "exists", "mounted"}
    assert report.digest.startswith("sha256:")


def joined(name, image):
    report = parse_push_stream("repo", "v", load(f"push_{name}"))
    return join_manifest(report, load(f"inspect_{image}")["RootFS"]["Layers"], load(f"manifest_{image}"))


def test_first_push_uploads_every_layer_base_first():
    report = joined("v1", "v1")
    assert [r.outcome for r in report.rows] == ["pushed"] * 3
    assert [r.diff_id for r in report.rows] == load("inspect_v1")["RootFS"]["Layers"]
    assert report.uploaded_bytes == sum(layer["size"] for layer in load("manifest_v1")["layers"])


def test_push_after_change_uploads_only_the_copy_layer():
    report = joined("v2", "v2")
    assert [r.outcome for r in report.rows] == ["exists", "exists", "pushed"]
    assert report.count("pushed") == 1
    assert report.uploaded_bytes < 1_000 < report.reused_bytes


def test_push_to_another_repository_mounts_instead_of_uploading():
    report = joined("v2_mounted", "v2")
    assert report.count("mounted") == 3 and report.uploaded_bytes == 0
    assert all(r.mounted_from and r.mounted_from.endswith("/python-hello-world") for r in report.rows)


def test_error_inside_a_200_stream_raises():
    with pytest.raises(PushFailed, match="does not exist locally"):
        parse_push_stream("repo", "v9", load("push_missing_tag"))


def test_stream_that_stops_before_an_outcome_raises():
    events = [(0.0, {"status": "Preparing", "id": "aaaaaaaaaaaa"})]
    with pytest.raises(PushFailed, match="without an outcome"):
        parse_push_stream("repo", "v", events)


@pytest.mark.parametrize("message, error, says", [
    ("denied: requested access to the resource is denied", PushFailed, "Push to a repository of your own"),
    ("no basic auth credentials", CredentialsRejected, "lab.login"),
    ('Get "http://localhost:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused', RegistryUnavailable,
     "make up"),
])
def test_push_errors_are_named_by_what_the_learner_can_do(message, error, says):
    events = [(0.0, {"status": "The push refers to repository [r]"}),
              (0.1, {"errorDetail": {"message": message}, "error": message})]
    with pytest.raises(error) as err:
        parse_push_stream("r", "v1", events)
    assert says in str(err.value) and type(err.value) is error


class BrokenPush:
    """An engine API whose push stream breaks after one chunk; ``ping`` answers as ``engine_alive`` says."""

    def __init__(self, engine_alive: bool):
        self.engine_alive = engine_alive

    def push(self, repository, tag, stream, decode):
        yield {"status": "Preparing", "id": "abc"}
        raise requests.exceptions.ConnectionError("connection reset")

    def ping(self):
        if not self.engine_alive:
            raise requests.exceptions.ConnectionError("refused")
        return True


@pytest.mark.parametrize("engine_alive, error", [(True, RegistryUnavailable), (False, EngineUnavailable)])
def test_a_push_stream_that_breaks_off_names_who_went_away(engine_alive, error):
    engine = Engine.__new__(Engine)
    engine.api = BrokenPush(engine_alive)
    with pytest.raises(error, match="localhost:5000/x:v1") as err:
        list(engine.push("localhost:5000/x", "v1"))
    assert type(err.value) is error
