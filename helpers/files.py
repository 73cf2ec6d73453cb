"""Each layer's files, read from a streamed image export: what changed between images, and what a layer still ships."""
from __future__ import annotations

import contextlib
import io
import json
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import LabError
from .layers import instruction_of
from .report import FrameReport

WHITEOUT = ".wh."
"""A layer file named ``.wh.NAME`` deletes ``NAME`` of the layers below."""
OPAQUE = ".wh..wh..opq"
"""A layer file of this name makes its directory opaque: nothing of the layers below shows through."""

_BUFSIZE = 1 << 16
_JSON_LIMIT = 16 << 20
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ")
_ZSTD = b"\x28\xb5\x2f\xfd"

Slot = tuple[int, int, str]
"""Where a path of the union view comes from: (layer index, size, type)."""


# -- reading the export stream (called by Engine.layer_files) --------------------------------------

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


def _parents(path: str) -> Iterator[str]:
    """The ancestors of an absolute ``path``, nearest first, without the root."""
    cut = path.rfind("/")
    while cut > 0:
        path = path[:cut]
        yield path
        cut = path.rfind("/")


def _kind(info: tarfile.TarInfo) -> str:
    """file, dir, link (symbolic or hard) or other (devices, fifos) for a tar header."""
    if info.isreg():
        return "file"
    if info.isdir():
        return "dir"
    return "link" if info.issym() or info.islnk() else "other"


def _without_implied_dirs(entries: list[list]) -> list[list]:
    """Drop directory entries that other entries of the same layer lie under (their paths imply them)."""
    implied = {parent for path, _, _ in entries for parent in _parents(path)}
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
    return sorted(_without_implied_dirs(entries))


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
    raise LabError("The image export holds no image manifest.")


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
    raise LabError(f"The export of {image} holds neither manifest.json nor index.json.")


def _made_layers(config: dict, count: int) -> list[dict]:
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
        for name, diff_id, made in zip(names, diff_ids, _made_layers(config, len(names))):
            entries = self.layers.get(_resolve(posixpath.normpath(name), self.links))
            if not isinstance(entries, list):
                raise LabError(f"The layer {name} of {image} could not be read ({entries or 'not in the export'}).")
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
        LabError: the stream is not an image export, or a layer cannot be read (zstd, truncated).
    """
    members = _Members()
    try:
        stream = io.BufferedReader(_ChunkReader(chunks), _BUFSIZE)
        with tarfile.open(fileobj=stream, mode="r|", bufsize=_BUFSIZE) as tar:
            for member in tar:
                members.take(tar, member)
    except (tarfile.TarError, EOFError) as e:
        raise LabError(f"The export of {image or 'the image'} could not be read as a tar stream ({e}).") from e
    return members.payload(image)


# -- parsing the payload ---------------------------------------------------------------------------

@dataclass
class LayerFiles:
    """One layer's own files: what it adds or rewrites, and what its whiteouts delete below it."""

    layer: int
    """Position in the image, base layer = 0."""
    instruction: str
    files: int
    bytes: int
    """Bytes of the layer's regular files (uncompressed, as the layer tar holds them)."""
    deletes: int
    """Whiteouts: paths deleted, plus directories made opaque."""
    diff_id: str | None
    member: str = field(repr=False, default="")
    entries: dict[str, tuple[int, str]] = field(repr=False, default_factory=dict)
    """Path -> (size, type) for files, links, and directories not implied by other paths."""
    deleted: list[str] = field(repr=False, default_factory=list)
    """Paths a ``.wh.NAME`` deletes (with everything under them)."""
    opaque: list[str] = field(repr=False, default_factory=list)
    """Directories whose contents from lower layers a ``.wh..wh..opq`` hides."""

    @property
    def key(self) -> str:
        """What identifies the layer's content: its diff_id, else its member name in the export."""
        return self.diff_id or self.member


@dataclass(repr=False)
class ImageFiles(FrameReport):
    """The files of each layer of one image, one row per layer, base first."""

    image: str
    rows: list[LayerFiles]
    record = LayerFiles

    @property
    def title(self) -> str:
        return f"files of each layer of {self.image}"

    @property
    def total_bytes(self) -> int:
        """Bytes of regular files over all layers: what the image ships, shadowed files included."""
        return sum(r.bytes for r in self.rows)


