"""Cleanup's plan, decided from the engine's recorded listings (overlay2 and containerd stores): the lab's
objects go, a learner's stay."""
from __future__ import annotations

import copy

import pytest

from helpers.cleanup import container_label, made_on, plan
from tests.conftest import load

STORES = ["", "_containerd"]


def recorded(suffix: str) -> tuple[dict, list]:
    meta = load(f"cleanup_meta{suffix}")
    return meta, [load(f"cleanup_{name}{suffix}") for name in ("lab_containers", "every_container", "every_image")]


def by_tag(images: list[dict], tag: str) -> dict:
    return next(i for i in images if tag in (i.get("RepoTags") or []))


def test_label_of_one_workspace_or_of_all():
    assert container_label("lab-1") == "layer-lab.container=lab-1"
    assert container_label(None) == "layer-lab.container"


@pytest.mark.parametrize("suffix", STORES)
def test_the_labs_container_and_images_go_and_a_learners_container_keeps_its_image(suffix):
    meta, (lab_containers, every_container, every_image) = recorded(suffix)
    ws = meta["workspace"]
    decided = plan(lab_containers, every_container, every_image, set(meta["made"]), ws)
    assert decided.containers == [c["Id"] for c in lab_containers] and len(decided.containers) == 1
    v1, v2 = by_tag(every_image, f"{ws}/python-hello-world:v1"), by_tag(every_image, f"{ws}/python-hello-world:v2")
    assert decided.kept == [f"{ws}/python-hello-world:v1 (used by {meta['learner_container']})"]
    assert f"{ws}/python-hello-world:v2" in decided.images and "learner-own/keep:1" not in decided.images
    assert v1["Id"] not in decided.images and v2["Id"] not in decided.images  # v1 is kept, v2 keeps the learner's tag
    parents = {i.get("ParentId") for i in every_image}
    first_v2 = [i["Id"] for i in every_image if i["Id"][7:19] in meta["made"] and i["Id"] not in parents
                and i.get("RepoTags") in (None, [], ["<none>:<none>"])]
    assert len(first_v2) == 1 and first_v2[0] in decided.images  # the untagged first v2 goes
    steps = {i["Id"] for i in every_image if i["Id"] in parents and i["Id"][7:19] in meta["made"]}
    assert steps and not steps & set(decided.images)  # the steps below images that stay, stay


@pytest.mark.parametrize("suffix", STORES)
def test_an_image_built_on_a_lab_image_keeps_the_lab_image_for_its_container(suffix):
    meta, (lab_containers, every_container, every_image) = copy.deepcopy(recorded(suffix))
    ws = meta["workspace"]
    v2 = by_tag(every_image, f"{ws}/python-hello-world:v2")
    every_image.append({"Id": "sha256:" + "c" * 64, "ParentId": v2["Id"], "RepoTags": ["learner-own/child:1"]})
    learner = next(c for c in every_container if c["Names"] == [f"/{meta['learner_container']}"])
    learner["ImageID"] = "sha256:" + "c" * 64
    decided = plan(lab_containers, every_container, every_image, set(meta["made"]), ws)
    assert any(k.startswith(f"{ws}/python-hello-world:v2 (used by") for k in decided.kept)
    assert f"{ws}/python-hello-world:v1" in decided.images


@pytest.mark.parametrize("suffix", STORES)
def test_another_workspace_or_nothing_of_the_lab_means_nothing_to_do(suffix):
    meta, (_, every_container, every_image) = recorded(suffix)
    decided = plan([], every_container, every_image, set(), "lab-000000")
    assert (decided.containers, decided.images, decided.kept) == ([], [], [])


@pytest.mark.parametrize("suffix", STORES)
def test_every_workspace_at_once_for_make_clean(suffix):
    meta, (lab_containers, every_container, every_image) = recorded(suffix)
    decided = plan(lab_containers, every_container, every_image, set(), None)
    assert f"{meta['workspace']}/python-hello-world:v2" in decided.images
    assert not any(t.startswith(("learner-own", "layer-lab/")) for t in decided.images)


@pytest.mark.parametrize("suffix", STORES)
def test_an_unused_stages_untagged_result_goes(suffix):
    meta, (lab_containers, every_container, every_image) = copy.deepcopy(recorded(suffix))
    base = next(i for i in every_image if "layer-lab/python:3.11-bookworm" in (i.get("RepoTags") or []))
    unused = {"Id": "sha256:" + "d" * 64, "ParentId": base["Id"], "RepoTags": ["<none>:<none>"], "Created": 1}
    every_image.append(unused)
    decided = plan(lab_containers, every_container, every_image, set(meta["made"]) | {unused["Id"][7:19]},
                   meta["workspace"])
    assert decided.images.count(unused["Id"]) == 1 and base["Id"] not in decided.images


def test_the_untagged_steps_below_an_image_that_goes_go_too_children_first():
    """What the containerd store keeps when an image goes: its untagged parents; whoever built them, they go."""
    base = {"Id": "sha256:" + "0" * 64, "RepoTags": ["layer-lab/python:3.11-bookworm"], "Created": 1}
    run = {"Id": "sha256:" + "1" * 64, "ParentId": base["Id"], "RepoTags": ["<none>:<none>"], "Created": 5}
    cmd = {"Id": "sha256:" + "2" * 64, "ParentId": run["Id"], "RepoTags": None, "Created": 5}
    app = {"Id": "sha256:" + "3" * 64, "ParentId": cmd["Id"], "RepoTags": ["lab-abcdef/app:v1"], "Created": 5}
    mine = {"Id": "sha256:" + "4" * 64, "ParentId": run["Id"], "RepoTags": ["learner/own:1"], "Created": 6}
    decided = plan([], [], [base, run, cmd, app], set(), "lab-abcdef")
    assert decided.images == ["lab-abcdef/app:v1", cmd["Id"], run["Id"]]
    decided = plan([], [], [base, run, cmd, app, mine], set(), "lab-abcdef")
    assert decided.images == ["lab-abcdef/app:v1", cmd["Id"]]  # the learner's image stands on run


def _image(name: str, parent: str = "", created: int = 100, tags: list[str] | None = None) -> dict:
    return {"Id": f"sha256:{name * 64}"[:71], "ParentId": f"sha256:{parent * 64}"[:71] if parent else "",
            "Created": created, "RepoTags": tags or ["<none>:<none>"]}


def test_the_steps_below_an_untagged_image_the_lab_made_go_with_it():
    # the containerd store keeps a removed image's steps; the classic builder printed no id for the ONBUILD
    # triggers' steps (c, d) below the step it did print (e)
    every = [_image("a", tags=["base:1"]), _image("c", "a"), _image("d", "c"), _image("e", "d"),
             _image("f", "a")]  # f: someone else's, on the same base
    decided = plan([], [], every, {"e" * 12}, "lab-abcdef")
    assert decided.images == [f"sha256:{n * 64}"[:71] for n in "edc"]


def test_the_images_failed_triggers_made_are_those_made_since_the_build_on_its_from_image():
    every = [_image("a", tags=["lab-abcdef/base:1"]), _image("c", "a", 100), _image("d", "c", 101),
             _image("f", "a", 50), _image("g", "b", 100)]
    assert made_on(every, {f"sha256:{'a' * 64}"[:71]}, 100.5) == {f"sha256:{n * 64}"[:71] for n in "cd"}
