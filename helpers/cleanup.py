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
    tags: int
    """Image tags removed (an untagged image removed by its id counts as one): how many distinct images
    went with them is the engine's business, and differs with what else it built meanwhile."""
    kept: list[str] = field(default_factory=list)
    manifests: int = 0
    """Manifests deleted from the lab's own registry."""


@dataclass
class Plan:
    """The containers and image references to remove, in order, and what to keep with why."""

    containers: list[str]
    images: list[str]
    kept: list[str]

    @property
    def cleaned(self) -> Cleaned:
        return Cleaned(len(self.containers), len(self.images), self.kept)


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


def _descendants(image_id: str, children: dict[str, list[str]]) -> set[str]:
    found, todo = set(), [image_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def plan(lab_containers: list[dict], lab_images: list[dict], every_container: list[dict],
         every_image: list[dict], made: set[str] = frozenset()) -> Plan:
    """Decide a cleanup from four listings of the engine and the step images the lab's builds made.

    Args:
        lab_containers: the containers carrying the lab's container label (these go).
        lab_images: the images carrying the lab's label.
        every_container: all containers, running or not (``docker ps -a``).
        every_image: all images, intermediate ones included (``docker images -a``), for their parents.
        made: short (12-digit) or full ids of the step images the lab's classic builds made.

    Returns:
        A `Plan`: the lab's containers; for each lab image no other container uses, its tags in the
        lab's namespace, or its id when nothing else names it (an image also tagged by someone else
        keeps those tags and so survives); then each untagged image the lab made that nothing else
        stands on (an unused stage's result, which carries no label), newest first.
    """
    going = {c["Id"] for c in lab_containers}
    parents = {i["Id"]: i.get("ParentId", "") for i in every_image}
    users: dict[str, list[str]] = {}
    for c in every_container:
        if c["Id"] not in going:
            for image_id in _ancestry(c.get("ImageID", ""), parents):
                users.setdefault(image_id, []).append(c["Names"][0].lstrip("/"))
    images, kept, vanishing = [], [], set()
    for img in sorted(lab_images, key=lambda i: i.get("Created", 0), reverse=True):
        if img["Id"] in users:  # a container the lab did not start: removing its image would pull it from under it
            name = (img.get("RepoTags") or [img["Id"][7:19]])[0]
            kept.append(f"{name} (used by {', '.join(users[img['Id']])})")
            continue
        ours = _ours(img)
        others = [t for t in img.get("RepoTags") or [] if t not in ours and t != UNTAGGED]
        images += ours or ([] if others else [img["Id"]])  # an untagged image goes by its id
        vanishing |= set() if others else {img["Id"]}
    children: dict[str, list[str]] = {}
    for image_id, parent in parents.items():
        children.setdefault(parent, []).append(image_id)
    untagged_made = {i["Id"] for i in every_image if (i["Id"][7:19] in made or i["Id"] in made)
                     and i["Id"] not in users and set(i.get("RepoTags") or [UNTAGGED]) <= {UNTAGGED}}
    below = {a for v in vanishing for a in _ancestry(v, parents)}  # these go with the images above them
    candidates = {i for i in untagged_made - below if _descendants(i, children) <= untagged_made | vanishing}
    leaves = [i["Id"] for i in sorted(every_image, key=lambda i: i.get("Created", 0), reverse=True)
              if i["Id"] in candidates and not _descendants(i["Id"], children) & candidates]
    return Plan([c["Id"] for c in lab_containers], images + leaves, kept)
