"""BuildKit builds through the docker CLI, their rawjson or plain progress parsed into a `BuildReport`."""
from __future__ import annotations

import base64
import datetime
import functools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .build import BuildReport, BuildStep
from .cache import instructions as cache_instructions
from .engine import Event
from .errors import BadDockerfile, BuildFailed, ImageMissing, LabError
from .layers import History
from .settings import STATE_FILE

LAB_BUILDX = STATE_FILE.parent / "buildx" / "docker-buildx"
"""The lab's own buildx, which `make up` fetches where the docker CLI has no buildx plugin; not a CLI plugin."""
_VERTEX = re.compile(r"^#(\d+) (.*)$")
STEP = re.compile(r"^(?:#\d+ )?\[(?:(?P<stage>.+?) )?\s*(?P<k>\d+)/(?P<n>\d+)\] (?P<text>.*)$")
"""A BuildKit step: step k of n of its stage, as a vertex names it (``[stage-1 2/3] RUN ...``) or as plain
progress prints it (``#5 [2/3] RUN ...``)."""
_DONE = re.compile(r"^DONE (\d+(?:\.\d+)?)s$")
_LOG_TIME = re.compile(r"^\d+\.\d+ ")
_IMAGE = re.compile(r"^writing image (sha256:[0-9a-f]{64})")
_BUILDX_VERSION = re.compile(r"buildx v?(\d+)\.(\d+)")
_TIMESTAMP = re.compile(r"^(.+T\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_CANCELED = "context canceled"
_LOAD_BASE = "[internal] load metadata for "
STEP_INSTRUCTIONS = ("RUN", "COPY", "ADD", "WORKDIR")
"""Instructions BuildKit runs as a step of their own, besides FROM; the others only edit the image config."""


@dataclass
class BuildKitStep(BuildStep):
    """A `BuildStep` of a BuildKit build; BuildKit keeps no intermediate images, so ``image_id`` stays None."""

    vertex: int | None = None
    """BuildKit's number (``#N``) for the step; None when it printed none (metadata-only steps like CMD)."""

    @property
    def ran(self) -> bool:
        """Whether BuildKit ran a step for this line: not for CMD and the like, nor for an unused stage."""
        return self.vertex is not None


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


def cli_build(path: str, tag: str, labels: dict[str, str], dockerfile: str = "Dockerfile", nocache: bool = False,
              args: dict[str, str] | None = None, docker: BuildCli | None = None) -> Iterator[Event]:
    """Build the context at ``path`` with BuildKit through the docker CLI, streaming its progress.

    Args:
        path: the build context (a folder).
        tag: the name the image gets.
        labels: labels set on the image (BuildKit sets them in its config, with no build step).
        dockerfile: the Dockerfile's name inside ``path``.
        nocache: build every step again (``--no-cache``).
        args: build-arg values (``--build-arg``).
        docker: the command that starts a BuildKit build; `find_cli` when None.

    Yields:
        ``(seconds, {"json": object})`` for each object of rawjson progress, ``(seconds, {"line": text})``
        for each other line the CLI printed (both print progress on stderr, merged into stdout here),
        then ``(seconds, {"exit": returncode})``: the raw payload of this path, as recorded.

    Raises:
        LabError: no docker CLI here builds with BuildKit.
    """
    cli = docker or find_cli()
    if cli is None:
        raise LabError("No docker CLI here builds with BuildKit: it needs the buildx plugin, or a CLI older than 23.",
                       "Run `make up` (it fetches a buildx for the lab on Debian), or build with the classic builder.")
    options = [*(("--label", f"{key}={value}") for key, value in labels.items()),
               *(("--build-arg", f"{key}={value}") for key, value in (args or {}).items())]
    argv = [*cli.argv, f"--progress={cli.progress}", "--file", str(Path(path) / dockerfile), "--tag", tag,
            *(arg for option in options for arg in option), *(["--no-cache"] if nocache else []), str(path)]
    start = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8", errors="replace",
                          env={**os.environ, "DOCKER_BUILDKIT": "1", **cli.env}) as proc:
        try:
            for chunk in _chunks(proc.stdout):
                yield round(time.monotonic() - start, 4), chunk
        except GeneratorExit:
            proc.kill()
            raise
        code = proc.wait()
    yield round(time.monotonic() - start, 4), {"exit": code}


