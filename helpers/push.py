"""Pushes: the engine's push stream parsed into one row per layer, with sizes from the registry's manifest."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .boundary import Event
from .errors import CredentialsRejected, PushFailed, RegistryUnavailable, classify
from .report import FrameReport

OUTCOMES = {"Pushed": "pushed", "Layer already exists": "exists"}
"""The push stream's status of a layer when it is done, and the lab's word for it (besides mounted)."""
MOUNTED = "Mounted from "


def outcome_of(status: str) -> str | None:
    """``pushed``, ``exists`` or ``mounted`` for a layer's final status in the push stream, else None."""
    return OUTCOMES.get(status) or ("mounted" if status.startswith(MOUNTED) else None)


@dataclass
class PushedLayer:
    """What the push did with one layer."""

    id: str
    """The first 12 hex digits of the layer's digest (``diff_id``), as the push stream names it."""
    outcome: str
    """``pushed`` (uploaded now), ``exists`` (the repository had it) or ``mounted`` (copied
    inside the registry from another repository, nothing uploaded)."""
    size: int | None = None
    """Compressed bytes of the layer, from the registry's manifest."""
    digest: str | None = None
    """The compressed blob's digest in the registry."""
    diff_id: str | None = None
    mounted_from: str | None = None


@dataclass(repr=False)
class PushReport(FrameReport):
    """What one push did, layer by layer, base first; ``events`` keeps the raw stream."""

    repository: str
    tag: str
    rows: list[PushedLayer]
    digest: str | None
    seconds: float
    events: list[Event] = field(default_factory=list)
    record = PushedLayer

    @property
    def title(self) -> str:
        return (f"push of {self.repository}:{self.tag}: {self.count('pushed')} of {len(self.rows)} layers "
                f"uploaded, {self.uploaded_bytes:,} bytes")

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.rows)

    @property
    def uploaded_bytes(self) -> int:
        return sum(r.size or 0 for r in self.rows if r.outcome == "pushed")

    @property
    def reused_bytes(self) -> int:
        return sum(r.size or 0 for r in self.rows if r.outcome != "pushed")


def parse_push_stream(repository: str, tag: str, events: Iterable[Event]) -> PushReport:
    """Parse the engine's push stream into a `PushReport` (sizes not yet joined).

    Raises:
        PushFailed: the stream carried an error (the engine answers 200 and reports errors inline).
    """
    kept: list[Event] = []
    outcome: dict[str, PushedLayer] = {}
    order: list[str] = []
    digest, end = None, 0.0
    for t, chunk in events:
        kept.append((t, chunk))
        end = t
        if "error" in chunk or "errorDetail" in chunk:
            message = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
            kind = classify(message)
            if kind == "unreachable":
                raise RegistryUnavailable(f"The registry for {repository} does not answer: {message.strip()}")
            if kind == "credentials":
                raise CredentialsRejected(f"The registry wants a login to push {repository}: {message.strip()}")
            if kind == "denied":
                raise PushFailed(f"The registry denied the push of {repository}:{tag}: {message.strip()}",
                                 "Push to a repository of your own (for Docker Hub: <your Docker ID>/name).")
            raise PushFailed(f"The push of {repository}:{tag} failed: {message.strip()}")
        status, layer = chunk.get("status", ""), chunk.get("id")
        digest = (chunk.get("aux") or {}).get("Digest", digest)
        if not layer or status.startswith(f"{tag}: digest"):
            continue
        if layer not in order:
            order.append(layer)
        done = outcome_of(status)
        if done:
            outcome[layer] = PushedLayer(layer, done, mounted_from=status[len(MOUNTED):] if done == "mounted" else None)
    missing = [layer for layer in order if layer not in outcome]
    if missing:
        raise PushFailed(f"The push of {repository}:{tag} ended without an outcome for layers {missing}.")
    return PushReport(repository, tag, [outcome[layer] for layer in order], digest, end, kept)


def join_manifest(report: PushReport, layers: list[str], manifest: dict) -> PushReport:
    """Order rows base first and fill sizes and digests from the registry's manifest.

    Args:
        layers: the image's layer digests (``RootFS.Layers``), base first, as the manifest lists them.
        manifest: the registry's image manifest for the pushed tag.
    """
    blobs = manifest.get("layers", [])
    by_id = {r.id: r for r in report.rows}
    rows = []
    for i, diff_id in enumerate(layers):
        row = by_id.get(diff_id.split(":")[-1][:12])
        if row is None or row in rows:
            continue
        row.diff_id = diff_id
        if i < len(blobs):
            row.size, row.digest = blobs[i]["size"], blobs[i]["digest"]
        rows.append(row)
    report.rows = rows + [r for r in report.rows if r not in rows]
    return report
