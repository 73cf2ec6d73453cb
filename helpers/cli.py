"""The docker CLI runner (a boundary module): which CLI here builds with BuildKit, and its progress streamed raw.

`helpers.buildkit` parses what `cli_build` yields; the engine's `build_cli` call is this function,
so the stream is recorded and replayed like every other engine answer.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .boundary import Event
from .errors import BuilderUnavailable
from .settings import LAB_BUILDX

_BUILDX_VERSION = re.compile(r"buildx v?(\d+)\.(\d+)")
_LOCK_NAME = "layer-lab-buildkit.lock"


def lock_folder(shared: Path = Path("/run/lock")) -> Path:
    """Where the lab's machine-wide lock files go: ``shared`` (``/run/lock``, the system's folder for lock files)
    where it is usable, else the temp folder. A JupyterHub that gives each learner a /tmp of their own
    (SystemdSpawner's ``isolate_tmp``) leaves ``/run/lock`` shared, so learners still take turns."""
    usable = shared.is_dir() and (os.access(shared, os.W_OK | os.X_OK) or (shared / _LOCK_NAME).exists())
    return shared if usable else Path(tempfile.gettempdir())


BUILDKIT_LOCK = lock_folder() / _LOCK_NAME
"""Held by each BuildKit build of the lab on this machine (see `buildkit_turn`)."""
BUILDKIT_GATE = BUILDKIT_LOCK.with_suffix(".gate")
"""Passed one build at a time on the way to `BUILDKIT_LOCK`, so a ``--no-cache`` build waiting there holds back
the builds that come after it (see `buildkit_turn`)."""


def _open_lock(path: Path) -> int:
    """A descriptor of a lock file anyone may open (``flock`` needs no write permission)."""
    return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)


@contextlib.contextmanager
def buildkit_turn(alone: bool) -> Iterator[None]:
    """Wait for a BuildKit build's turn on the machine-wide lock of the lab's builds, whichever user runs them:
    a build ``alone`` (``--no-cache``) holds it by itself; builds that use the cache share it. A build waiting
    to run alone keeps the gate, so builds that come later wait behind it instead of keeping it out.

    Docker 20.10's BuildKit panics, taking the whole engine down, when parallel builds ask for the same
    steps and some use ``--no-cache`` ("failed to get edge", moby/moby#42414): exactly a room of learners
    running the same notebook.
    """
    lock = _open_lock(BUILDKIT_LOCK)
    try:
        gate = _open_lock(BUILDKIT_GATE)
        try:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            os.close(gate)
        yield
    finally:
        os.close(lock)


@dataclass(frozen=True)
class BuildCli:
    """A command that starts a BuildKit build, the progress format it prints, and what it adds to the environment."""

    argv: tuple[str, ...]
    progress: str
    """``rawjson`` (buildx 0.13 and newer) or ``plain``."""
    env: dict[str, str] = field(default_factory=dict)


