"""What a cleanup removes and what it keeps, decided from the engine's listings (`Lab.cleanup` carries it out).

The images the lab builds are its own by name: each is tagged in its workspace's namespace
(``lab-xxxxxx/python-hello-world:v1``, and ``localhost:5000/lab-xxxxxx/...`` once pushed), so the
Dockerfile builds exactly as written, with no step of the lab's. The untagged images below them (the
classic builder's steps) are its own too, as are the step images its builds made that no tag names (an
unused stage's). The containers it starts carry ``CONTAINER_LABEL=<workspace>``; a container someone
else starts from a lab image does not, so it is never removed, and the lab image it (or an image built
on that image) uses is kept whole.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

LABEL = "layer-lab"
"""A label on the containers the lab starts; its value is the workspace's name."""
CONTAINER_LABEL = "layer-lab.container"
"""The label cleanup finds the lab's containers by; its value is the workspace's name."""
UNTAGGED = "<none>:<none>"
ANY_WORKSPACE = re.compile(r"^lab-[0-9a-f]{6}$")
"""A workspace's name, as `helpers.workspace.Workspace` makes it: the namespace of the lab's images."""


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


def container_label(workspace: str | None) -> str:
    """The label filter of one workspace's containers, or (``None``) of every workspace's."""
    return CONTAINER_LABEL if workspace is None else f"{CONTAINER_LABEL}={workspace}"


def _in_namespace(tag: str, workspace: str | None) -> bool:
    """Whether ``tag`` names an image in ``workspace``'s namespace (any workspace's, for None), with or
    without a registry host in front."""
    parts = tag.split("/")
    if len(parts) < 2:
        return False
    return parts[-2] == workspace if workspace else bool(ANY_WORKSPACE.match(parts[-2]))


def _ancestry(image_id: str, parents: dict[str, str]) -> list[str]:
    """``image_id`` and every image below it, following ``ParentId`` (the classic builder's chain)."""
    chain = []
    while image_id and image_id not in chain:
        chain.append(image_id)
        image_id = parents.get(image_id, "")
    return chain


def _descendants(image_id: str, children: dict[str, list[str]]) -> set[str]:
    found, todo = set(), [image_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _untagged(image: dict) -> bool:
    return set(image.get("RepoTags") or [UNTAGGED]) <= {UNTAGGED}


def plan(lab_containers: list[dict], every_container: list[dict], every_image: list[dict],
         made: set[str] = frozenset(), workspace: str | None = None) -> Plan:
    """Decide a cleanup from the engine's listings and the step images the lab's builds made.

    Args:
        lab_containers: the containers carrying the lab's container label (these go).
        every_container: all containers, running or not (``docker ps -a``).
        every_image: all images, intermediate ones included (``docker images -a``), for tags and parents.
        made: short (12-digit) or full ids of the step images the lab's classic builds made.
        workspace: the workspace whose images go; None for every workspace's.

    Returns:
        A `Plan`: the lab's containers; for each image tagged in the namespace that no other container
        uses, those tags, or its id when nothing else names it (an image also tagged by someone else keeps
        those tags and so survives); then, newest first, each untagged image the lab made or that lies
        below an image that goes or the lab made, when nothing else stands on it (an unused stage's result; the
        steps the containerd store keeps when the image above them goes, ONBUILD triggers' among them, whose ids
        the classic builder does not print).
    """
    going = {c["Id"] for c in lab_containers}
    parents = {i["Id"]: i.get("ParentId", "") for i in every_image}
    users: dict[str, list[str]] = {}
    for c in every_container:
        if c["Id"] not in going:
            for image_id in _ancestry(c.get("ImageID", ""), parents):
                users.setdefault(image_id, []).append(c["Names"][0].lstrip("/"))
    # children before their parents (``Created`` counts whole seconds, so a build's steps tie), then newest first
    newest_first = sorted(every_image, key=lambda i: (len(_ancestry(i["Id"], parents)), i.get("Created", 0)),
                          reverse=True)
    images, kept, vanishing = [], [], set()
    for img in newest_first:
        ours = [t for t in img.get("RepoTags") or [] if _in_namespace(t, workspace)]
        if not ours:
            continue
        if img["Id"] in users:  # a container the lab did not start: removing its image would pull it from under it
            kept.append(f"{ours[0]} (used by {', '.join(users[img['Id']])})")
            continue
        others = [t for t in img.get("RepoTags") or [] if t not in ours and t != UNTAGGED]
        images += ours
        vanishing |= set() if others else {img["Id"]}
    children: dict[str, list[str]] = {}
    for image_id, parent in parents.items():
        children.setdefault(parent, []).append(image_id)
    made_untagged = {i["Id"] for i in every_image if _untagged(i) and (i["Id"] in made or i["Id"][7:19] in made)}
    below = {a for v in vanishing | made_untagged for a in _ancestry(v, parents)[1:]}  # ONBUILD triggers' steps too
    untagged = {i["Id"] for i in every_image if _untagged(i) and i["Id"] not in users
                and (i["Id"] in below or i["Id"] in made_untagged)}
    gone = untagged | vanishing
    leftover = [i["Id"] for i in newest_first if i["Id"] in untagged and _descendants(i["Id"], children) <= gone]
    return Plan([c["Id"] for c in lab_containers], images + leftover, kept)


def made_on(every_image: list[dict], parents: set[str], since: float) -> set[str]:
    """The untagged images made at or after ``since`` (engine seconds) on one of ``parents`` (full ids), or on
    another of those: the classic builder prints no id for the images a FROM's ONBUILD triggers make, so when a
    later trigger fails, they are found this way."""
    found: set[str] = set()
    recent = [i for i in every_image if _untagged(i) and i.get("Created", 0) >= int(since) - 1]
    for _ in recent:
        more = {i["Id"] for i in recent if i.get("ParentId") in parents | found} - found
        if not more:
            break
        found |= more
    return found
