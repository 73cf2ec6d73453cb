"""BuildKit builds through each docker CLI here (rawjson and plain progress) on the real engine,
against the classic builder's reports."""
from __future__ import annotations

import copy

import pytest

from helpers.buildkit import join_history, parse_progress
from helpers.cli import build_clis, cli_build

pytestmark = pytest.mark.live
CLIS = {cli.progress: cli for cli in reversed(build_clis())}
"""The best CLI of each progress format here: a buildx (rawjson from 0.13 on) and a docker CLI older than 23 (plain)."""


def buildkit(lab, cli, tag, nocache=False, dockerfile="Dockerfile", args=None):
    image = lab.image(tag)
    events = cli_build(str(lab.workspace.path), image, dockerfile, nocache, args, lab.workspace.name, docker=cli)
    report = parse_progress(image, events, lab.workspace.read(dockerfile))
    return join_history(report, lab.history(image))


@pytest.fixture(scope="module", params=["rawjson", "plain"])
def cli(request):
    if request.param not in CLIS:
        pytest.skip(f"no docker CLI here prints {request.param} progress")
    return CLIS[request.param]


@pytest.fixture(scope="module")
def classic(lab):
    """v1 cold and v2 after a change, by the classic builder."""
    lab.write_dockerfile()
    lab.write_app(f"hello from {lab.workspace.name} (classic)!")
    done = {"v1": lab.build("classic-v1", nocache=True)}
    lab.write_app(f"hello again from {lab.workspace.name} (classic)!")
    return {**done, "v2": lab.build("classic-v2")}


@pytest.fixture(scope="module")
def builds(lab, cli):
    """v1 cold and v2 after a change, by BuildKit through ``cli``, from the lab's Dockerfile.

    The messages name the workspace and the CLI: BuildKit's cache is keyed by content, so a message
    any earlier BuildKit build used would make v2's COPY come from the cache.
    """
    lab.write_dockerfile()
    lab.write_app(f"hello from {lab.workspace.name} ({cli.progress})!")
    done = {"v1": buildkit(lab, cli, f"bk-{cli.progress}-v1", nocache=True)}
    lab.write_app(f"hello again from {lab.workspace.name} ({cli.progress})!")
    return {**done, "v2": buildkit(lab, cli, f"bk-{cli.progress}-v2")}


def test_the_progress_format_follows_the_cli(cli, builds):
    chunks = [payload for _, payload in builds["v1"].events]
    kind = "json" if cli.progress == "rawjson" else "line"
    assert sum(kind in c for c in chunks) > 10 and chunks[-1] == {"exit": 0}


def test_buildkit_v1_cold_build_reuses_only_from(builds):
    assert [s.instruction.split()[0] for s in builds["v1"].rows] == ["FROM", "RUN", "CMD", "COPY"]
    assert builds["v1"].cached == [True, False, False, False]
    assert any("flask" in line for line in builds["v1"].step("RUN").output)
    assert builds["v1"].step("RUN").seconds > 0


def test_buildkit_v2_reuses_run_and_cmd_and_rebuilds_copy(builds):
    v2 = builds["v2"]
    assert v2.step("RUN").cached and v2.step("CMD").cached and not v2.step("COPY").cached


def test_buildkit_images_are_the_labs_by_name_and_built_as_written(lab, cli, builds):
    for version in ("v1", "v2"):
        image = lab.engine.inspect_image(lab.image(f"bk-{cli.progress}-{version}"))
        assert lab.workspace.name not in str(image["Config"].get("Labels"))  # no label of the lab's
        assert image["Id"] == builds[version].image_id


def test_build_args_are_passed_through(lab, cli):
    lab.workspace.write("Dockerfile.args", f"FROM {lab.base_image}\nARG GREETING=none\nRUN echo greeting=$GREETING\n")
    greeting = f"hi-{lab.workspace.name}-{cli.progress}"  # new to BuildKit's cache, so the RUN step runs
    report = buildkit(lab, cli, f"bk-{cli.progress}-args", dockerfile="Dockerfile.args", args={"GREETING": greeting})
    assert report.step("RUN").output == [f"greeting={greeting}"] and not report.step("RUN").cached


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_classic_and_buildkit_reports_agree(lab, builds, classic, version):
    bk, old = builds[version], classic[version]
    classic_rows = old.rows  # both build the Dockerfile as written: one row per line
    assert [s.instruction for s in bk.rows] == [s.instruction for s in classic_rows]
    assert bk.cached == [s.cached for s in classic_rows]
    assert [s.diff_id is not None for s in bk.rows] == [s.diff_id is not None for s in classic_rows]
    layers = {name: lab.engine.inspect_image(report.image_id)["RootFS"]["Layers"]
              for name, report in (("bk", bk), ("classic", old))}
    assert len(layers["bk"]) == len(layers["classic"]) == 3
    assert [s.diff_id for s in bk.rows if s.diff_id] == layers["bk"]
    assert [s.diff_id for s in old.rows if s.diff_id] == layers["classic"]
    assert layers["bk"][0] == layers["classic"][0]  # the base image's layer is the same file system


def test_each_history_maps_its_layer_digests(lab, cli, builds, classic):
    for tag in (f"bk-{cli.progress}-v2", "classic-v2"):
        history = lab.history(lab.image(tag))
        assert [r.diff_id for r in reversed(history.rows) if r.diff_id] == history.layers


def test_a_rebuild_to_the_same_config_reports_the_image_the_engine_holds(lab):
    lab.write_dockerfile()
    lab.write_app(f"hello once more from {lab.workspace.name}!")
    first = lab.build("bk-again", builder="buildkit")
    again = lab.build("bk-again", builder="buildkit")  # its layers come from what the lab read of the first
    found = lab.engine.inspect_image(lab.image("bk-again"))
    assert all(again.cached) and again.config == first.config
    assert again.image_id == found["Id"]  # on the containerd store a new index, on overlay2 the same id
    assert [s.diff_id for s in again.rows if s.diff_id] == found["RootFS"]["Layers"]
    assert [s.size for s in again.rows] == [s.size for s in first.rows]
    read_now = join_history(copy.deepcopy(again), lab._history(lab.image("bk-again")))
    assert [(s.size, s.diff_id) for s in again.rows] == [(s.size, s.diff_id) for s in read_now.rows]
