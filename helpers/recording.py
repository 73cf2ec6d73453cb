"""Record what the engine answered during a live run, and replay it where no engine exists (Binder).

Recording wraps an `Engine` and stores each call's raw answer (streams, inspect payloads, HTTP
replies, even the clock) with the call that asked for it. Replay answers the same calls from the
file, so the notebooks run the same parsing and charting code on the same payloads.
"""
from __future__ import annotations

import datetime
import inspect
import json
import os
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import errors
from .boundary import CALLS, MACHINE_ARGUMENTS, STREAMS, UNRECORDED, EngineLike

RECORDINGS = Path(__file__).resolve().parent.parent / "notebooks" / "recordings"
HOST_KEYS = {"GraphDriver", "LogPath", "ResolvConfPath", "HostnamePath", "HostsPath", "Mounts", "HostConfig",
             "ContainerConfig", "Metadata"}
"""Keys of engine payloads that name host paths or host settings; never stored."""


_SIGNATURES = {name: inspect.signature(getattr(EngineLike, name)) for name in CALLS | STREAMS}


def _key(name: str, args: tuple, kwargs: dict) -> str:
    """A call's key: its name and every argument by name, defaults filled in, so ``f(1)`` and ``f(x=1)``
    are one call; arguments naming the recording machine's folders are left out (of a Dockerfile outside the
    context, all but its file name)."""
    bound = _SIGNATURES[name].bind(None, *args, **kwargs)
    bound.apply_defaults()
    if os.path.isabs(bound.arguments.get("dockerfile") or ""):  # one outside the context, in a folder of the moment
        bound.arguments["dockerfile"] = os.path.basename(bound.arguments["dockerfile"])
    dropped = ("self", *MACHINE_ARGUMENTS.get(name, ()))
    return json.dumps([name, {k: v for k, v in bound.arguments.items() if k not in dropped}], sort_keys=True,
                      default=str)


def _scrub(value: Any) -> Any:
    """A JSON-ready copy of ``value`` without host paths."""
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in HOST_KEYS}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _raised(e: errors.LabError) -> dict:
    """A raised `LabError` as JSON: its class, its message and every attribute it carries (step, logs ...)."""
    return {"raise": type(e).__name__, "message": str(e), "attributes": _scrub(vars(e))}


def _exception(entry: dict) -> errors.LabError:
    """The `LabError` a recording says was raised, with the same message and attributes."""
    cls = getattr(errors, entry["raise"], None)
    if not (isinstance(cls, type) and issubclass(cls, errors.LabError)):
        raise errors.RecordingMissing(f"The recording holds an error the lab does not know: {entry['raise']}.")
    err = cls.__new__(cls)
    Exception.__init__(err, entry["message"])
    vars(err).update(entry.get("attributes") or {})
    return err


class _Calls:
    """One method per `EngineLike` call, each sent to ``_call`` (payloads) or ``_stream`` (events)."""

    def _call(self, name: str, *args, **kwargs):
        raise NotImplementedError

    def _stream(self, name: str, *args, **kwargs) -> Iterator:
        raise NotImplementedError


def _method(name: str):
    def method(self, *args, **kwargs):
        return (self._stream if name in STREAMS else self._call)(name, *args, **kwargs)
    method.__name__, method.__signature__ = name, _SIGNATURES[name]
    method.__doc__ = f"`EngineLike.{name}`, answered from {'a stream' if name in STREAMS else 'one payload'}."
    return method


for _name in sorted((CALLS | STREAMS) - UNRECORDED):
    setattr(_Calls, _name, _method(_name))


