"""What the engine and the lab's registry hold, before the whole suite and after it: nothing may be new.

`python -m tests.leftovers snapshot` stores the engine's full image list (dangling and intermediate
images included), its containers, volumes and networks, and the lab registry's repositories that hold
a tag; `python -m tests.leftovers check` compares them again and fails on anything new. `make test`
runs the first before its pytest runs and the second after them.
"""
from __future__ import annotations

import json
import sys

import docker
import requests

from helpers.settings import STATE_DIR, load, on_loopback, registry_host

SNAPSHOT = STATE_DIR / "leftovers-before.json"


def repositories_with_tags(registry: str) -> dict[str, list[str]]:
    """The lab registry's repositories that still hold a tag (a deleted manifest leaves an empty repository
    until `make up` garbage-collects it)."""
    if not on_loopback(registry):
        return {}
    base, names = f"http://{registry_host(registry)}/v2", []
    while True:  # the registry answers a page of at most 1000
        after = f"&last={names[-1]}" if names else ""
        page = requests.get(f"{base}/_catalog?n=1000{after}", timeout=10)
        page.raise_for_status()
        names += page.json().get("repositories") or []
        if len(page.json().get("repositories") or []) < 1000:
            break
    tags = {name: requests.get(f"{base}/{name}/tags/list", timeout=10).json().get("tags") or [] for name in names}
    return {name: sorted(t) for name, t in tags.items() if t}


def state(client: docker.DockerClient) -> dict[str, list[str]]:
    api = client.api
    found = {
        "images": [i["Id"] for i in api.images(all=True)],
        "containers": [c["Id"] for c in api.containers(all=True)],
        "volumes": [v["Name"] for v in api.volumes().get("Volumes") or []],
        "networks": [n["Name"] for n in api.networks()],  # by name: dockerd recreates "bridge" on restart
    }
    found["repositories"] = [f"{n}:{t}" for n, tags in repositories_with_tags(load().registry).items() for t in tags]
    return found


def describe(client: docker.DockerClient, kind: str, ident: str) -> str:
    """A leftover in words: an image by its tags, a container by its name and image."""
    try:
        if kind == "images":
            image = client.api.inspect_image(ident)
            return f"{ident[7:19]} {image.get('RepoTags') or '<untagged>'} labels={image['Config'].get('Labels')}"
        if kind == "containers":
            c = client.api.inspect_container(ident)
            return f"{c['Name']} from {c['Config']['Image']}"
    except docker.errors.NotFound:
        pass
    return ident


def main(command: str) -> int:
    client = docker.from_env()
    if command == "snapshot":
        SNAPSHOT.write_text(json.dumps(state(client)))
        return 0
    before, after = json.loads(SNAPSHOT.read_text()), state(client)
    new = {kind: sorted(set(after[kind]) - set(before[kind])) for kind in after}
    if any(new.values()):
        for kind, idents in new.items():
            for ident in idents:
                print(f"LEFT BEHIND ({kind}): {describe(client, kind, ident)}")
        return 1
    print("nothing left behind by the suite: " + ", ".join(f"{len(after[k])} {k} as before" for k in after))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "check"))
