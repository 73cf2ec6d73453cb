"""The engine's image store, told from `docker info` as recorded on each engine, and the sizes each counts."""
from __future__ import annotations

from helpers import store
from helpers.buildkit import parse_progress
from helpers.layers import parse_history
from tests.conftest import load


def test_the_store_is_told_from_the_recorded_info_of_each_engine():
    assert store.kind(load("meta")["info"]) == store.GRAPHDRIVER
    assert store.kind(load("meta_containerd")["info"]) == store.CONTAINERD
    assert store.describe(load("meta")["info"]) == "overlay2 graph driver"
    assert store.describe(load("meta_containerd")["info"]) == "containerd image store (overlayfs snapshotter)"


def test_containerd_history_sizes_are_disk_blocks_and_content_comes_from_the_files():
    history, inspect = load("history_v1_containerd"), load("inspect_v1_containerd")
    disk = parse_history("v1", history, inspect)
    layers = [r for r in disk.rows if r.diff_id]
    assert all(r.size % store.BLOCK == 0 for r in layers[1:])  # the base was pulled: its size is its content's
    copy = next(r for r in disk.rows if r.instruction.startswith("COPY"))
    assert copy.size >= store.BLOCK and copy.content == copy.size  # unknown files: the engine's figure stands in
    files = {copy.diff_id: 240}
    counted = parse_history("v1", history, inspect, files)
    assert next(r for r in counted.rows if r.diff_id == copy.diff_id).content == 240
    assert all(r.content == 0 for r in counted.rows if r.diff_id is None)


def test_overlay2_history_sizes_are_the_files_bytes():
    history = parse_history("v1", load("history_v1"), load("inspect_v1"))
    assert all(r.content == r.size for r in history.rows)
    assert history.image_id == load("inspect_v1")["Id"]


def test_buildkit_names_the_image_by_its_index_on_the_containerd_store():
    report = parse_progress("v2", load("buildkit_rawjson_v2_all_cached_containerd"))  # the build inspected after
    assert report.image_id == load("inspect_buildkit_rawjson_v2_containerd")["Id"]