class RecordingEngine(_Calls):
    """An `EngineLike` that asks ``engine`` and also appends every answer to ``path``, one JSON line per
    call (so a crash keeps them); a layer's file list already stored is written again only as its ``diff_id``.
    Calls may come from two threads (a build's history is read while its CLI exits): one line is written at a time."""

    def __init__(self, engine: EngineLike, path: Path, meta: dict):
        self.engine, self.path, self.registry = engine, path, engine.registry
        self.layers_stored: set[str] = set()
        self.writing = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"meta": meta}) + "\n")

    def login(self, username: str, password: str) -> None:
        """Passed through, never stored: the request holds a password and the answer nothing to replay."""
        self.engine.login(username, password)

    def _store(self, name: str, args: tuple, kwargs: dict, entry: dict) -> None:
        entry["key"] = _key(name, args, kwargs)
        with self.writing:
            if name == "layer_files" and "result" in entry:
                layers = [self._layer(layer) for layer in entry["result"]["layers"]]
                entry["result"] = dict(entry["result"], layers=layers)
            with self.path.open("a") as out:
                out.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def _layer(self, layer: dict) -> dict:
        if layer["diff_id"] in self.layers_stored:
            return {"diff_id": layer["diff_id"], "stored_above": True}
        self.layers_stored.add(layer["diff_id"])
        return layer

    def _call(self, name: str, *args, **kwargs):
        try:
            result = getattr(self.engine, name)(*args, **kwargs)
        except errors.LabError as e:
            self._store(name, args, kwargs, _raised(e))
            raise
        self._store(name, args, kwargs, {"result": _scrub(result)})
        return result

    def _stream(self, name: str, *args, **kwargs) -> Iterator:
        events: list = []
        try:
            for event in getattr(self.engine, name)(*args, **kwargs):
                events.append(_scrub(event))
                yield event
        except errors.LabError as e:
            self._store(name, args, kwargs, {"result": events, **_raised(e)})
            raise
        self._store(name, args, kwargs, {"result": events})


class ReplayEngine(_Calls):
    """An `EngineLike` that answers the calls of a recording, in the order they were made; raises
    `RecordingMissing` for a call the recording does not hold."""

    def __init__(self, recording: dict, name: str):
        self.meta, self.name = recording["meta"], name
        self.registry = self.meta["registry"]
        self.answers: dict[str, deque] = {}
        for entry in recording["calls"]:
            self.answers.setdefault(entry["key"], deque()).append(entry)

    def __repr__(self) -> str:
        return f"<ReplayEngine of {self.name}, recorded {self.meta['recorded']}>"

    def login(self, username: str, password: str) -> None:
        """A replay has no registry to log in to."""
        raise errors.BadInput("A replay has no registry to log in to.", "Skip this cell, or run the lab with Docker.")

    def _next(self, name: str, args: tuple, kwargs: dict) -> dict:
        queue = self.answers.get(_key(name, args, kwargs))
        if not queue:
            shown = ", ".join(map(repr, args[1:] if name in MACHINE_ARGUMENTS else args))
            raise errors.RecordingMissing(f"The recording of {self.name} holds no answer for {name}({shown}).")
        return queue.popleft() if len(queue) > 1 else queue[0]

    def _call(self, name: str, *args, **kwargs):
        entry = self._next(name, args, kwargs)
        if "raise" in entry:
            raise _exception(entry)
        return entry["result"]

    def _stream(self, name: str, *args, **kwargs) -> Iterator:
        entry = self._next(name, args, kwargs)
        yield from ((t, chunk) for t, chunk in entry["result"])
        if "raise" in entry:
            raise _exception(entry)


def recording_path(name: str, builder: str) -> Path:
    """Where the run of notebook ``name`` with ``builder`` is recorded."""
    return RECORDINGS / f"{name}.{builder}.jsonl"


def read(path: Path) -> dict:
    """A recording file as ``{"meta": ..., "calls": [...]}``, each layer file list written out in full."""
    lines = path.read_text().splitlines()
    calls, layers = [json.loads(line) for line in lines[1:]], {}
    for entry in calls:
        if entry["key"].startswith('["layer_files"') and "result" in entry:
            entry["result"]["layers"] = [layers.setdefault(layer["diff_id"], layer)
                                         for layer in entry["result"]["layers"]]
    return {"meta": json.loads(lines[0])["meta"], "calls": calls}


def load(name: str, builder: str) -> dict:
    """The recording of notebook ``name`` run with ``builder``.

    Raises:
        RecordingMissing: there is none.
    """
    path = recording_path(name, builder)
    if not path.is_file():
        raise errors.RecordingMissing(f"There is no recording of {name} with the {builder} builder ({path.name}).")
    return read(path)


def meta_for(engine: EngineLike, notebook: str, workspace: str, base_image: str, builder: str = "classic") -> dict:
    """What a recording says about itself: when, with which engine, builder, driver and base."""
    version, info = engine.version(), engine.info()
    return {"notebook": notebook, "workspace": workspace, "registry": engine.registry, "base_image": base_image,
            "recorded": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "engine": version["Version"], "api": version["ApiVersion"], "builder": builder,
            "storage_driver": info["Driver"]}