def _timestamp(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 time with nanoseconds, as rawjson gives them."""
    m = _TIMESTAMP.match(text)
    if m is None:
        raise ValueError(f"not a timestamp: {text!r}")
    zone = "+00:00" if m[3] == "Z" else m[3]
    return datetime.datetime.fromisoformat(m[1] + zone).timestamp() + float(m[2] or 0)


@dataclass
class _Vertex:
    name: str
    cached: bool = False
    seconds: float = 0.0
    error: str | None = None
    output: list[str] = field(default_factory=list)
    unfinished: bytes = b""
    """rawjson log data after the last newline, until the rest of its line comes."""

    def log(self, data: bytes) -> None:
        *lines, self.unfinished = (self.unfinished + data).split(b"\n")
        self.output += [text for line in lines if (text := line.decode("utf-8", "replace").rstrip("\r")).strip()]


@dataclass
class _Progress:
    """What the progress said: vertices by number, the first to fail, and lines outside any vertex.

    Plain progress numbers its vertices (``#N``); rawjson names them by digest, numbered here in the
    order they first appear, as plain progress numbers them.
    """

    vertices: dict[int, _Vertex] = field(default_factory=dict)
    failed: int | None = None
    loose: list[str] = field(default_factory=list)
    image_id: str = ""
    exit: int | None = None
    numbers: dict[str, int] = field(default_factory=dict)

    def fail(self, number: int, error: str) -> None:
        self.vertices[number].error = error
        self.failed = number if self.failed is None else self.failed

    def read(self, line: str) -> None:
        m = _VERTEX.match(line)
        if m is None:
            if line.strip():
                self.loose.append(line.strip())
            return
        number, text = int(m[1]), m[2]
        vertex = self.vertices.setdefault(number, _Vertex(text))
        if text == vertex.name:  # its first line, or its name printed again after another vertex's lines
            return
        if text == "CACHED":
            vertex.cached = True
        elif done := _DONE.match(text):
            vertex.seconds = float(done[1])
        elif text.startswith("ERROR"):
            self.fail(number, text[len("ERROR"):].lstrip(": ") or "failed")
        elif image := _IMAGE.match(text):
            self.image_id = image[1]
        elif not text.startswith(("sha256:", "CANCELED")) and (printed := _LOG_TIME.sub("", text, count=1)).strip():
            vertex.output.append(printed)

    def by_digest(self, digest: str, name: str = "") -> tuple[int, _Vertex]:
        number = self.numbers.setdefault(digest, len(self.numbers) + 1)
        return number, self.vertices.setdefault(number, _Vertex(name))

    def read_json(self, update: dict) -> None:
        """One rawjson object: vertex updates (digest, name, started, completed, cached, error),
        statuses (``writing image sha256:...`` names the image) and logs (base64 ``data`` per vertex)."""
        for v in update.get("vertexes") or []:
            number, vertex = self.by_digest(v["digest"], v.get("name", ""))
            vertex.name = v.get("name") or vertex.name
            vertex.cached = vertex.cached or bool(v.get("cached"))
            if v.get("started") and v.get("completed"):
                vertex.seconds = round(_timestamp(v["completed"]) - _timestamp(v["started"]), 3)
            if v.get("error") and not v["error"].endswith(_CANCELED):  # plain progress shows those as CANCELED
                self.fail(number, v["error"])
        for status in update.get("statuses") or []:
            if image := _IMAGE.match(status.get("id", "")):
                self.image_id = image[1]
        for log in update.get("logs") or []:
            self.by_digest(log["vertex"])[1].log(base64.b64decode(log.get("data") or ""))

    def printed(self) -> str:
        """The vertices as ``--progress=plain`` prints them, for a rawjson stream: name, output, outcome."""
        lines = []
        for number, v in self.vertices.items():
            outcome = "CACHED" if v.cached else f"ERROR: {v.error}" if v.error else f"DONE {v.seconds:.1f}s"
            lines += [f"#{number} {v.name}", *(f"#{number} {line}" for line in v.output), f"#{number} {outcome}", ""]
        return "\n".join(lines + self.loose)

    def flush(self) -> None:
        """Keep each vertex's last log line, even one no newline ended."""
        for vertex in self.vertices.values():
            if vertex.unfinished:
                vertex.log(b"\n")


def _keyword(instruction: str) -> str:
    return instruction.split(None, 1)[0].upper() if instruction.strip() else ""


def _plan(dockerfile_text: str) -> list[tuple[str, tuple[str, int] | None]]:
    """Each instruction with the ``(stage, k)`` of the ``[stage k/n]`` step BuildKit prints for it, or None."""
    instructions = cache_instructions(dockerfile_text)
    froms = [i.split() for i in instructions if _keyword(i) == "FROM"]
    names = [w[-1].lower() if len(w) > 3 and w[-2].upper() == "AS" else f"stage-{n}" for n, w in enumerate(froms)]
    plan, stage, k = [], -1, 0
    for text in instructions:
        word = _keyword(text)
        if word == "FROM":
            stage, k = stage + 1, 0
            base = next((w.lower() for w in text.split()[1:] if not w.startswith("--")), "")
            counted = base != "scratch" and base not in names[:stage]
        else:
            counted = stage >= 0 and word in STEP_INSTRUCTIONS
        k += counted
        plan.append((text, (names[stage] if len(froms) > 1 else "", k) if counted else None))
    return plan


def _rows(vertices: dict[int, _Vertex],
          dockerfile_text: str | None) -> tuple[list[BuildKitStep], dict[int, BuildKitStep]]:
    """The report's rows in Dockerfile order, and the row of each step vertex."""
    found: dict[tuple[str, int], BuildKitStep] = {}
    row_of: dict[int, BuildKitStep] = {}
    for number, v in vertices.items():
        if m := STEP.match(v.name):
            row_of[number] = found.setdefault((m["stage"] or "", int(m["k"])), BuildKitStep(
                0, m["text"], v.cached or _keyword(m["text"]) == "FROM", 0.0 if v.cached else v.seconds, None,
                output=v.output, vertex=number))
    if dockerfile_text is None:
        stages = list(dict.fromkeys(stage for stage, _ in found))
        rows = [found[key] for key in sorted(found, key=lambda key: (stages.index(key[0]), key[1]))]
    else:
        rows = []
        for text, key in _plan(dockerfile_text):
            reused = _keyword(text) == "FROM" or (rows[-1].cached if rows else True)
            row = found.get(key) or BuildKitStep(0, text, reused, 0.0, None)
            row.instruction = text
            rows.append(row)
    for number, row in enumerate(rows, 1):
        row.step = number
    return rows, row_of


def _raise_failure(progress: _Progress, row_of: dict[int, BuildKitStep]) -> None:
    if progress.failed is not None:
        vertex, row = progress.vertices[progress.failed], row_of.get(progress.failed)
        if vertex.name.startswith(_LOAD_BASE) or (row and _keyword(row.instruction) == "FROM"):
            base = row.instruction if row else f"FROM {vertex.name[len(_LOAD_BASE):]}"
            raise ImageMissing(f"The base image of `{base}` is not on the engine and cannot be pulled: {vertex.error}")
        raise BuildFailed(row and row.step, row and row.instruction, vertex.error, vertex.output[-8:])
    if progress.exit:
        parse_error = next((line for line in progress.loose if "dockerfile parse error" in line), None)
        if parse_error:
            raise BadDockerfile(f"The Dockerfile does not parse: {parse_error.split('parse error ', 1)[-1]}.")
        raise BuildFailed(None, None, progress.loose[-1] if progress.loose else
                          f"the docker CLI exited with code {progress.exit}", [])


def parse_progress(tag: str, events: Iterable[Event], dockerfile_text: str | None = None) -> BuildReport:
    """Parse BuildKit's progress, rawjson or plain, into a `BuildReport` (sizes and digests not yet joined).

    BuildKit makes a step (``[stage k/n] INSTRUCTION``) only for FROM, RUN, COPY, ADD and WORKDIR,
    numbered per stage; ``[internal]``, ``exporting`` and other vertices are not steps.
    Measured on Docker 20.10: CMD (like ENV, LABEL, EXPOSE, ...) has no step; FROM is done at once
    or cached and counts as reused, as in the classic path; ``--label`` adds no step (the classic
    builder adds a LABEL step for it). A step's ``seconds`` is its ``DONE`` time in plain progress,
    ``completed - started`` in rawjson, 0 when cached (and when it never finished); its ``output``
    holds the lines its process printed.

    Args:
        tag: the image tag the build produced, for the report's title.
        events: ``(seconds, payload)`` pairs as `cli_build` yields them, live or recorded.
        dockerfile_text: the Dockerfile that was built. With it there is one row per instruction in
            Dockerfile order, numbered and worded like the classic builder's steps; an instruction
            BuildKit made no step for has ``vertex`` None, 0 seconds, and counts as reused exactly
            when the row before it was (the classic builder's cache rule: after a rebuilt step, every
            step is rebuilt). Without it, rows are only BuildKit's steps, worded as BuildKit named them.

    Raises:
        ImageMissing: the base image could not be found or pulled.
        BadDockerfile: the Dockerfile does not parse.
        BuildFailed: a step failed (named with its output's last lines), or the CLI exited with an error.
    """
    events = list(events)
    progress = _Progress()
    for _, payload in events:
        if "exit" in payload:
            progress.exit = payload["exit"]
        elif "json" in payload:
            progress.read_json(payload["json"])
        else:
            progress.read(payload.get("line", "").rstrip("\r"))
    progress.flush()
    rows, row_of = _rows(progress.vertices, dockerfile_text)
    _raise_failure(progress, row_of)
    plain = [payload["line"] for _, payload in events if "line" in payload]
    printed = progress.printed() if any("json" in payload for _, payload in events) else "\n".join(plain)
    return BuildReport(tag=tag, rows=rows, image_id=progress.image_id,
                       seconds=events[-1][0] if events else 0.0, events=events, printed=printed)


def join_history(report: BuildReport, history: History) -> BuildReport:
    """Fill each step's ``size`` and ``diff_id`` from the built image's history, by order.

    BuildKit makes no intermediate images, so `helpers.build.join_layers` has no ids to join on.
    Its history has one entry per instruction of the final stage (metadata ones too; none for
    ``--label``), newest first: walking the steps from the last, each takes the next entry with its
    keyword, skipping entries that hold no layer, and FROM takes the base image's newest entry, as
    in the classic join. The walk stops rather than guess at an entry holding a layer it cannot place.
    """
    entries = iter(history.rows)
    for step in reversed(report.rows):
        word = _keyword(step.instruction)
        for entry in entries:
            if word == "FROM" or _keyword(entry.instruction) == word:
                step.size, step.diff_id = entry.size, entry.diff_id
                break
            if entry.size or entry.diff_id:
                return report
        if word == "FROM":
            break
    return report
