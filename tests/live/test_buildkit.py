"""BuildKit builds through the docker CLI on the real engine, against the classic builder's reports."""
from __future__ import annotations

import pytest

from helpers.buildkit import cli_build, find_cli, join_history, parse_plain_progress

pytestmark = pytest.mark.live


def buildkit(lab, tag, nocache=False):
    image = lab.image(tag)
    events = cli_build(str(lab.workspace.path), image, lab.labels, nocache=nocache)
    report = parse_plain_progress(image, events, lab.workspace.read("Dockerfile"))
    return join_history(report, lab.history(image))


@pytest.fixture(scope="module")
def builds(lab):
    """v1 cold and v2 after a change, by BuildKit and by the classic builder, from the same files.

    The messages name the workspace: BuildKit's cache is keyed by content, so a message any earlier
    BuildKit build used would make v2's COPY come from the cache.
    """
    if find_cli() is None:
        pytest.skip("no docker CLI here builds with BuildKit (no buildx plugin, no CLI older than 23)")
    lab.write_dockerfile()
    lab.write_app(f"hello from {lab.workspace.name}!")
    done = {"bk_v1": buildkit(lab, "bk-v1", nocache=True), "classic_v1": lab.build("classic-v1", nocache=True)}
    lab.write_app(f"hello again from {lab.workspace.name}!")
    done.update(bk_v2=buildkit(lab, "bk-v2"), classic_v2=lab.build("classic-v2"))
    return done


def test_buildkit_v1_cold_build_reuses_only_from(builds):
    assert [s.instruction.split()[0] for s in builds["bk_v1"].rows] == ["FROM", "RUN", "CMD", "COPY"]
    assert builds["bk_v1"].cached == [True, False, False, False]
    assert any("flask" in line for line in builds["bk_v1"].step("RUN").output)


def test_buildkit_v2_reuses_run_and_cmd_and_rebuilds_copy(builds):
    v2 = builds["bk_v2"]
    assert v2.step("RUN").cached and v2.step("CMD").cached and not v2.step("COPY").cached


def test_buildkit_images_carry_the_lab_label(lab, builds):
    for tag in ("bk-v1", "bk-v2"):
        assert lab.engine.inspect_image(lab.image(tag))["Config"]["Labels"]["layer-lab"] == lab.workspace.name


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_classic_and_buildkit_reports_agree(lab, builds, version):
    bk, classic = builds[f"bk_{version}"], builds[f"classic_{version}"]
    classic_rows = classic.rows[:-1]  # the classic builder adds a step for the lab's label; BuildKit does not
    assert classic.rows[-1].instruction.startswith("LABEL layer-lab=")
    assert [s.instruction for s in bk.rows] == [s.instruction for s in classic_rows]
    assert bk.cached == [s.cached for s in classic_rows]
    assert [s.diff_id is not None for s in bk.rows] == [s.diff_id is not None for s in classic_rows]
    layers = {name: lab.engine.inspect_image(report.image_id)["RootFS"]["Layers"]
              for name, report in (("bk", bk), ("classic", classic))}
    assert len(layers["bk"]) == len(layers["classic"]) == 3
    assert [s.diff_id for s in bk.rows if s.diff_id] == layers["bk"]
    assert [s.diff_id for s in classic.rows if s.diff_id] == layers["classic"]
    assert layers["bk"][0] == layers["classic"][0]  # the base image's layer is the same file system


def test_each_history_maps_its_layer_digests(lab, builds):
    for tag in ("bk-v2", "classic-v2"):
        history = lab.history(lab.image(tag))
        assert [r.diff_id for r in reversed(history.rows) if r.diff_id] == history.layers
