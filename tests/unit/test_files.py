"""Each layer's files from an image export: the stream reader, changes between images, and waste.

The recorded payloads (tests/data/layer_files_*.json) come from `Engine.layer_files` on dockerd
20.10: the lab's v1 and v2, and an image FROM the lab base that writes /big.bin (20 MB) in one RUN
and deletes it in the next. There is no tiny base image, so to keep them small the base layer's
~9,000 entries were trimmed to the handful these tests use; every other layer is stored whole.
The stream reader is also fed literal tar streams built here (classic and OCI layouts).
"""
from __future__ import annotations

import builtins
import gzip
import hashlib
import io
import json
import tarfile
import tempfile

import pytest

from helpers.errors import LabError
from helpers.export import read_copied, read_export
from helpers.files import changes_between, parse_layer_files, waste
from helpers.recording import ReplayEngine, _key
from tests.conftest import load

# -- literal tar streams -----------------------------------------------------------------------------

def file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def folder(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info, None


def link(name: str, target: str, hard: bool = False) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = (tarfile.LNKTYPE if hard else tarfile.SYMTYPE), target
    return info, None


def tar(*members, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def history(*created_by: str) -> list[dict]:
    return [{"created_by": c} for c in created_by]


def classic_export(layers: list[bytes], made: list[str], same_as_first: int | None = None) -> bytes:
    """dockerd 20.10's layout: <id>/layer.tar per layer, <config>.json, manifest.json last.

    ``same_as_first``: the index of a layer stored as a symlink to the first one's layer.tar, as
    `docker save` does for layers with equal content.
    """
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [digest(d) for d in layers]},
                         "history": [{"created_by": "ENV A=1", "empty_layer": True}, *history(*made)]}).encode()
    members, names = [file("c0ffee.json", config)], []
    for i, data in enumerate(layers):
        name = f"{i:064x}/layer.tar"
        names.append(name)
        members += [folder(f"{i:064x}"), file(f"{i:064x}/VERSION", b"1.0"), file(f"{i:064x}/json", b"{}")]
        members.append(link(name, f"../{0:064x}/layer.tar") if i == same_as_first else file(name, data))
    manifest = [{"Config": "c0ffee.json", "RepoTags": ["x/app:v1"], "Layers": names}]
    members += [file("manifest.json", json.dumps(manifest).encode()), file("repositories", b'{"x/app":{}}')]
    return tar(*members)


