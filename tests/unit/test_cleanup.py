"""Cleanup's plan, decided from the engine's recorded listings: the lab's objects go, a learner's stay."""
from __future__ import annotations

import copy

from helpers.cleanup import labels, plan
from tests.conftest import load

META = load("cleanup_meta")
LISTINGS = [load(f"cleanup_{name}") for name in ("lab_containers", "lab_images", "every_container", "every_image")]


def by_tag(images: list[dict], tag: str) -> dict:
    return next(i for i in images if tag in (i.get("RepoTags") or []))


def test_labels_of_one_workspace_or_of_all():
    assert labels("lab-1") == ("layer-lab=lab-1", "layer-lab.container=lab-1")
    assert labels(None) == ("layer-lab", "layer-lab.container")


def test_the_labs_container_and_images_go_and_a_learners_container_keeps_its_image():
    lab_containers, lab_images, _, _ = LISTINGS
    ws = META["workspace"]
    decided = plan(*LISTINGS)
    assert decided.containers == [c["Id"] for c in lab_containers] and len(decided.containers) == 1
    v1, v2 = by_tag(lab_images, f"{ws}/python-hello-world:v1"), by_tag(lab_images, f"{ws}/python-hello-world:v2")
    untagged = next(i for i in lab_images if i["RepoTags"] == ["<none>:<none>"])
    assert decided.kept == [f"{ws}/python-hello-world:v1 (used by {META['learner_container']})"]
    assert f"{ws}/python-hello-world:v2" in decided.images and "learner-own/keep:1" not in decided.images
    assert untagged["Id"] in decided.images and v1["Id"] not in decided.images and v2["Id"] not in decided.images
    assert decided.cleaned.tags == 2 and decided.cleaned.containers == 1  # v2's lab tag, the untagged one


def test_an_image_built_on_a_lab_image_keeps_the_lab_image_for_its_container():
    lab_containers, lab_images, every_container, every_image = copy.deepcopy(LISTINGS)
    ws = META["workspace"]
    v2 = by_tag(lab_images, f"{ws}/python-hello-world:v2")
    every_image.append({"Id": "sha256:" + "c" * 64, "ParentId": v2["Id"], "RepoTags": ["learner-own/child:1"]})
    learner = next(c for c in every_container if c["Names"] == [f"/{META['learner_container']}"])
    learner["ImageID"] = "sha256:" + "c" * 64
    decided = plan(lab_containers, lab_images, every_container, every_image)
    assert any(k.startswith(f"{ws}/python-hello-world:v2 (used by") for k in decided.kept)
    assert f"{ws}/python-hello-world:v1" in decided.images


def test_nothing_of_the_lab_means_nothing_to_do():
    _, _, every_container, every_image = LISTINGS
    decided = plan([], [], every_container, every_image)
    assert (decided.containers, decided.images, decided.kept) == ([], [], [])


def made_ids(images: list[dict]) -> set[str]:
    """Short ids of every image of the recorded workspace's builds (all but the base)."""
    return {i["Id"][7:19] for i in images if i.get("ParentId")}


def test_an_unused_stages_untagged_result_goes_but_not_the_steps_of_images_that_stay():
    lab_containers, lab_images, every_container, every_image = copy.deepcopy(LISTINGS)
    base = next(i for i in every_image if not i.get("ParentId"))
    unused = {"Id": "sha256:" + "d" * 64, "ParentId": base["Id"], "RepoTags": ["<none>:<none>"], "Created": 1}
    every_image.append(unused)
    made = made_ids(every_image) | {unused["Id"][7:19]}
    decided = plan(lab_containers, lab_images, every_container, every_image, made)
    assert decided.images[-1] == unused["Id"] and decided.images.count(unused["Id"]) == 1
    # v1 (used by the learner's container) and v2 (tagged by the learner too) stay, so do their steps
    kept_steps = {p for i in every_image if i["Id"] in {by_tag(lab_images, t)["Id"] for t in (
        f"{META['workspace']}/python-hello-world:v1", "learner-own/keep:1")} for p in [i["ParentId"]]}
    assert not kept_steps & set(decided.images)
    assert decided.cleaned.tags == 3  # the untagged lab image, v2's lab tag, the unused stage


def test_steps_below_an_image_that_goes_are_left_to_go_with_it():
    _, lab_images, every_container, every_image = LISTINGS
    learner = META["learner_container"]
    others = [c for c in every_container if c["Names"] != [f"/{learner}"]]
    untagged = next(i for i in lab_images if i["RepoTags"] == ["<none>:<none>"])
    decided = plan([], [untagged], others, every_image, made_ids(every_image))
    assert decided.images == [untagged["Id"]] and decided.cleaned.tags == 1
