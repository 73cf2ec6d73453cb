"""Image history and layers: what `docker image history` shows, with each layer's digest."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from .display import ago, short_name
from .report import FrameReport

NOP = "/bin/sh -c #(nop) "
"""How the classic builder's history marks a step that ran no command (metadata, COPY, ADD), under the default
shell; after a ``SHELL`` line, that shell's words come before ``#(nop)``."""
_NOP = re.compile(r"^.*? #\(nop\) ")
_METADATA = {"CMD", "ENV", "LABEL", "EXPOSE", "ENTRYPOINT", "USER", "ARG", "STOPSIGNAL", "HEALTHCHECK",
             "SHELL", "VOLUME", "ONBUILD", "MAINTAINER"}
"""Instructions that only change the image's config; BuildKit's history names them without ``#(nop)``."""


def instruction_of(created_by: str) -> str:
    """The Dockerfile line a history entry came from (``#(nop)`` and shell prefixes removed)."""
    text = created_by.strip()
    nop = _NOP.match(text)
    if nop:
        return re.sub(r"\s+", " ", text[nop.end():]).strip()
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c "):]
    return text


def makes_layer(created_by: str, size: int) -> bool:
    """Whether a history entry added a file-system layer.

    The classic builder marks metadata steps ``#(nop)`` (of those, COPY, ADD and WORKDIR make a layer:
    a WORKDIR that creates its folder makes one of size 0); BuildKit writes the bare instruction
    (``CMD ["python" "app.py"]``), so an empty entry of a metadata instruction (CMD, ENV, LABEL, ...)
    makes none. RUN, COPY, ADD, WORKDIR and imports count as a layer even when empty, which BuildKit
    does; the classic builder drops a layer that changed nothing (a RUN, or a WORKDIR whose folder was
    there), and `parse_history` then works out which of the empty entries have one.
    """
    if size > 0:
        return True
    text = created_by.strip()
    if _NOP.match(text):
        return instruction_of(text).startswith(("COPY", "ADD", "WORKDIR"))
    return text.split(" ", 1)[0] not in _METADATA


@dataclass
class HistoryRow:
    """One entry of an image's history, newest first, like `docker image history`."""

    id: str
    created: int
    created_by: str
    instruction: str
    size: int
    """Bytes as `docker image history` shows them: the layer's files on the overlay2 store, the disk its
    snapshot uses (in 4 KiB blocks) on the containerd store."""
    comment: str
    tags: list[str]
    diff_id: str | None
    """The layer's content digest (from the image's RootFS), or None for metadata-only steps."""
    content: int | None = None
    """Bytes of the layer's files (what the lesson counts): ``size`` on the overlay2 store; on the containerd
    store read from the image's export, None where it was not read."""

    @property
    def files_bytes(self) -> int:
        """Bytes of the layer's files where they were read (``content``), else ``size``: the figure to teach."""
        return self.size if self.content is None else self.content


@dataclass(repr=False)
class History(FrameReport):
    """The history of one image; ``layers`` lists its layer digests, base first."""

    image: str
    rows: list[HistoryRow]
    layers: list[str] = field(default_factory=list)
    image_id: str = ""
    """The image's id (``docker image inspect``): its config's digest on overlay2, its manifest's (or index's)
    on the containerd store."""
    now: float = 0.0
    """When it was read (seconds since the epoch, the engine's clock), for CREATED as the CLI writes it."""
    record = HistoryRow

    @property
    def title(self) -> str:
        return f"docker image history {short_name(self.image)}"

    @property
    def frame(self) -> pd.DataFrame:
        """The table `docker image history` prints: 12-digit ids (``<missing>`` where the engine has no image
        for a step), CREATED relative to when it was read, CREATED BY cut at 45 characters as the CLI cuts it,
        SIZE, and the same in bytes; where the engine's size counts disk blocks, the bytes of the files beside."""
        rows = [{"image": r.id if r.id == "<missing>" else r.id.split(":")[-1][:12],
                 "created": ago(self.now - r.created) if self.now else "",
                 "created_by": r.created_by if len(r.created_by) <= 45 else r.created_by[:44] + "…",
                 "size": r.size, "bytes": r.size, "comment": r.comment} for r in self.rows]
        frame = pd.DataFrame(rows, columns=["image", "created", "created_by", "size", "bytes", "comment"])
        if any(r.content != r.size for r in self.rows):
            frame.insert(5, "files' bytes", [r.content for r in self.rows])
        return frame

    @property
    def size(self) -> int:
        return sum(r.size for r in self.rows)

    @property
    def content(self) -> int:
        """Bytes of the files of every layer (0 where they were not read)."""
        return sum(r.content or 0 for r in self.rows)

    def by_id(self) -> dict[str, HistoryRow]:
        return {r.id: r for r in self.rows if r.id != "<missing>"}


