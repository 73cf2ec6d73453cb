"""Pushes: the engine's push stream parsed into one row per layer, with sizes from the registry's manifest.

On the overlay2 store the stream names each layer by its ``diff_id``; on the containerd store by its
compressed blob's digest, and a BuildKit image there is pushed as an index whose second manifest is a
provenance attestation: its blob is a row of its own, ``kind`` ``attestation``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from .boundary import Event
from .display import short_name
from .errors import CredentialsRejected, PushFailed, RegistryUnavailable, classify
from .report import FrameReport

OUTCOMES = {"Pushed": "pushed", "Layer already exists": "exists"}
"""The push stream's status of a layer when it is done, and the lab's word for it (besides mounted)."""
MOUNTED = "Mounted from "
_DIGEST_LINE = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+")
"""The push stream's last status, ``TAG: digest: sha256:... size: N`` (the only place the containerd store names it)."""
INDEXES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")
ATTESTATION = "attestation-manifest"
"""The ``vnd.docker.reference.type`` of an index entry that holds an image's attestations, not an image."""


def outcome_of(status: str) -> str | None:
    """``pushed``, ``exists`` or ``mounted`` for a layer's final status in the push stream, else None."""
    return OUTCOMES.get(status) or ("mounted" if status.startswith(MOUNTED) else None)


@dataclass
class PushedLayer:
    """What the push did with one layer."""

    id: str
    """The first 12 hex digits the push stream names the blob by: the layer's ``diff_id`` on the overlay2
    store, its compressed digest on the containerd store."""
    outcome: str
    """``pushed`` (uploaded now), ``exists`` (the repository had it) or ``mounted`` (copied
    inside the registry from another repository, nothing uploaded)."""
    size: int | None = None
    """Compressed bytes of the layer, from the registry's manifest."""
    digest: str | None = None
    """The compressed blob's digest in the registry."""
    diff_id: str | None = None
    mounted_from: str | None = None
    kind: str = "layer"
    """``layer`` (a file-system layer of the image) or ``attestation`` (its provenance statement, pushed beside it)."""


@dataclass(repr=False)
class PushReport(FrameReport):
    """What one push did, layer by layer, base first; ``events`` keeps the raw stream."""

    repository: str
    tag: str
    rows: list[PushedLayer]
    digest: str | None
    """The digest of what the tag names in the registry: the image's manifest, or the index that lists it."""
    seconds: float
    events: list[Event] = field(default_factory=list)
    config: str | None = None
    """The digest of the image's config (from the registry's manifest)."""
    record = PushedLayer

    @property
    def title(self) -> str:
        extra = len(self.rows) - len(self.layers)
        besides = f" (and {extra} attestation{'s' * (extra > 1)})" if extra else ""
        mounted = self.count("mounted")
        linked = f"; {mounted} mounted: linked inside the registry from a repository that had it, not uploaded" \
            if mounted else ""
        registry = self.repository.split("/", 1)[0]
        return (f"push of {short_name(self.repository)}:{self.tag} to {registry}: {self.count('pushed')} of "
                f"{len(self.layers)} layers uploaded{besides}, {self.uploaded_bytes:,} bytes{linked}")

    @property
    def layers(self) -> list[PushedLayer]:
        """The rows that are layers of the image (not attestations)."""
        return [r for r in self.rows if r.kind == "layer"]

    def count(self, outcome: str) -> int:
        """How many of the image's layers the push ``pushed``, found already there (``exists``) or ``mounted``."""
        return sum(r.outcome == outcome for r in self.layers)

    @property
    def uploaded_bytes(self) -> int:
        """Compressed bytes of the image's layers the push uploaded (an attestation's are not counted)."""
        return sum(r.size or 0 for r in self.layers if r.outcome == "pushed")

    @property
    def reused_bytes(self) -> int:
        """Compressed bytes of the image's layers the registry already had (exists) or linked in (mounted)."""
        return sum(r.size or 0 for r in self.layers if r.outcome != "pushed")


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
        if m := _DIGEST_LINE.match(status):
            digest = digest or m[1]
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


