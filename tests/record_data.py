"""Record the engine payloads the unit tests parse: `python -m tests.record_data` with `make up` done, and
again with DOCKER_HOST at the current engine (`make up ENGINE=current`).

Builds, pushes and diffs the lab app for real and stores each raw stream or payload as JSON in
tests/data/, named with ``_containerd`` at the end when the engine stores images in containerd. Pushes
to a throwaway registry, so the first push uploads every layer, and cleans up afterwards.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import store
from helpers.cli import BuildCli, build_clis, cli_build
from helpers.engine import Engine
from helpers.lab import Lab
from helpers.settings import Settings, load
from helpers.workspace import Workspace
from tests.throwaway import throwaway_registry

DATA = Path(__file__).parent / "data"
SUFFIX = ""
"""``_containerd`` while recording an engine with the containerd image store."""


def save(name: str, payload) -> None:
    (DATA / f"{name}{SUFFIX}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print("wrote", name + SUFFIX)


def main(only: list[str]) -> None:
    """Record everything, or only the groups named (``python -m tests.record_data cleanup``)."""
    global SUFFIX
    with throwaway_registry() as registry:
        lab = Lab(Engine(registry), Settings(registry, load().base_image, "recording"), Workspace())
        SUFFIX = "_containerd" if lab.store == store.CONTAINERD else ""
        if only == ["cleanup"]:
            return record_cleanup(lab)
        record(lab)
        record_cleanup(lab)
        clis = {cli.progress: cli for cli in reversed(build_clis())}  # the best CLI of each progress format
        for progress, prefix in (("plain", "buildkit_"), ("rawjson", "buildkit_rawjson_")):
            if progress in clis:
                record_buildkit(lab, clis[progress], prefix)
            else:
                print(f"no docker CLI here prints {progress} progress: {prefix}* not recorded")


def record(lab: Lab) -> None:
    engine = lab.engine
    meta = {"engine": engine.version()["Version"], "api": engine.version()["ApiVersion"], "base": lab.base_image,
            "workspace": lab.workspace.name, "info": engine.info()}
    save("meta", meta)
    ws = lab.workspace
    try:
        lab.write_app("hello world!")
        lab.write_dockerfile()
        v1, v2 = lab.image("v1"), lab.image("v2")
        save("build_v1_nocache", list(engine.build(str(ws.path), v1, nocache=True)))
        save("history_v1", engine.history(v1))
        save("inspect_v1", engine.inspect_image(v1))
        lab.write_app("hello beautiful world!")
        save("build_v2_after_change", list(engine.build(str(ws.path), v2)))
        save("build_v2_all_cached", list(engine.build(str(ws.path), v2)))
        save("history_v2", engine.history(v2))
        save("inspect_v2", engine.inspect_image(v2))
        for image, name in ((v1, "v1"), (v2, "v2")):
            repo, tag = f"{lab.registry}/{image.rsplit(':', 1)[0]}", image.rsplit(":", 1)[1]
            engine.tag(image, repo, tag)
            events = [e for e in engine.push(repo, tag) if e[1].get("status") != "Pushing"][:40]
            save(f"push_{name}", events)
            save(f"manifest_{name}", engine.manifest(image.rsplit(":", 1)[0], tag)["manifest"])
        other = f"{lab.registry}/{ws.name}-copy/python-hello-world"
        engine.tag(v2, other, "v2")
        save("push_v2_mounted", list(engine.push(other, "v2")))
        save("push_missing_tag", list(engine.push(f"{lab.registry}/{ws.name}/nothing", "v9")))
        ws.write("Dockerfile.fails", f"FROM {lab.base_image}\nRUN echo about to fail && exit 3\n")
        save("build_run_fails", list(engine.build(str(ws.path), lab.image("bad"), "Dockerfile.fails")))
        app = lab.run(v2)
        lab.exec(app, "sh", "-c", "echo '# edited' >> /app.py && touch /tmp/new && rm /usr/bin/apt")
        save("diff_app", engine.diff(app.id))
        save("container_size_app", engine.inspect_container(app.id, size=True))
    finally:
        lab.cleanup()
        engine.remove_image(f"{lab.registry}/{ws.name}-copy/python-hello-world:v2")


def record_cleanup(lab: Lab) -> None:
    """The three listings a cleanup decides from (and the step images the lab made), with a lab container, a
    learner's container on a lab image, a lab image someone else also tagged, and an untagged lab image (a tag
    built twice)."""
    engine, client = lab.engine, lab.engine.client
    learner = None
    try:
        lab.write_app("hello world!")
        lab.write_dockerfile()
        v1 = lab.build("v1").tag
        lab.write_app("hello again!")
        lab.build("v2")
        lab.write_app("hello beautiful world!")
        v2 = lab.build("v2").tag  # the first v2 is left untagged
        engine.tag(v2, "learner-own/keep", "1")
        lab.run(v2)
        learner = client.containers.create(v1, command=["true"], name=f"learner-{lab.workspace.name}")
        save("cleanup_lab_containers", engine.containers(f"layer-lab.container={lab.workspace.name}"))
        save("cleanup_every_container", engine.containers())
        save("cleanup_every_image", engine.images())
        save("cleanup_meta", {"workspace": lab.workspace.name, "learner_container": learner.name,
                              "made": sorted(lab.made)})
    finally:
        if learner is not None:
            learner.remove(force=True)
        engine.remove_image("learner-own/keep:1")
        lab.cleanup()


def record_buildkit(lab: Lab, cli: BuildCli, prefix: str) -> None:
    """Record the same app built with BuildKit through ``cli``, the history of its v2 image, and failures.

    The messages name the workspace and the progress format: BuildKit's cache is keyed by file content,
    so a message built before (by anyone on this engine) would make v2's COPY come from the cache.
    """
    ws, engine = lab.workspace, lab.engine

    def build(name: str, tag: str, dockerfile: str = "Dockerfile", nocache: bool = False) -> None:
        save(f"{prefix}{name}", list(cli_build(str(ws.path), lab.image(tag), dockerfile, nocache, owner=ws.name,
                                               docker=cli)))

    try:
        lab.write_app(f"hello world from {ws.name} ({cli.progress})!")
        lab.write_dockerfile()
        build("v1_nocache", "v1", nocache=True)
        lab.write_app(f"hello beautiful world from {ws.name} ({cli.progress})!")
        build("v2_after_change", "v2")
        build("v2_all_cached", "v2")
        save(f"history_{prefix}v2", engine.history(lab.image("v2")))
        save(f"inspect_{prefix}v2", engine.inspect_image(lab.image("v2")))
        repository, image = f"{lab.registry}/{ws.name}/python-hello-world", lab.image("v2")
        engine.tag(image, repository, f"{prefix}v2")
        save(f"push_{prefix}v2", list(engine.push(repository, f"{prefix}v2")))
        top = engine.manifest(f"{ws.name}/python-hello-world", f"{prefix}v2")
        save(f"manifest_{prefix}v2", top)
        for entry in top["manifest"].get("manifests") or []:  # an index: the image's manifest and its attestation's
            kind = "attestation" if (entry.get("annotations") or {}).get("vnd.docker.reference.type") else "image"
            save(f"manifest_{prefix}v2_{kind}", engine.manifest(f"{ws.name}/python-hello-world", entry["digest"]))
        ws.write("Dockerfile.fails", f"FROM {lab.base_image}\nRUN echo about to fail && exit 3\n")
        build("run_fails", "bad", "Dockerfile.fails")
        ws.write("Dockerfile.typo", f"FROM {lab.base_image}\nRUNN echo typo\n")
        build("parse_error", "typo", "Dockerfile.typo")
    finally:
        lab.cleanup()


if __name__ == "__main__":
    main(sys.argv[1:])
