"""What crosses the engine boundary: `EngineLike`, the calls the lab makes of an engine, and `Event`.

The live `helpers.engine.Engine`, the `helpers.recording.RecordingEngine` around it and the
`helpers.recording.ReplayEngine` that stands in for it on Binder all satisfy `EngineLike`; every
other module takes one of them and never imports the docker SDK. A new engine call goes here first,
then into `Engine`; recording and replay follow from this protocol.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

Event = tuple[float, dict]
"""One chunk of an engine stream with the seconds since the call began when it arrived."""


@runtime_checkable
class EngineLike(Protocol):
    """The Docker engine and registry calls the lab makes; each returns raw payloads (dicts, lists, events)."""

    registry: str
    """``host:port`` (or ``host/namespace``) of the registry the lab pushes to."""

    # -- facts -------------------------------------------------------------------------------
    def version(self) -> dict: ...

    def info(self) -> dict: ...

    def monotonic(self) -> float: ...

    def port_free(self, port: int) -> bool: ...

    # -- images ------------------------------------------------------------------------------
    def build(self, path: str, tag: str, dockerfile: str = "Dockerfile", nocache: bool = False,
              args: dict[str, str] | None = None, cache_from: list[str] | None = None) -> Iterator[Event]: ...

    def build_cli(self, path: str, tag: str, dockerfile: str = "Dockerfile", nocache: bool = False,
                  args: dict[str, str] | None = None) -> Iterator[Event]: ...

    def inspect_image(self, ref: str) -> dict: ...

    def has_image(self, ref: str) -> bool: ...

    def history(self, ref: str) -> list[dict]: ...

    def layer_files(self, image: str) -> dict: ...

    def images(self) -> list[dict]: ...

    def tag(self, image: str, repository: str, tag: str) -> None: ...

    def remove_image(self, ref: str) -> None: ...

    def push(self, repository: str, tag: str) -> Iterator[Event]: ...

    # -- registry ----------------------------------------------------------------------------
    def manifest(self, repository: str, reference: str) -> dict: ...

    def delete_manifest(self, repository: str, tag: str) -> bool: ...

    def catalog(self) -> list[str]: ...

    def tags(self, repository: str) -> list[str]: ...

    def registry_answers(self) -> bool: ...

    def login(self, username: str, password: str) -> None: ...

    # -- containers --------------------------------------------------------------------------
    def run(self, image: str, labels: dict[str, str], ports: dict[str, Any] | None = None,
            command: list[str] | None = None) -> str: ...

    def inspect_container(self, cid: str, size: bool = False) -> dict: ...

    def logs(self, cid: str) -> str: ...

    def exec(self, cid: str, command: list[str]) -> tuple[int, str]: ...

    def diff(self, cid: str) -> list[dict]: ...

    def containers(self, label: str | None = None, ancestor: str | None = None) -> list[dict]: ...

    def remove_container(self, cid: str) -> None: ...

    def http_get(self, url: str, timeout: float = 2.0) -> tuple[int, str]: ...


STREAMS = frozenset({"build", "build_cli", "push"})
"""The calls that answer with a stream of `Event`s rather than one payload."""
CALLS = frozenset(name for name, value in vars(EngineLike).items()
                  if callable(value) and not name.startswith("_")) - STREAMS
"""The calls that answer with one payload."""
UNRECORDED = frozenset({"login"})
"""Calls a recording passes through without storing (a login's answer holds nothing to replay, its
request a password); a replay refuses them."""
MACHINE_ARGUMENTS = {"build": ("path",), "build_cli": ("path",)}
"""Arguments that name something of the recording machine (the context folder), left out of a call's key."""
