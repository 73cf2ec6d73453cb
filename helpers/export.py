"""The image export reader (a boundary module): `docker save`'s stream read for each layer's file list, and
`docker cp`'s archive of a path read for what a ``COPY --from`` of it would take.

Only tar headers are read from an export; file contents stream past, nothing is written to disk.
`Engine.layer_files` calls `read_export`, `Engine.copied_files` calls `read_copied`; `helpers.files` turns the
export's JSON-ready payload into reports.
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import ExportUnreadable
from .files import parents

_BUFSIZE = 1 << 16
_JSON_LIMIT = 16 << 20
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ")
_ZSTD = b"\x28\xb5\x2f\xfd"

class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (the engine's export stream), without copies."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._view = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not len(self._view):
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view = memoryview(chunk)
        n = min(len(buffer), len(self._view))
        buffer[:n] = self._view[:n]
        self._view = self._view[n:]
        return n


def _path(name: str) -> str:
    """A tar member name as an absolute path without a trailing slash (``""`` for the root)."""
    name = posixpath.normpath("/" + name)
    return "" if name == "/" else name


def _kind(info: tarfile.TarInfo) -> str:
    """file, dir, link (symbolic or hard) or other (devices, fifos) for a tar header."""
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    return "link" if info.issym() or info.islnk() else "other"


def without_implied_dirs(entries: list[list]) -> list[list]:
    """Drop directory entries that other entries of the same layer lie under (their paths imply them)."""
    implied = {parent for path, _, _ in entries for parent in parents(path)}
    return [e for e in entries if e[2] != "dir" or e[0] not in implied]


def layer_entries(fileobj: io.BufferedIOBase) -> list[list]:
    """Read one layer tar's headers (never its contents) as sorted ``[path, size, type]`` entries.

    Args:
        fileobj: the layer tar, plain or gzip/bzip2/xz compressed, read front to back only.

    Returns:
        One entry per path, ``type`` one of file/dir/link/other; whiteout files keep their
        ``.wh.`` names; directories implied by other entries are left out.
    """
    entries = []
    with tarfile.open(fileobj=fileobj, mode="r|*", bufsize=_BUFSIZE) as tar:
        for info in tar:  # in stream mode the next header is found by reading past the content
            path = _path(info.name)
            if path:
                entries.append([path, info.size if info.isreg() else 0, _kind(info)])
    return sorted(without_implied_dirs(entries))


def read_copied(chunks: Iterable[bytes], pattern: list[str] | None = None) -> list[list]:
    """What a ``COPY --from`` takes from an archive of a path (`docker cp`'s), as the classic builder's cache key
    reads each entry: its tar header's name, type, mode, owner, size and link target, and its content's sha256
    (the key leaves out times). Sorted by name.

    Args:
        chunks: the archive's bytes.
        pattern: for a source with wildcards, the archived folder's path components below it that an entry must
            match (`fnmatch`, one component each); entries under a matching folder are kept too.
    """
    entries = []
    with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks), _BUFSIZE), mode="r|", bufsize=_BUFSIZE) as tar:
        for info in tar:
            parts = info.name.strip("/").split("/")[1:]  # below the archived path's own name
            if pattern and (len(parts) < len(pattern) or
                            not all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern))):
                continue
            digest = hashlib.sha256()
            if info.isreg():
                content = tar.extractfile(info)
                while block := content.read(_BUFSIZE):
                    digest.update(block)
            entries.append([info.name.strip("/"), _kind(info), info.mode, info.uid, info.gid, info.size,
                            info.linkname, digest.hexdigest() if info.isreg() else ""])
    return sorted(entries)


def _sniff(size: int, head: bytes) -> str:
    """What an export member holds, from its first bytes: json, tar, empty (layer), zstd or other."""
    if head[257:262] == b"ustar" or head.startswith(_COMPRESSED):
        return "tar"
    if head.lstrip()[:1] in (b"{", b"[") and size <= _JSON_LIMIT:
        return "json"
    if size >= 1024 and head[:1024] == bytes(min(len(head), 1024)):
        return "empty"
    return "zstd" if head.startswith(_ZSTD) else "other"


def _resolve(name: str, links: dict[str, str]) -> str:
    """The member a possibly linked member name ends up at."""
    for _ in range(16):
        if name not in links:
            break
        name = links[name]
    return name


def _blob(digest: str) -> str:
    """The member name of an OCI blob: ``sha256:abc`` -> ``blobs/sha256/abc``."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest}"


def _oci_manifest(docs: dict, index: dict) -> dict:
    """Follow an OCI ``index.json`` (and nested indexes) to the first image manifest."""
    for _ in range(8):
        if "layers" in index:
            return index
        manifests = index.get("manifests") or []
        if not manifests or _blob(manifests[0]["digest"]) not in docs:
            break
        index = docs[_blob(manifests[0]["digest"])]
    raise ExportUnreadable("The image export holds no image manifest.")


def _layout(docs: dict, image: str) -> tuple[str, list[str], dict]:
    """Which members are the image's layers (base first) and its config, from manifest.json or index.json."""
    if isinstance(docs.get("manifest.json"), list) and docs["manifest.json"]:
        found = docs["manifest.json"]
        entry = next((e for e in found if image in (e.get("RepoTags") or [])), found[0])
        layout = "oci" if any(n.startswith("blobs/") for n in entry["Layers"]) else "classic"
        return layout, list(entry["Layers"]), docs.get(entry["Config"]) or {}
    if isinstance(docs.get("index.json"), dict):
        manifest = _oci_manifest(docs, docs["index.json"])
        config = docs.get(_blob(manifest["config"]["digest"])) or {}
        return "oci", [_blob(layer["digest"]) for layer in manifest["layers"]], config
    raise ExportUnreadable(f"The export of {image} holds neither manifest.json nor index.json.")


def made_layers(config: dict, count: int) -> list[dict]:
    """The config's history entries that made a layer, when they are as many as the layers."""
    made = [h for h in config.get("history") or [] if not h.get("empty_layer")]
    return made if len(made) == count else [{} for _ in range(count)]


@dataclass
class _Members:
    """What an export holds, by member name, until its manifest (which may come last) says what is what."""

    layers: dict[str, list | str] = field(default_factory=dict)
    """Layer member -> its entries, or why they could not be read."""
    docs: dict[str, object] = field(default_factory=dict)
    """JSON member (manifest.json, configs, OCI index and manifests) -> its parsed content."""
    links: dict[str, str] = field(default_factory=dict)
    """Linked member -> the member it links to (`docker save` links equal layers to one tar)."""

    def take(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        """Keep what ``member`` holds: a link's target, a JSON document, or a layer's headers."""
        name = posixpath.normpath(member.name)
        if member.issym() or member.islnk():
            folder = posixpath.dirname(name) if member.issym() else ""
            self.links[name] = posixpath.normpath(posixpath.join(folder, member.linkname))
            return
        if not member.isreg():
            return
        content = tar.extractfile(member)
        kind = _sniff(member.size, content.peek(1024)[:1024])
        if kind == "json":
            with contextlib.suppress(ValueError):
                self.docs[name] = json.loads(content.read())
        elif kind == "tar":
            self.layers[name] = layer_entries(content)
        elif kind == "empty":
            self.layers[name] = []
        elif kind == "zstd":
            self.layers[name] = "zstd-compressed, which this reader cannot open"

    def payload(self, image: str) -> dict:
        """The layers in the image's order, base first, with their diff_ids and the steps that made them."""
        layout, names, config = _layout(self.docs, image)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        diff_ids = diff_ids if len(diff_ids) == len(names) else [None] * len(names)
        rows = []
        for name, diff_id, made in zip(names, diff_ids, made_layers(config, len(names))):
            entries = self.layers.get(_resolve(posixpath.normpath(name), self.links))
            if not isinstance(entries, list):
                why = entries or "not in the export"
                raise ExportUnreadable(f"The layer {name} of {image} could not be read ({why}).")
            rows.append({"diff_id": diff_id, "member": name, "created_by": made.get("created_by", ""),
                         "comment": made.get("comment", ""), "entries": entries})
        return {"image": image, "layout": layout, "layers": rows}


def read_export(chunks: Iterable[bytes], image: str = "") -> dict:
    """Read an image export (`docker save`'s tar) as a stream and list each layer's files.

    Only tar headers are read; file contents are skipped as they stream past and nothing is
    written to disk. Layer members and small JSON members are kept by member name, and
    ``manifest.json`` (or OCI ``index.json``), which may come last, maps them to layers at the end.
    Both the classic layout (``<id>/layer.tar``, dockerd 20.10) and the OCI one (``blobs/sha256/``)
    are read; layer tars may be plain or gzip/bzip2/xz compressed.

    Args:
        chunks: the export as byte chunks (``client.api.get_image(image)``) or any iterable of bytes.
        image: the name the export was asked for (picks the entry of a multi-image manifest).

    Returns:
        The JSON-ready payload ``{"image", "layout", "layers": [{"diff_id", "member", "created_by",
        "comment", "entries": [[path, size, type], ...]}, ...]}``, base layer first; see `layer_entries`.

    Raises:
        ExportUnreadable: the stream is not an image export, or a layer cannot be read (zstd, truncated).
    """
    members = _Members()
    try:
        stream = io.BufferedReader(_ChunkReader(chunks), _BUFSIZE)
        with tarfile.open(fileobj=stream, mode="r|", bufsize=_BUFSIZE) as tar:
            for member in tar:
                members.take(tar, member)
    except (tarfile.TarError, EOFError) as e:
        raise ExportUnreadable(f"The export of {image or 'the image'} could not be read as a tar stream ({e}).") from e
    return members.payload(image)