def parse_history(image: str, history: list[dict], inspect: dict, content: dict[str, int] | None = None,
                  now: float = 0.0) -> History:
    """Join the engine's history of ``image`` with its RootFS layers.

    Args:
        image: the name shown in the report.
        history: what the engine's ``/images/{name}/history`` returned (newest first).
        inspect: what ``/images/{name}/json`` returned.
        content: bytes of each layer's files by diff_id, where the engine's sizes count something else
            (the containerd store's disk blocks); None where they are the files' bytes (overlay2).
        now: when it was read, for CREATED as the CLI writes it (``5 minutes ago``).

    Returns:
        A `History`; ``diff_id`` is set on each row that made a layer when the count of such rows
        equals the count of layers, and left None otherwise rather than guessed. An entry of size 0
        may have no layer (an empty one is dropped: a RUN that changed nothing, a WORKDIR whose folder
        was there, any empty layer on the containerd store); these are counted in, then all left out,
        then only the WORKDIRs kept, then only the others, and the first count that fits is taken.
    """
    layers = list(inspect.get("RootFS", {}).get("Layers") or [])
    made = [makes_layer(h.get("CreatedBy", ""), h.get("Size", 0)) for h in history]
    empty = {i for i, h in enumerate(history) if made[i] and not h.get("Size")}
    workdirs = {i for i in empty if instruction_of(history[i].get("CreatedBy", "")).startswith("WORKDIR")}
    for dropped in (set(), empty, empty - workdirs, workdirs):
        if sum(made) - len(dropped) == len(layers):
            made = [m and i not in dropped for i, m in enumerate(made)]
            break
    digests = iter(reversed(layers)) if sum(made) == len(layers) else iter(())
    rows = []
    for h, has_layer in zip(history, made):
        diff_id = next(digests, None) if has_layer else None
        size = h.get("Size", 0)
        rows.append(HistoryRow(
            id=h.get("Id", "<missing>"), created=h.get("Created", 0), created_by=h.get("CreatedBy", ""),
            instruction=instruction_of(h.get("CreatedBy", "")) or h.get("Comment", ""),
            size=size, comment=h.get("Comment", ""), tags=h.get("Tags") or [], diff_id=diff_id,
            content=size if content is None else content.get(diff_id, 0 if diff_id is None else None)))
    return History(image=image, rows=rows, layers=layers, image_id=inspect.get("Id", ""), now=now)


@dataclass
class SharedLayer:
    """One layer digest and which of the compared images hold it."""

    diff_id: str
    size: int
    """Bytes of the layer's files (`HistoryRow.files_bytes`), not the disk blocks the containerd store counts."""
    instruction: str
    images: list[str]
    shared: bool


@dataclass(repr=False)
class Sharing(FrameReport):
    """Layers of several images compared by digest: what is stored once and used by all."""

    rows: list[SharedLayer]
    record = SharedLayer
    title: str = "layers by digest"

    @property
    def shared_bytes(self) -> int:
        return sum(r.size for r in self.rows if r.shared)

    @property
    def unique_bytes(self) -> int:
        return sum(r.size for r in self.rows if not r.shared)


def compare(histories: list[History]) -> Sharing:
    """Which layers the images of ``histories`` share, by layer digest, base first."""
    rows: dict[str, SharedLayer] = {}
    for h in histories:
        for r in reversed(h.rows):
            if r.diff_id is None:
                continue
            row = rows.setdefault(r.diff_id, SharedLayer(r.diff_id, r.files_bytes, r.instruction, [], False))
            if short_name(h.image) not in row.images:
                row.images.append(short_name(h.image))
    for row in rows.values():
        row.shared = len(row.images) > 1
    return Sharing(rows=list(rows.values()))