def _parse_layer(index: int, layer: dict) -> LayerFiles:
    """One payload layer, its ``.wh.`` entries turned into deleted paths and opaque folders."""
    entries: dict[str, tuple[int, str]] = {}
    deleted, opaque = [], []
    for path, size, kind in layer["entries"]:
        folder, name = posixpath.split(path)
        if name == OPAQUE:
            opaque.append(folder)
        elif name.startswith(WHITEOUT):
            deleted.append(posixpath.join(folder, name[len(WHITEOUT):]))
        else:
            entries[path] = (size, kind)
    files = [size for size, kind in entries.values() if kind == "file"]
    instruction = instruction_of(layer.get("created_by") or "") or layer.get("comment") or ""
    return LayerFiles(index, instruction, len(files), sum(files), len(deleted) + len(opaque), layer.get("diff_id"),
                      layer.get("member", ""), entries, deleted, opaque)


def parse_layer_files(payload: dict) -> ImageFiles:
    """Turn `Engine.layer_files`'s payload (live or recorded) into an `ImageFiles` report.

    Args:
        payload: what `Engine.layer_files` (or `read_export`) returned, or its recording.

    Returns:
        One `LayerFiles` row per layer, base first, with its instruction from the image config's
        history (the import comment for an imported base, "" when history and layers disagree).
    """
    rows = [_parse_layer(i, layer) for i, layer in enumerate(payload["layers"])]
    return ImageFiles(payload.get("image", ""), rows)


# -- the union view -------------------------------------------------------------------------------

@dataclass
class _Shadow:
    """A lower layer's entry at ``path`` that layer ``upper`` took out of the union view, and how."""

    path: str
    lower: Slot
    upper: int
    how: str


def _covered(view: dict[str, Slot], layer: LayerFiles) -> dict[str, str]:
    """Paths of ``view`` (the layers below) that ``layer`` deletes, hides or overwrites, and how."""
    deleted = set(layer.deleted)
    hidden = set(layer.opaque) | {p for p, (_, kind) in layer.entries.items() if kind != "dir"}
    gone = {p: "deleted" for p in deleted if p in view}
    for path in view:
        for parent in _parents(path):
            if parent in deleted or parent in hidden:
                gone[path] = "deleted" if parent in deleted else "hidden"
                break
    for path in layer.entries:  # a file or link below, where this layer puts a directory
        for parent in _parents(path):
            if parent in view and view[parent][2] != "dir":
                gone[parent] = "overwritten"
    return gone


def _stack(layers: list[LayerFiles]) -> tuple[dict[str, Slot], list[_Shadow]]:
    """The union view of ``layers`` (base first), and every lower entry an upper layer shadowed."""
    view: dict[str, Slot] = {}
    shadows: list[_Shadow] = []
    for layer in layers:
        for path, how in _covered(view, layer).items():
            shadows.append(_Shadow(path, view.pop(path), layer.layer, how))
        for path, (size, kind) in layer.entries.items():
            if path in view:
                shadows.append(_Shadow(path, view[path], layer.layer, "overwritten"))
            view[path] = (layer.layer, size, kind)
    return view, shadows


# -- what changed between two images --------------------------------------------------------------

@dataclass
class FileChange:
    """One path that differs between two images' file systems."""

    path: str
    change: str
    """added, changed or removed."""
    type: str
    size_before: int | None
    size_after: int | None
    image: str
    """The image whose layer made the change (the second one, unless the first one's layer is missing there)."""
    layer: int
    instruction: str


@dataclass(repr=False)
class FileChanges(FrameReport):
    """Files added, changed and removed from image ``a`` to image ``b``, by path."""

    a: str
    b: str
    rows: list[FileChange]
    record = FileChange

    @property
    def title(self) -> str:
        return f"files changed from {self.a} to {self.b}: {len(self.rows)} paths"

    def kind_of(self, path: str) -> str | None:
        """added, changed or removed for ``path``; None when it did not change."""
        return next((c.change for c in self.rows if c.path == path), None)

    def paths(self, change: str | None = None) -> list[str]:
        """The paths that changed, or only those ``added``, ``changed`` or ``removed``."""
        return [c.path for c in self.rows if change in (None, c.change)]


def _source(files: ImageFiles, slot: Slot) -> tuple[str, int, str]:
    """What identifies a path's content in a view: the content key of its layer, its size and type."""
    return files.rows[slot[0]].key, slot[1], slot[2]


