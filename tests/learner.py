"""A learner's own Docker objects and files, made before the suite and checked after it: the lab
must leave every one of them exactly as it was."""
from __future__ import annotations

import secrets
import tempfile
import time
from pathlib import Path

import docker


class LearnerObjects:
    """An image, a stopped and a running container, a volume and two files, none carrying the lab's label."""

    count = 6

    def __init__(self, client: docker.DockerClient, base: str):
        self.client, self.tag = client, f"learner-own-{secrets.token_hex(3)}"
        self.folder = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        (self.folder / "Dockerfile").write_text(f"FROM {base}\nRUN echo {self.tag} > /mine.txt\n")
        (self.folder / "notes.txt").write_text("my own notes\n")
        self.image, _ = client.images.build(path=str(self.folder), tag=f"{self.tag}:1", rm=True)
        self.stopped = client.containers.create(self.image.id, command=["true"], name=f"{self.tag}-stopped")
        # restarts with the engine, as a learner's long-lived container would: the fault tests stop the engine
        self.running = client.containers.run(self.image.id, command=["sleep", "3600"], detach=True,
                                             name=f"{self.tag}-running", restart_policy={"Name": "unless-stopped"})
        self.volume = client.volumes.create(name=f"{self.tag}-volume")
        self.started = time.time()

    def problems(self) -> list[str]:
        """What is missing or changed, in words; empty when everything is intact."""
        found = []
        try:
            if self.client.images.get(self.image.id).tags != [f"{self.tag}:1"]:
                found.append("the learner's image lost or changed its tag")
        except docker.errors.NotFound:
            found.append("the learner's image was removed")
        for container, status in ((self.stopped, "created"), (self.running, "running")):
            try:
                if self.client.containers.get(container.id).status != status:
                    found.append(f"the learner's {status} container changed state")
            except docker.errors.NotFound:
                found.append(f"the learner's {status} container was removed")
        try:
            self.client.volumes.get(self.volume.name)
        except docker.errors.NotFound:
            found.append("the learner's volume was removed")
        for name, text in (("notes.txt", "my own notes\n"), ("Dockerfile", None)):
            path = self.folder / name
            if not path.is_file() or (text and path.read_text() != text):
                found.append(f"the learner's file {path} was changed or removed")
        return found

    def remove(self) -> None:
        for container in (self.stopped, self.running):
            container.remove(force=True)
        self.volume.remove(force=True)
        self.client.images.remove(f"{self.tag}:1")
        for path in self.folder.iterdir():
            path.unlink()
        self.folder.rmdir()