def oci_export(layers: list[bytes], made: list[str], manifest_json: bool = True, gzipped: bool = False) -> bytes:
    """Newer engines' layout: blobs/sha256/<digest>, index.json, then (optionally) manifest.json last."""
    blobs = [gzip.compress(d) if gzipped else d for d in layers]
    config = json.dumps({"rootfs": {"diff_ids": [digest(d) for d in layers]}, "history": history(*made)}).encode()
    manifest = json.dumps({"config": {"digest": digest(config)},
                           "layers": [{"digest": digest(b)} for b in blobs]}).encode()
    index = json.dumps({"manifests": [{"digest": digest(manifest)}]}).encode()
    path = lambda data: "blobs/sha256/" + digest(data).split(":")[1]  # noqa: E731
    members = [folder("blobs"), folder("blobs/sha256"), *(file(path(b), b) for b in blobs),
               file(path(config), config), file(path(manifest), manifest), file("index.json", index),
               file("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')]
    if manifest_json:
        members.append(file("manifest.json", json.dumps(
            [{"Config": path(config), "RepoTags": ["x/app:v1"], "Layers": [path(b) for b in blobs]}]).encode()))
    return tar(*members)


def chunks(data: bytes, size: int = 7777) -> list[bytes]:
    """The export as the engine streams it: chunks that do not line up with tar blocks."""
    return [data[i:i + size] for i in range(0, len(data), size)]


BASE = tar(folder("etc/"), file("etc/hostname", b"h\n"), folder("tmp/"), folder("usr/"), folder("usr/bin/"),
           file("usr/bin/python3.11", b"p" * 5000), link("usr/bin/python3", "python3.11"),
           folder("var/"), folder("var/cache/"), folder("var/cache/apt/"), file("var/cache/apt/pkg.bin", b"a" * 3000),
           file("var/cache/apt/src.bin", b"s" * 1000), file("opt", b"o" * 300), folder("srv/"), folder("srv/www/"),
           file("srv/www/index.html", b"i" * 200), fmt=tarfile.GNU_FORMAT)
UPPER = tar(folder("usr/"), folder("usr/bin/"), file("usr/bin/python3.11", b"q" * 6000),
            link("usr/bin/python", "python3.11", hard=True), folder("var/"), folder("var/cache/"),
            folder("var/cache/apt/"), file("var/cache/apt/.wh..wh..opq", b""), file("var/cache/apt/new.bin", b"n" * 10),
            file("etc/.wh.hostname", b""), folder("opt/"), file("opt/tool", b"t" * 40), file("srv", b"S" * 7),
            folder("data/"))
EMPTY = bytes(1024)
MADE = ["/bin/sh -c #(nop) ADD file:abc in / ", "/bin/sh -c apt-get install -y tool", "/bin/sh -c true"]


def expected_entries() -> list[list]:
    return [[["/etc/hostname", 2, "file"], ["/opt", 300, "file"], ["/srv/www/index.html", 200, "file"],
             ["/tmp", 0, "dir"], ["/usr/bin/python3", 0, "link"], ["/usr/bin/python3.11", 5000, "file"],
             ["/var/cache/apt/pkg.bin", 3000, "file"], ["/var/cache/apt/src.bin", 1000, "file"]],
            [["/data", 0, "dir"], ["/etc/.wh.hostname", 0, "file"], ["/opt/tool", 40, "file"], ["/srv", 7, "file"],
             ["/usr/bin/python", 0, "link"], ["/usr/bin/python3.11", 6000, "file"],
             ["/var/cache/apt/.wh..wh..opq", 0, "file"], ["/var/cache/apt/new.bin", 10, "file"]],
            []]


# -- the stream reader ---------------------------------------------------------------------------------

def test_classic_layout_lists_each_layer_from_headers_with_whiteouts_kept():
    payload = read_export(chunks(classic_export([BASE, UPPER, EMPTY], MADE)), "x/app:v1")
    assert payload["layout"] == "classic"
    assert [layer["entries"] for layer in payload["layers"]] == expected_entries()
    assert [layer["diff_id"] for layer in payload["layers"]] == [digest(BASE), digest(UPPER), digest(EMPTY)]
    assert [layer["created_by"] for layer in payload["layers"]] == MADE
    assert json.loads(json.dumps(payload)) == payload


@pytest.mark.parametrize("manifest_json, gzipped", [(True, False), (False, False), (True, True)])
def test_oci_layout_maps_blobs_to_layers_by_manifest_json_or_index_json(manifest_json, gzipped):
    payload = read_export(chunks(oci_export([BASE, UPPER], MADE[:2], manifest_json, gzipped)), "x/app:v1")
    assert payload["layout"] == "oci"
    assert [layer["entries"] for layer in payload["layers"]] == expected_entries()[:2]
    assert [layer["diff_id"] for layer in payload["layers"]] == [digest(BASE), digest(UPPER)]
    assert payload["layers"][1]["created_by"] == MADE[1]


def test_a_layer_saved_as_a_symlink_to_an_equal_layer_is_read_through_the_link():
    payload = read_export(chunks(classic_export([BASE, UPPER, BASE], MADE, same_as_first=2)), "x/app:v1")
    assert payload["layers"][2]["entries"] == payload["layers"][0]["entries"] == expected_entries()[0]


def test_the_reader_writes_nothing_to_disk(monkeypatch):
    """The export and its layers are read from the stream, never spooled to a file first."""
    def refuse(*args, **kwargs):
        raise AssertionError("the reader opened a file")
    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp", "mkdtemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    payload = read_export(iter(chunks(classic_export([BASE, UPPER], MADE[:2]), 512)), "x/app:v1")
    assert [layer["entries"] for layer in payload["layers"]] == expected_entries()[:2]


@pytest.mark.parametrize("data, message", [
    (b"not a tar at all" * 100, "could not be read"),
    (tar(file("a.txt", b"hello")), "neither manifest.json nor index.json"),
])
def test_what_is_not_an_image_export_is_a_lab_error(data, message):
    with pytest.raises(LabError, match=message):
        read_export(chunks(data), "x/app:v1")


def test_a_zstd_layer_says_so():
    zstd = b"\x28\xb5\x2f\xfd" + bytes(2000)
    with pytest.raises(LabError, match="zstd"):
        read_export(chunks(oci_export([BASE, zstd], MADE[:2])), "x/app:v1")


def test_a_missing_layer_member_is_a_lab_error():
    manifest = [{"Config": "c.json", "Layers": ["0/layer.tar"]}]
    data = tar(file("c.json", b"{}"), file("manifest.json", json.dumps(manifest).encode()))
    with pytest.raises(LabError, match="not in the export"):
        read_export(chunks(data), "x/app:v1")


# -- the union view: whiteouts, opaque folders, overwrites -------------------------------------------

@pytest.fixture
def literal():
    return parse_layer_files(read_export(chunks(classic_export([BASE, UPPER, EMPTY], MADE)), "x/app:v1"))


def test_layer_table_counts_files_bytes_and_deletes(literal):
    assert literal.frame[["layer", "files", "bytes", "deletes"]].values.tolist() == [
        [0, 6, 5000 + 3000 + 1000 + 300 + 200 + 2, 0], [1, 4, 6000 + 10 + 40 + 7, 2], [2, 0, 0, 0]]
    assert literal.rows[0].instruction == "ADD file:abc in /"
    assert literal.rows[1].deleted == ["/etc/hostname"] and literal.rows[1].opaque == ["/var/cache/apt"]


def test_waste_finds_overwritten_deleted_and_hidden_files(literal):
    report = waste(literal)
    found = {r.path: (r.bytes, r.how, r.layer, r.by_layer) for r in report.rows}
    assert found == {"/usr/bin/python3.11": (5000, "overwritten", 0, 1),
                     "/var/cache/apt/pkg.bin": (3000, "hidden", 0, 1),
                     "/var/cache/apt/src.bin": (1000, "hidden", 0, 1),
                     "/opt": (300, "overwritten", 0, 1),
                     "/srv/www/index.html": (200, "hidden", 0, 1),
                     "/etc/hostname": (2, "deleted", 0, 1)}
    assert [r.path for r in report.rows][:2] == ["/usr/bin/python3.11", "/var/cache/apt/pkg.bin"]
    assert report.wasted_bytes == 9502 and report.total_bytes == 9502 + 6057
    assert report.efficiency == pytest.approx(1 - 9502 / 15559)
    assert report.rows[0].by_instruction == "RUN apt-get install -y tool"


def test_changes_between_stacked_images(literal):
    before = parse_layer_files({"image": "base", "layers": [read_export(
        chunks(classic_export([BASE], MADE[:1])), "x/app:v1")["layers"][0]]})
    changes = changes_between(before, literal)
    assert {r.path: r.change for r in changes.rows} == {
        "/data": "added", "/etc/hostname": "removed", "/opt": "removed", "/opt/tool": "added",
        "/srv": "added", "/srv/www/index.html": "removed", "/usr/bin/python": "added",
        "/usr/bin/python3.11": "changed", "/var/cache/apt/new.bin": "added", "/var/cache/apt/pkg.bin": "removed",
        "/var/cache/apt/src.bin": "removed"}
    assert changes.paths() == sorted(changes.paths())
    row = next(r for r in changes.rows if r.path == "/usr/bin/python3.11")
    assert (row.size_before, row.size_after, row.layer, row.image) == (5000, 6000, 1, "app:v1")
    removed = next(r for r in changes.rows if r.path == "/etc/hostname")
    assert (removed.size_after, removed.layer, removed.instruction) == (None, 1, "RUN apt-get install -y tool")
    back = changes_between(literal, before)
    assert back.kind_of("/opt/tool") == "removed" and back.kind_of("/etc/hostname") == "added"
    assert next(r for r in back.rows if r.path == "/opt/tool").image == "app:v1"


# -- recorded payloads ---------------------------------------------------------------------------------

def test_v1_to_v2_changes_exactly_app_py():
    v1, v2 = parse_layer_files(load("layer_files_v1")), parse_layer_files(load("layer_files_v2"))
    changes = changes_between(v1, v2)
    assert [(r.path, r.change, r.size_before, r.size_after) for r in changes.rows] == [("/app.py", "changed", 161, 171)]
    assert changes.rows[0].layer == 2 and changes.rows[0].instruction.startswith("COPY ")
    assert changes.rows[0].image == v2.image.rsplit("/", 1)[-1]
    assert changes_between(v1, v1).rows == []


def test_recorded_layers_carry_their_instructions_and_sizes():
    v1 = parse_layer_files(load("layer_files_v1"))
    assert [r.instruction.split()[0] for r in v1.rows] == ["Imported", "RUN", "COPY"]
    assert v1.rows[1].instruction == "RUN pip install flask" and v1.rows[1].files > 200
    assert v1.rows[2].entries == {"/app.py": (161, "file")}
    assert waste(v1).rows == []


def test_recorded_rm_of_a_big_file_wastes_its_bytes():
    files = parse_layer_files(load("layer_files_waste"))
    report = waste(files)
    assert [(r.path, r.bytes, r.how, r.layer, r.by_layer) for r in report.rows] == [
        ("/big.bin", 20_000_000, "deleted", 1, 2)]
    assert report.rows[0].by_instruction == "RUN rm /big.bin"
    assert report.efficiency == pytest.approx(1 - 20_000_000 / files.total_bytes)
    assert "efficiency" in report.title and report.frame.shape == (1, 7)


def test_layer_files_is_recorded_and_replayed_like_every_engine_call():
    payload = load("layer_files_waste")
    engine = ReplayEngine({"meta": {"registry": "localhost:5000"},
                           "calls": [{"key": _key("layer_files", ("x:waste",), {}), "result": payload}]}, "test")
    assert waste(parse_layer_files(engine.layer_files("x:waste"))).wasted_bytes == 20_000_000


def archive(*members: tuple[str, bytes | None, int]) -> list[bytes]:
    """`docker cp`'s archive of a path: (name, content or None for a folder, uid) members, in small chunks."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, content, uid in members:
            info = tarfile.TarInfo(name)
            info.type, info.uid, info.mode = (tarfile.DIRTYPE, uid, 0o755) if content is None else (tarfile.REGTYPE,
                                                                                                   uid, 0o644)
            info.size, info.mtime = len(content or b""), 1234
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    data = out.getvalue()
    return [data[i:i + 700] for i in range(0, len(data), 700)]


def test_what_a_copy_from_takes_is_each_entry_header_and_checksum_without_times():
    found = read_copied(archive(("out", None, 0), ("out/a.py", b"a\n", 0), ("out/sub", None, 0),
                                ("out/sub/b.py", b"b\n", 1000)))
    assert found == [["out", "dir", 0o755, 0, 0, 0, "", ""],
                     ["out/a.py", "file", 0o644, 0, 0, 2, "", hashlib.sha256(b"a\n").hexdigest()],
                     ["out/sub", "dir", 0o755, 0, 0, 0, "", ""],
                     ["out/sub/b.py", "file", 0o644, 1000, 0, 2, "", hashlib.sha256(b"b\n").hexdigest()]]
    owner = read_copied(archive(("out", None, 0), ("out/a.py", b"a\n", 1), ("out/sub", None, 0),
                                ("out/sub/b.py", b"b\n", 1000)))
    assert owner != found  # the classic key counts the owner


def test_a_wildcard_source_keeps_the_entries_it_matches_and_what_lies_under_them():
    chunks = archive(("out", None, 0), ("out/a.py", b"a", 0), ("out/b.txt", b"b", 0), ("out/pkg.py", None, 0),
                     ("out/pkg.py/x", b"x", 0))
    assert [e[0] for e in read_copied(chunks, ["*.py"])] == ["out/a.py", "out/pkg.py", "out/pkg.py/x"]
    assert read_copied(chunks, ["*.so"]) == []
