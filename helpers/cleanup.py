"""What a cleanup removes and what it keeps, decided from the engine's listings (`Lab.cleanup` carries it out).

Everything the lab makes carries ``LABEL=<workspace>``; the containers it starts also carry
``CONTAINER_LABEL=<workspace>``. A container someone starts from a lab image inherits the first
label but not the second, so it is never removed, and the lab image it (or an image built on that
image) uses is kept whole.
"""
from __future__ import annotations

from dataclasses import dataclass, field

LABEL = "layer-lab"
"""The label on everything the lab creates; its value is the workspace's name."""
CONTAINER_LABEL = "layer-lab.container"
"""The label on the containers the lab starts; a container anyone starts from a lab image inherits
``LABEL`` from it, but not this one, so cleanup tells the two apart."""
UNTAGGED = "<none>:<none>"


@dataclass
class Cleaned:
    """What a cleanup removed, and the lab's images it kept because a container it did not make uses them."""

    containers: int
    images: int
    kept: list[str] = field(default_factory=list)


@dataclass
class Plan:
    """The containers and image references to remove, in order, and what to keep with why."""

    containers: list[str]
    images: list[str]
    kept: list[str]
    image_count: int
    """How many of the lab's images the removals take away (an image goes with its last reference)."""

    @property
    def cleaned(self) -> Cleaned:
        return Cleaned(len(self.containers), self.image_count, self.kept)


def labels(workspace: str | None) -> tuple[str, str]:
    """The label filters of one workspace's objects, or (``None``) of every workspace's."""
    if workspace is None:
        return LABEL, CONTAINER_LABEL
    return f"{LABEL}={workspace}", f"{CONTAINER_LABEL}={workspace}"


def _ancestry(image_id: str, parents: dict[str, str]) -> list[str]:
    """``image_id`` and every image below it, following ``ParentId`` (the classic builder's chain)."""
    chain = []
    while image_id and image_id not in chain:
        chain.append(image_id)
        image_id = parents.get(image_id, "")
    return chain


def _ours(image: dict) -> list[str]:
    """The image's tags in its workspace's namespace (``lab-xxxxxx/name:tag``, also under a registry host)."""
    workspace = (image.get("Labels") or {}).get(LABEL, "")
    tags = image.get("RepoTags") or []
    return [t for t in tags if t.split("/")[-2:-1] == [workspace] or t.startswith(f"{workspace}/")]


def plan(lab_containers: list[dict], lab_images: list[dict], every_container: list[dict],
         every_image: list[dict]) -> Plan:
    """Decide a cleanup from four listings of the engine.

    Args:
        lab_containers: the containers carrying the lab's container label (these go).
        lab_images: the images carrying the lab's label.
        every_container: all containers, running or not (``docker ps -a``).
        every_image: all images, intermediate ones included (``docker images -a``), for their parents.

    Returns:
        A `Plan`: the lab's containers; for each lab image no other container uses, its tags in the
        lab's namespace, or its id when nothing else names it; an image also tagged by someone else
        keeps those tags and so survives.
    """
    going = {c["Id"] for c in lab_containers}
    parents = {i["Id"]: i.get("ParentId", "") for i in every_image}
    users: dict[str, list[str]] = {}
    for c in every_container:
        if c["Id"] not in going:
            for image_id in _ancestry(c.get("ImageID", ""), parents):
                users.setdefault(image_id, []).append(c["Names"][0].lstrip("/"))
    images, kept = [], []
    newest_first = sorted(lab_images, key=lambda i: i.get("Created", 0), reverse=True)
    for img in newest_first:
        if img["Id"] in users:  # a container the lab did not start: removing its image would pull it from under it
            name = (img.get("RepoTags") or [img["Id"][7:19]])[0]
            kept.append(f"{name} (used by {', '.join(users[img['Id']])})")
            continue
        ours = _ours(img)
        others = [t for t in img.get("RepoTags") or [] if t not in ours and t != UNTAGGED]
        images += ours or ([] if others else [img["Id"]])  # an untagged image goes by its id
    return Plan([c["Id"] for c in lab_containers], images, kept, len(newest_first) - len(kept))