def _probe(*argv: str) -> str | None:
    """The standard output of a quick command, or None when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.cache
def _buildx_progress(*argv: str) -> str | None:
    """The progress format of the buildx that ``argv`` (its ``version`` command) asks, or None when it fails."""
    version = _BUILDX_VERSION.search(_probe(*argv) or "")
    if version is None:
        return None
    return "rawjson" if (int(version[1]), int(version[2])) >= (0, 13) else "plain"


def _clis() -> list[str]:
    """Each docker CLI on PATH, in PATH order, once."""
    found = [os.path.realpath(Path(d) / "docker") for d in os.get_exec_path()]
    return [cli for cli in dict.fromkeys(found) if os.access(cli, os.X_OK)]


@functools.cache
def build_clis() -> tuple[BuildCli, ...]:
    """Every command here that starts a BuildKit build, best first.

    A docker CLI on PATH whose buildx plugin works (``buildx build --load``); the lab's own buildx
    (`LAB_BUILDX`, run standalone with its state under ``.lab/buildx``); a CLI older than 23
    (``/usr/bin/docker`` first, then each one on PATH), whose ``docker build`` uses BuildKit when
    ``DOCKER_BUILDKIT=1`` (`cli_build` sets it) and prints plain progress only. A buildx from 0.13 on
    prints ``rawjson`` progress; an older one, plain.
    """
    found = [BuildCli((cli, "buildx", "build", "--load"), progress)
             for cli in _clis() if (progress := _buildx_progress(cli, "buildx", "version"))]
    if os.access(LAB_BUILDX, os.X_OK) and (progress := _buildx_progress(str(LAB_BUILDX), "version")):
        found.append(BuildCli((str(LAB_BUILDX), "build", "--load"), progress,
                              {"BUILDX_CONFIG": str(LAB_BUILDX.parent / "config")}))
    for cli in dict.fromkeys([os.path.realpath("/usr/bin/docker"), *_clis()]):
        version = re.search(r"version (\d+)\.", _probe(cli, "--version") or "")
        if version and int(version[1]) < 23:
            found.append(BuildCli((cli, "build"), "plain"))
    return tuple(found)


def find_cli() -> BuildCli | None:
    """The best of `build_clis`, or None when no docker CLI here builds with BuildKit."""
    return next(iter(build_clis()), None)


def docker_build_uses_buildkit() -> bool:
    """Whether `docker build` here builds with BuildKit: as ``DOCKER_BUILDKIT`` says when it is set, else
    when the docker CLI first on PATH has the buildx plugin (the lab's own buildx is no plugin: it does not count)."""
    choice = os.environ.get("DOCKER_BUILDKIT")
    if choice is not None:
        return choice.lower() in ("1", "t", "true")
    cli = shutil.which("docker")
    return cli is not None and _buildx_progress(os.path.realpath(cli), "buildx", "version") is not None


def _chunks(lines: Iterable[str]) -> Iterator[dict]:
    """``{"json": object}`` for each JSON object among ``lines`` (rawjson prints them over many lines),
    ``{"line": text}`` for each other line."""
    pending: list[str] = []
    for line in lines:
        if not pending and not line.startswith("{"):
            yield {"line": line.rstrip("\n")}
            continue
        pending.append(line)
        if line.rstrip().endswith("}"):
            try:
                obj = json.loads("".join(pending))
            except ValueError:
                continue
            pending = []
            yield {"json": obj}
    for line in pending:  # an object cut short
        yield {"line": line.rstrip("\n")}


def owner_host(owner: str) -> str:
    """The host name that keys a lab's BuildKit RUN steps apart (`cli_build`'s ``owner``): ``layer-lab-`` plus
    the owner's name, in the letters a host name may hold."""
    return "layer-lab-" + re.sub(r"[^a-z0-9-]+", "-", owner.lower()).strip("-")


def cli_build(path: str, tag: str, dockerfile: str = "Dockerfile", nocache: bool = False,
              args: dict[str, str] | None = None, owner: str | None = None,
              docker: BuildCli | None = None, target: str | None = None) -> Iterator[Event]:
    """Build the context at ``path`` with BuildKit through the docker CLI, streaming its progress; the lab's
    BuildKit builds on one machine take turns with ``--no-cache`` ones (`buildkit_turn`).

    Args:
        path: the build context (a folder).
        tag: the name the image gets.
        dockerfile: the Dockerfile's name inside ``path``.
        nocache: build every step again (``--no-cache``).
        args: build-arg values (``--build-arg``).
        owner: whose cache this build may use and feed (a lab's workspace name), as an extra host name of
            the build's RUN steps (`owner_host`): BuildKit keys a RUN step by the host names it adds, not
            their addresses, and each later step by its parent, so builds of two owners never serve each
            other a RUN step or any step after one. None: the engine's cache, shared with every build.
        docker: the command that starts a BuildKit build; `find_cli` when None.
        target: build only up to this stage (``--target``).

    Yields:
        ``(seconds, {"json": object})`` for each object of rawjson progress, ``(seconds, {"line": text})``
        for each other line the CLI printed (both print progress on stderr, merged into stdout here),
        then ``(seconds, {"exit": returncode})``: the raw payload of this path, as recorded.

    Raises:
        BuilderUnavailable: no docker CLI here builds with BuildKit.
    """
    cli = docker or find_cli()
    if cli is None:
        raise BuilderUnavailable("No docker CLI here builds with BuildKit: it needs the buildx plugin, or a CLI "
                                 "older than 23.")
    options = [("--build-arg", f"{key}={value}") for key, value in (args or {}).items()]
    options += [("--add-host", f"{owner_host(owner)}:127.0.0.1")] if owner else []
    options += [("--target", target)] if target else []
    argv = [*cli.argv, f"--progress={cli.progress}", "--file", str(Path(path) / dockerfile), "--tag", tag,
            *(arg for option in options for arg in option), *(["--no-cache"] if nocache else []), str(path)]
    with buildkit_turn(alone=nocache):
        start = time.monotonic()  # the build's own time, not the wait for another lab's build
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8",
                              errors="replace", env={**os.environ, "DOCKER_BUILDKIT": "1", **cli.env}) as proc:
            try:
                for chunk in _chunks(proc.stdout):
                    yield round(time.monotonic() - start, 4), chunk
            except GeneratorExit:
                proc.kill()
                raise
            code = proc.wait()
        yield round(time.monotonic() - start, 4), {"exit": code}
