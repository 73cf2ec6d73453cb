"""Each layer's files, as `helpers.export` reads them: what changed between images, and what a layer still ships."""
from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field

from .display import short_name
from .layers import instruction_of
from .report import FrameReport

WHITEOUT = ".wh."
"""A layer file named ``.wh.NAME`` deletes ``NAME`` of the layers below."""
OPAQUE = ".wh..wh..opq"
"""A layer file of this name makes its directory opaque: nothing of the layers below shows through."""

Slot = tuple[int, int, str]
"""Where a path of the union view comes from: (layer index, size, type)."""


def parents(path: str) -> Iterator[str]:
    """The ancestors of an absolute ``path``, nearest first, without the root."""
    cut = path.rfind("/")
    while cut > 0:
        path = path[:cut]
        yield path
        cut = path.rfind("/")


def copied_files(found: dict[str, list[list] | None]) -> dict[str, str]:
    """What a ``COPY --from`` takes (`Engine.copied_files`' answer): each entry's name, with all a cache key compares
    of it in words (``out/app.py``: ``sha256 1a2b3c4d5e6f, mode 644, owner 0:0``)."""
    found_files = {}
    for entries in found.values():
        for name, kind, mode, uid, gid, _, link, sha256 in entries or []:
            what = {"file": f"sha256 {sha256[:12]}", "dir": "folder", "link": f"link to {link}"}.get(kind, kind)
            found_files[name] = f"{what}, mode {mode & 0o7777:o}, owner {uid}:{gid}"
    return found_files


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
        return f"files of each layer of {short_name(self.image)}"

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
        for parent in parents(path):
            if parent in deleted or parent in hidden:
                gone[path] = "deleted" if parent in deleted else "hidden"
                break
    for path in layer.entries:  # a file or link below, where this layer puts a directory
        for parent in parents(path):
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
        return f"files changed from {short_name(self.a)} to {short_name(self.b)}: {len(self.rows)} paths"

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
    return FileChange(path, change, kind, before[1] if before else None, after[1] if after else None,
                      short_name(who.image), layer,
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
        return (f"wasted space in {short_name(self.image)}: {self.wasted_bytes:,} of {self.total_bytes:,} bytes, "
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
