"""What the engine and the lab's registry hold, before the whole suite and after it: nothing may be new.

`python -m tests.leftovers snapshot` stores the engine's full image list (dangling and intermediate
images included), its containers, volumes and networks, and the lab registry's repositories that hold
a tag; `python -m tests.leftovers check` compares them again and fails on anything new. `make test`
runs the first before its pytest runs and the second after them.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import docker

from helpers.engine import Engine
from helpers.settings import STATE_DIR, load, on_loopback
from tests import engines


def snapshot_path() -> Path:
    """Where the state before the suite is kept: one file per engine the suite brings up."""
    return STATE_DIR / f"leftovers-before-{'current' if engines.is_current() else 'default'}.json"


def repositories_with_tags(engine: Engine) -> dict[str, list[str]]:
    """The lab registry's repositories that still hold a tag (a deleted manifest leaves an empty repository
    until `make up` garbage-collects it)."""
    if not on_loopback(engine.registry):
        return {}
    return {name: sorted(tags) for name in engine.catalog() if (tags := engine.tags(name))}


def state(engine: Engine) -> dict[str, list[str]]:
    api = engine.api
    found = {
        "images": [i["Id"] for i in api.images(all=True)],
        "containers": [c["Id"] for c in api.containers(all=True)],
        "volumes": [v["Name"] for v in api.volumes().get("Volumes") or []],
        "networks": [n["Name"] for n in api.networks()],  # by name: dockerd recreates "bridge" on restart
    }
    found["repositories"] = [f"{n}:{t}" for n, tags in repositories_with_tags(engine).items() for t in tags]
    return found


def describe(client: docker.APIClient, kind: str, ident: str) -> str:
    """A leftover in words: an image by its tags, a container by its name and image."""
    try:
        if kind == "images":
            image = client.inspect_image(ident)
            return f"{ident[7:19]} {image.get('RepoTags') or '<untagged>'} labels={image['Config'].get('Labels')}"
        if kind == "containers":
            c = client.inspect_container(ident)
            return f"{c['Name']} from {c['Config']['Image']}"
    except docker.errors.NotFound:
        pass
    return ident


def main(command: str) -> int:
    engine = Engine(load().registry)
    if command == "snapshot":
        snapshot_path().write_text(json.dumps(state(engine)))
        return 0
    before, after = json.loads(snapshot_path().read_text()), state(engine)
    new = {kind: sorted(set(after[kind]) - set(before[kind])) for kind in after}
    if any(new.values()):
        for kind, idents in new.items():
            for ident in idents:
                print(f"LEFT BEHIND ({kind}): {describe(engine.api, kind, ident)}")
        return 1
    counts = ", ".join(f"{len(after[k])} {k} as before" for k in after)
    print(f"nothing left behind by the suite on Docker {engine.version()['Version']}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "check"))