def parse_pull_stream(reference: str, events: Iterable[Event]) -> str:
    """Read a pull's stream to its end and return the digest it pulled.

    Raises:
        RegistryUnavailable, CredentialsRejected, PushFailed: the stream carried an error.
    """
    digest = ""
    for _, chunk in events:
        if "error" in chunk or "errorDetail" in chunk:
            message = ((chunk.get("errorDetail") or {}).get("message") or chunk["error"]).strip()
            if classify(message) == "unreachable":
                raise RegistryUnavailable(f"The registry for {reference} does not answer: {message}")
            raise PushFailed(f"The pull of {reference} failed: {message}")
        digest = chunk.get("status", "").removeprefix("Digest: ") if chunk.get("status", "").startswith(
            "Digest: ") else digest
    return digest


def resolve_index(manifest: dict, platform: dict[str, str]) -> tuple[str | None, list[str]]:
    """For an index: the digest of the image manifest for ``platform`` (``{"os", "architecture"}``) and those
    of the attestation manifests that refer to it; for an image manifest, ``(None, [])``."""
    if manifest.get("mediaType") not in INDEXES and "manifests" not in manifest:
        return None, []
    entries = manifest.get("manifests") or []
    images = [e for e in entries if (e.get("annotations") or {}).get("vnd.docker.reference.type") != ATTESTATION]
    wanted = next((e for e in images if all((e.get("platform") or {}).get(k) == v for k, v in platform.items())),
                  images[0] if images else None)
    if wanted is None:
        return None, []
    attestations = [e["digest"] for e in entries if (e.get("annotations") or {}).get("vnd.docker.reference.digest")
                    == wanted["digest"]]
    return wanted["digest"], attestations


def join_manifest(report: PushReport, layers: list[str], manifest: dict,
                  attestations: Iterable[dict] = ()) -> PushReport:
    """Order rows base first, fill sizes and digests from the registry's manifest, and name attestation blobs.

    A row is a layer's when the stream named it by the layer's ``diff_id`` (overlay2 store) or by its
    compressed blob's digest (containerd store); attestation rows come after the layers.

    Args:
        layers: the image's layer digests (``RootFS.Layers``), base first, as the manifest lists them.
        manifest: the registry's image manifest for the pushed tag (an index already resolved: `resolve_index`).
        attestations: the attestation manifests pushed beside it, if any.
    """
    blobs = manifest.get("layers", [])
    by_id = {r.id: r for r in report.rows}
    rows = []
    for i, diff_id in enumerate(layers):
        blob = blobs[i] if i < len(blobs) else {}
        row = by_id.get(diff_id.split(":")[-1][:12]) or by_id.get(blob.get("digest", ":").split(":")[-1][:12])
        if row is None or row in rows:
            continue
        row.diff_id = diff_id
        if blob:
            row.size, row.digest = blob["size"], blob["digest"]
        rows.append(row)
    for attestation in attestations:
        for blob in attestation.get("layers", []):
            row = by_id.get(blob["digest"].split(":")[-1][:12])
            if row is not None and row not in rows:
                row.size, row.digest, row.kind = blob["size"], blob["digest"], "attestation"
                rows.append(row)
    report.rows = rows + [r for r in report.rows if r not in rows]
    report.config = (manifest.get("config") or {}).get("digest")
    return report


def referenced(manifest: dict) -> tuple[list[str], list[str]]:
    """What a manifest points at: the digests of the manifests an index lists, and of the blobs (config and
    layers) an image manifest lists."""
    manifests = [e["digest"] for e in manifest.get("manifests") or []]
    blobs = [d["digest"] for d in [manifest.get("config") or {}, *(manifest.get("layers") or [])] if d.get("digest")]
    return manifests, blobs
