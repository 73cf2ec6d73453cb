"""Reading a layer folder as Docker's tar of it lists it (`helpers.layer_folders`), and when not to."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from helpers.layer_folders import folder_entries, layer_folders, read_layers


def test_a_folder_lists_as_its_tar(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b/f").write_text("four")
    os.link(tmp_path / "b/f", tmp_path / "a-link")  # walked first (Go's order): the file; b/f becomes the link
    (tmp_path / "empty").mkdir()
    os.symlink("b/f", tmp_path / "sym")
    os.mkfifo(tmp_path / "fifo")
    assert folder_entries(str(tmp_path)) == [["/a-link", 4, "file"], ["/b/f", 0, "link"], ["/empty", 0, "dir"],
                                             ["/fifo", 0, "other"], ["/sym", 0, "link"]]


@pytest.mark.skipif(os.geteuid() != 0, reason="whiteouts are 0/0 character devices and trusted xattrs: root only")
def test_whiteouts_and_opaque_folders_get_their_tar_names(tmp_path):
    os.mknod(tmp_path / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    (tmp_path / "redone").mkdir()
    (tmp_path / "redone/new").write_text("")
    try:
        os.setxattr(tmp_path / "redone", "trusted.overlay.opaque", b"y")
    except OSError:
        pytest.skip("this file system keeps no trusted xattrs")
    assert folder_entries(str(tmp_path)) == [["/.wh.gone", 0, "file"], ["/redone/.wh..wh..opq", 0, "file"],
                                             ["/redone/new", 0, "file"]]


def _engine(tmp_path, config: dict, driver: str = "overlay2", native: str = "true") -> tuple[dict, dict]:
    raw = json.dumps(config).encode()
    digest = hashlib.sha256(raw).hexdigest()
    content = tmp_path / "root/image/overlay2/imagedb/content/sha256"
    content.mkdir(parents=True)
    (content / digest).write_bytes(raw)
    for name in ("base", "top"):
        (tmp_path / name).mkdir()
    (tmp_path / "top/app.py").write_text("print()")
    inspected = {"Id": f"sha256:{digest}", "RootFS": {"Layers": ["sha256:b", "sha256:t"]},
                 "GraphDriver": {"Name": driver, "Data": {"LowerDir": str(tmp_path / "base"),
                                                          "UpperDir": str(tmp_path / "top")}}}
    info = {"Driver": driver, "DockerRootDir": str(tmp_path / "root"),
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Native Overlay Diff", native]]}
    return inspected, info


CONFIG = {"history": [{"created_by": "base"}, {"created_by": "CMD x", "empty_layer": True},
                      {"created_by": "COPY app.py /", "comment": "c"}]}


def test_the_payload_is_the_exports(tmp_path):
    inspected, info = _engine(tmp_path, CONFIG)
    assert read_layers("app:v1", inspected, info) == {"image": "app:v1", "layout": "overlay2 folders", "layers": [
        {"diff_id": "sha256:b", "member": str(tmp_path / "base"), "created_by": "base", "comment": "", "entries": []},
        {"diff_id": "sha256:t", "member": str(tmp_path / "top"), "created_by": "COPY app.py /", "comment": "c",
         "entries": [["/app.py", 7, "file"]]}]}


def test_lower_folders_are_listed_top_first():
    data = {"GraphDriver": {"Data": {"LowerDir": "/l/2/diff:/l/1/diff", "UpperDir": "/l/3/diff"}}}
    assert layer_folders(data) == ["/l/1/diff", "/l/2/diff", "/l/3/diff"]
    assert layer_folders({"GraphDriver": {"Data": {"UpperDir": "/l/1/diff"}}}) == ["/l/1/diff"]


@pytest.mark.parametrize("change", ["containerd store", "naive diff", "another engine's config", "layers differ",
                                    "unreadable folder"])
def test_the_export_is_read_when_the_folders_cannot_stand_in(tmp_path, change):
    inspected, info = _engine(tmp_path, CONFIG)
    if change == "containerd store":
        inspected["GraphDriver"] = {"Name": "overlayfs", "Data": None}
        info["Driver"] = "overlayfs"
    elif change == "naive diff":
        info["DriverStatus"][1][1] = "false"
    elif change == "another engine's config":
        inspected["Id"] = "sha256:" + "0" * 64
    elif change == "layers differ":
        inspected["RootFS"]["Layers"].append("sha256:x")
    else:
        (tmp_path / "top").rename(tmp_path / "moved")
    assert read_layers("app:v1", inspected, info) is None
