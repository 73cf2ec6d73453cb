"""The engine's image store, and what the lab reads differently on each: the overlay2 graph driver (Docker
20.10's, and Docker 28's on an upgraded install) or the containerd image store (Docker 29's and Docker
Desktop's default for fresh installs).

On the containerd image store an image's id is the digest of its manifest (or of its index), layers are
kept compressed as pulled or built, and sizes in `docker image history` and a container's ``SizeRw`` are
the disk its snapshots use, counted in 4 KiB blocks; on overlay2 they are the bytes of the files.
"""
from __future__ import annotations

CONTAINERD = "containerd"
GRAPHDRIVER = "graphdriver"
BLOCK = 4096
"""The file system block in which the containerd store's snapshot sizes are counted."""


def kind(info: dict) -> str:
    """``containerd`` when the engine stores images in containerd (its ``DriverStatus`` names a snapshotter),
    else ``graphdriver``."""
    status = {key: value for key, value in info.get("DriverStatus") or []}
    return CONTAINERD if status.get("driver-type", "").startswith("io.containerd.snapshotter") else GRAPHDRIVER


def describe(info: dict) -> str:
    """The image store in a learner's words: ``overlay2 graph driver`` or ``containerd image store (overlayfs
    snapshotter)``."""
    if kind(info) == CONTAINERD:
        return f"containerd image store ({info.get('Driver') or '?'} snapshotter)"
    return f"{info.get('Driver') or '?'} graph driver"


def size_meaning(info: dict) -> str:
    """What the sizes the engine reports for layers and containers count, on this store."""
    if kind(info) == CONTAINERD:
        return "disk the snapshot uses, in 4 KiB blocks"
    return "bytes of the files"
