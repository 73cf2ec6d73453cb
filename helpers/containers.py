"""Containers: run the app with a port mapping, wait until it answers, and read what it changed."""
from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd

from .boundary import EngineLike
from .errors import BadInput, ContainerFailed, NotAnswering, PortBusy
from .report import FrameReport

APP_PORT = "5000/tcp"
KINDS = {0: "changed", 1: "added", 2: "deleted"}
LETTERS = {"changed": "C", "added": "A", "deleted": "D"}
"""The letter `docker diff` prints for each kind of change."""


@dataclass
class App:
    """A running app container and where the host reaches it."""

    id: str
    image: str
    host_port: int
    note: str
    seconds: float = 0.0
    """From asking the engine to start it until it first answered HTTP."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}/"

    def __repr__(self) -> str:
        return f"<App {self.id[:12]} from {self.image} at {self.url}>"


def start(engine: EngineLike, image: str, labels: dict[str, str], port: int | None = 5001, wait: float = 30.0) -> App:
    """Run ``image`` detached, mapping its port 5000 to ``port`` on 127.0.0.1, and wait until it answers.

    If ``port`` is busy, the engine picks a free one and the app's ``note`` says so; likewise when
    another program (another learner's container) takes ``port`` between the check and the start.
    A container that runs but whose published port stays silent for half of ``wait`` (seen once in
    a room of eight on Docker 20.10, the app's log saying it served) is replaced by a fresh one, once,
    and the note says so.

    Raises:
        ContainerFailed: the container exited, or did not answer HTTP within ``wait`` seconds.
    """
    started = engine.monotonic()
    app = _started(engine, image, labels, port)
    if not wait_until_answering(engine, app, wait / 2):
        engine.remove_container(app.id)
        again = _started(engine, image, labels, port)
        again.note += f"; the first container's port {app.host_port} never answered, so this one replaced it"
        app = again
        if not wait_until_answering(engine, app, wait / 2):
            raise ContainerFailed(f"The app from {app.image} did not answer at {app.url} within {wait:.0f} s, "
                                  "in two containers.", engine.logs(app.id))
    app.seconds = round(engine.monotonic() - started, 3)
    return app


def _started(engine: EngineLike, image: str, labels: dict[str, str], port: int | None) -> App:
    """A container of ``image`` started with its port 5000 published on 127.0.0.1, ``port`` if free (None: any)."""
    if port is None:
        binding, note = ("127.0.0.1", None), "Docker picked a free host port"
    elif engine.port_free(port):
        binding, note = ("127.0.0.1", port), f"host port {port} -> container port 5000"
    else:
        binding, note = ("127.0.0.1", None), f"host port {port} was busy, so Docker picked a free one"
    try:
        cid = engine.run(image, labels, ports={APP_PORT: binding})
    except PortBusy:  # taken since the check, by another program: let Docker pick
        binding = ("127.0.0.1", None)
        note = f"host port {port} was taken as the app started, so Docker picked a free one"
        cid = engine.run(image, labels, ports={APP_PORT: binding})
    info = engine.inspect_container(cid)
    mapped = (info["NetworkSettings"]["Ports"] or {}).get(APP_PORT)
    if not mapped:  # the container has already exited, and its ports went with it
        raise _exited(engine, cid, image, info["State"])
    host_port = int(mapped[0]["HostPort"])
    if binding[1] is None:
        note = note.replace("a free one", f"port {host_port}").replace("a free host port", f"host port {host_port}")
    return App(cid, image, host_port, note)


def wait_until_answering(engine: EngineLike, app: App, wait: float) -> bool:
    """Poll the app's URL until it answers (True) or ``wait`` seconds pass (False).

    Raises:
        ContainerFailed: the container exited meanwhile.
    """
    deadline = engine.monotonic() + wait
    while engine.monotonic() < deadline:
        state = engine.inspect_container(app.id)["State"]
        if not state["Running"]:
            raise _exited(engine, app.id, app.image, state)
        try:
            engine.http_get(app.url, timeout=1)
            return True
        except NotAnswering:
            time.sleep(0.05)
    return False


def _exited(engine: EngineLike, cid: str, image: str, state: dict) -> ContainerFailed:
    return ContainerFailed(f"The container from {image} exited with code {state['ExitCode']} before it answered.",
                           engine.logs(cid))


@dataclass
class Change:
    """One path a container changed on top of its image, like a line of `docker diff`."""

    path: str
    kind: str
    """``added``, ``changed`` or ``deleted`` (docker diff's A, C, D)."""

    @property
    def letter(self) -> str:
        """The letter `docker diff` prints for it."""
        return LETTERS.get(self.kind, "?")


@dataclass(repr=False)
class Changes(FrameReport):
    """What a container's thin read/write layer holds."""

    container: str
    rows: list[Change]
    record = Change

    @property
    def title(self) -> str:
        return f"docker diff {self.container[:12]}: {len(self.rows)} paths"

    @property
    def frame(self) -> pd.DataFrame:
        """As `docker diff` prints it, the letter first, with its word beside it."""
        return pd.DataFrame([{"": c.letter, "change": c.kind, "path": c.path} for c in self.rows],
                            columns=["", "change", "path"])

    def kind_of(self, path: str) -> str | None:
        return next((c.kind for c in self.rows if c.path == path), None)


def parse_diff(container: str, diff: list[dict]) -> Changes:
    """Turn the engine's ``/containers/{id}/changes`` payload into `Changes`, sorted by path."""
    rows = [Change(d["Path"], KINDS.get(d["Kind"], str(d["Kind"]))) for d in diff]
    return Changes(container, sorted(rows, key=lambda c: c.path))


@dataclass
class Overlay:
    """A container's root file system as the kernel mounted it: the union of read-only lower folders (the
    image's layers, top first, and Docker's small init layer) under one writable upper folder."""

    fstype: str
    lower: list[str]
    upper: str
    work: str

    @property
    def layers(self) -> int:
        """How many read-only folders the union stacks."""
        return len(self.lower)


def parse_root_mount(mountinfo: str) -> Overlay:
    """The root mount of a container, from its ``/proc/self/mountinfo`` (what `docker exec` reads inside it).

    Raises:
        BadInput: the root is not an overlay mount (another storage driver).
    """
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == "/" and " - " in line:
            fstype, _, options = line.split(" - ", 1)[1].split(" ", 2)
            found = dict(o.partition("=")[::2] for o in options.split(","))
            if fstype != "overlay":
                break
            return Overlay(fstype, found.get("lowerdir", "").split(":"), found.get("upperdir", ""),
                           found.get("workdir", ""))
    raise BadInput("The container's root is not an overlay mount: this engine stores layers another way.")
