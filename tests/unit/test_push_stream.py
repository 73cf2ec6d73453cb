"""The engine's push stream, parsed from recordings, with sizes joined from the registry manifest."""
from __future__ import annotations

import pytest
import requests

from helpers.engine import Engine
from helpers.errors import CredentialsRejected, EngineUnavailable, PushFailed, RegistryUnavailable
from helpers.push import join_manifest, parse_push_stream, resolve_index
from tests.conftest import DATA, load, recorded

PUSHES = recorded("push_", without=("_missing_tag",))


@pytest.mark.parametrize("name", PUSHES)
def test_every_recorded_push_has_one_outcome_per_layer(name):
    report = parse_push_stream("repo", "v", load(name))
    top = DATA / f"manifest_{name.removeprefix('push_')}.json"
    index = top.is_file() and "manifests" in load(top.stem).get("manifest", {})  # buildx on the containerd store
    assert len(report.rows) == 3 + index  # an index holds the image's provenance attestation, pushed beside it
    assert {r.outcome for r in report.rows} <= {"pushed", "exists", "mounted"}
    assert report.digest.startswith("sha256:")  # the aux record on overlay2, the last status line on containerd


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


def test_containerd_push_rows_are_joined_by_their_compressed_digest():
    """The containerd store names a layer in the push stream by its compressed blob's digest, not its diff_id."""
    for tag in ("v1", "v2"):
        inspect, manifest = load(f"inspect_{tag}_containerd"), load(f"manifest_{tag}_containerd")
        report = parse_push_stream("repo", tag, load(f"push_{tag}_containerd"))
        assert not {r.id for r in report.rows} & {d[7:19] for d in inspect["RootFS"]["Layers"]}  # not by diff_id
        report = join_manifest(report, inspect["RootFS"]["Layers"], manifest)
        assert [r.diff_id for r in report.rows] == inspect["RootFS"]["Layers"]
        assert [r.digest for r in report.rows] == [blob["digest"] for blob in manifest["layers"]]
        assert report.digest.startswith("sha256:")
    assert [r.outcome for r in report.rows] == ["exists", "exists", "pushed"] and report.uploaded_bytes < 1_000


def test_an_index_resolves_to_the_platform_manifest_and_its_attestation():
    top = load("manifest_buildkit_rawjson_v2_containerd")
    image, attestations = resolve_index(top["manifest"], {"os": "linux", "architecture": "amd64"})
    assert image == load("manifest_buildkit_rawjson_v2_image_containerd")["digest"]
    assert attestations == [load("manifest_buildkit_rawjson_v2_attestation_containerd")["digest"]]
    assert resolve_index(load("manifest_v2"), {"os": "linux", "architecture": "amd64"}) == (None, [])


def test_an_attestation_blob_is_a_row_of_its_own_not_a_layer():
    report = parse_push_stream("repo", "v2", load("push_buildkit_rawjson_v2_containerd"))
    layers = load("inspect_buildkit_rawjson_v2_containerd")["RootFS"]["Layers"]
    report = join_manifest(report, layers, load("manifest_buildkit_rawjson_v2_image_containerd")["manifest"],
                           [load("manifest_buildkit_rawjson_v2_attestation_containerd")["manifest"]])
    assert [r.kind for r in report.rows] == ["layer", "layer", "layer", "attestation"]
    assert [r.diff_id for r in report.layers] == layers and report.rows[-1].diff_id is None
    assert len(report.layers) == 3 and "(and 1 attestation)" in report.title
    assert report.digest == load("manifest_buildkit_rawjson_v2_containerd")["digest"]
