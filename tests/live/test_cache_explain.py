"""The lab's cache lookup, checked against the engine: each input changed in turn, one cause each."""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.live

ARG_DOCKERFILE = "FROM {base}\nARG GREETING=hello\nRUN echo $GREETING > /greeting\nCOPY app.py /app.py\n"


@pytest.fixture
def lab(lab):
    lab.write_dockerfile()
    lab.write_app("hello world!")
    lab.build("cold", nocache=True, explain=True)
    return lab


def whys(lab, tag, **kw):
    """Build ``tag`` with explain=True, check that every prediction agrees, and return the rows by keyword."""
    report = lab.build(tag, explain=True, **kw)
    assert report.why.all_agree, report.why.frame.to_string()
    return {r.instruction.split()[0]: r for r in report.why.rows}


def test_cold_build_says_no_cache_was_asked_for(lab):
    report = lab.build("cold2", nocache=True, explain=True)
    assert report.why.all_agree
    assert all("--no-cache" in r.why for r in report.why.rows[1:])


def test_nothing_changed_every_step_hits(lab):
    assert all(r.cached and r.predicted for r in whys(lab, "same").values())


def test_touching_a_file_changes_only_its_mtime_and_keeps_the_cache(lab):
    os.utime(lab.workspace.path / "app.py", (1, 1))
    assert whys(lab, "touched")["COPY"].cached


def test_content_change_names_the_file_and_both_checksums(lab):
    lab.write_app("hello again!")
    copy = whys(lab, "content")["COPY"]
    assert not copy.cached and "COPY source changed" in copy.why and copy.why.count("file:") == 2


def test_permission_change_misses_because_the_mode_is_in_the_checksum(lab):
    os.chmod(lab.workspace.path / "app.py", 0o600)
    assert not whys(lab, "chmod")["COPY"].cached


def test_instruction_change_and_the_chain_after_it(lab):
    lab.write_dockerfile(lab.workspace.read("Dockerfile").replace('["python","app.py"]', '["python","-u","app.py"]'))
    why = whys(lab, "cmd")
    assert why["RUN"].cached and not why["CMD"].cached and "instruction changed" in why["CMD"].why
    assert "step 3 was rebuilt" in why["COPY"].why


def test_build_arg_change(lab):
    lab.write_dockerfile(ARG_DOCKERFILE.format(base=lab.base_image), filename="Dockerfile.arg")
    whys(lab, "arg1", dockerfile="Dockerfile.arg", args={"GREETING": "hi"})
    why = whys(lab, "arg2", dockerfile="Dockerfile.arg", args={"GREETING": "ho"})
    assert why["ARG"].cached and not why["RUN"].cached
    assert "build arg changed: GREETING=hi -> GREETING=ho" in why["RUN"].why


def test_new_base_image_has_no_cache(lab):
    lab.write_dockerfile(f"FROM {lab.base_image}\nLABEL purpose=another-base\n", filename="Dockerfile.base")
    base = lab.build("base", name="other-base", dockerfile="Dockerfile.base")
    lab.write_dockerfile(lab.workspace.read("Dockerfile").replace(lab.base_image, base.tag), filename="Dockerfile.on")
    why = whys(lab, "rebased", dockerfile="Dockerfile.on")
    assert not why["RUN"].cached and "had built nothing on this base image" in why["RUN"].why


def test_another_labs_builds_never_serve_this_ones_cache(lab, engine):
    """On the overlay2 store each lab reuses only its own builds (``--cache-from``). On the containerd store
    the engine's own cache serves (``--cache-from`` meets an engine bug there), and the lab says whose build it
    reused."""
    from helpers.lab import Lab
    from helpers.store import CONTAINERD
    from helpers.workspace import Workspace
    other = Lab(engine, lab.settings, Workspace())
    try:
        other.write_dockerfile()
        other.write_app("hello world!")
        other.build("v1", nocache=True)  # newer than this lab's chain: the engine's default would pick it
        lab.write_app("hello again!")
        mine = lab.build("mine", explain=True)
        assert mine.why.all_agree and mine.step("RUN").cached
        others_run = other.history(other.image("v1")).rows[-2].diff_id
        if lab.store == CONTAINERD:
            assert other.image("v1") in mine.why.rows[1].why, mine.why.rows[1].why
            assert mine.step("RUN").diff_id == others_run
        else:
            assert any(image[7:19] in mine.why.rows[1].why for image in lab.built[:-1]), mine.why.rows[1].why
            assert mine.step("RUN").diff_id != others_run
    finally:
        other.cleanup()