def _row(path: str, before: Slot | None, after: Slot | None, a: ImageFiles, b: ImageFiles,
         removed_by: dict[str, int]) -> FileChange:
    """The row of a path that differs; ``removed_by`` maps paths to the layer of ``b`` that shadowed them."""
    if before is None:
        change, (who, layer) = "added", (b, after[0])
    elif after is None:
        change, (who, layer) = "removed", ((b, removed_by[path]) if path in removed_by else (a, before[0]))
    else:
        change, (who, layer) = "changed", (b, after[0])
    kind = (after or before)[2]
    return FileChange(path, change, kind, before[1] if before else None, after[1] if after else None, who.image, layer,
                      who.rows[layer].instruction)


def changes_between(a: ImageFiles, b: ImageFiles) -> FileChanges:
    """The paths whose file differs from image ``a`` to image ``b``, one row each, sorted by path.

    Both images' union views are compared path by path; a path counts as unchanged when it comes
    from the same layer (by diff_id) with the same size and type, so only layers that differ
    between the images produce rows. Only headers are read, so a file rewritten by a differing
    layer counts as changed even if its bytes are equal, and directories present in both (whose
    metadata may differ) are not reported.

    Args:
        a: the files of the image before (e.g. ``v1``).
        b: the files of the image after (e.g. ``v2``).

    Returns:
        `FileChanges`: path, added/changed/removed, type, sizes before and after, and the layer
        (index and instruction) that made the change: ``b``'s, or for a path only ``a``'s extra
        layer held, ``a``'s.
    """
    view_a, _ = _stack(a.rows)
    view_b, shadows_b = _stack(b.rows)
    removed_by = {s.path: s.upper for s in shadows_b}  # the last layer of b to shadow a path removed it
    rows = []
    for path in sorted(view_a.keys() | view_b.keys()):
        before, after = view_a.get(path), view_b.get(path)
        if before and after and (_source(a, before) == _source(b, after) or before[2] == after[2] == "dir"):
            continue
        rows.append(_row(path, before, after, a, b, removed_by))
    return FileChanges(a.image, b.image, rows)


# -- what the union file system still ships -------------------------------------------------------

@dataclass
class WastedFile:
    """A file a lower layer ships although a later layer overwrites, deletes or hides it."""

    path: str
    bytes: int
    layer: int
    instruction: str
    """The step whose layer still ships the file."""
    how: str
    """overwritten, deleted (a whiteout), or hidden (an opaque directory, or a file put over its folder)."""
    by_layer: int
    by_instruction: str


@dataclass(repr=False)
class Waste(FrameReport):
    """Bytes of shadowed files that still ship in lower layers, largest first; like `dive`'s wasted space."""

    image: str
    rows: list[WastedFile]
    total_bytes: int
    record = WastedFile

    @property
    def title(self) -> str:
        return (f"wasted space in {self.image}: {self.wasted_bytes:,} of {self.total_bytes:,} bytes, "
                f"efficiency {self.efficiency:.1%}")

    @property
    def wasted_bytes(self) -> int:
        """Bytes of shadowed files that the image still ships."""
        return sum(r.bytes for r in self.rows)

    @property
    def efficiency(self) -> float:
        """``1 - wasted / total`` bytes of regular files over all layers (1.0 for an image with no files)."""
        return 1 - self.wasted_bytes / self.total_bytes if self.total_bytes else 1.0


def waste(files: ImageFiles) -> Waste:
    """Every regular file of a lower layer that a later layer shadows, with its bytes and who shadowed it.

    A file counts when a later layer writes the same path again (overwritten), deletes it or a
    folder above it with a whiteout (deleted), or hides it behind an opaque folder or a file put
    where its folder was (hidden): its bytes stay in the lower layer's tar, pulled and stored anyway.

    Args:
        files: the image's layer files (`parse_layer_files`).

    Returns:
        `Waste`, largest files first, with ``wasted_bytes``, ``total_bytes`` and ``efficiency``
        (``1 - wasted / total`` over all layers' regular files). dive's efficiency score is a close
        relative: the sum over paths of the smallest size seen, divided by the sum of all sizes seen.
    """
    _, shadows = _stack(files.rows)
    rows = [WastedFile(s.path, s.lower[1], s.lower[0], files.rows[s.lower[0]].instruction, s.how, s.upper,
                       files.rows[s.upper].instruction)
            for s in shadows if s.lower[2] == "file"]
    rows.sort(key=lambda r: (-r.bytes, r.path))
    return Waste(files.image, rows, files.total_bytes)
