"""BuildKit builds through the docker CLI, parsed from its plain progress into the classic path's `BuildReport`."""
from __future__ import annotations

import functools
import os
import re
import subprocess
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .build import BuildReport, BuildStep
from .cache import instructions as cache_instructions
from .engine import Event
from .errors import BadDockerfile, BuildFailed, ImageMissing, LabError
from .layers import History

_VERTEX = re.compile(r"^#(\d+) (.*)$")
_STEP = re.compile(r"^\[(?:(.+?) )?\s*(\d+)/\d+\] (.*)$")
_DONE = re.compile(r"^DONE (\d+(?:\.\d+)?)s$")
_LOG_TIME = re.compile(r"^\d+\.\d+ ")
_IMAGE = re.compile(r"^writing image (sha256:[0-9a-f]{64})")
_LOAD_BASE = "[internal] load metadata for "
_WITH_VERTEX = ("RUN", "COPY", "ADD", "WORKDIR")
"""Instructions BuildKit runs as a step of their own, besides FROM; the others only edit the image config."""


@dataclass
class BuildKitStep(BuildStep):
    """A `BuildStep` of a BuildKit build; BuildKit keeps no intermediate images, so ``image_id`` stays None."""

    vertex: int | None = None
    """BuildKit's number (``#N``) for the step; None when it printed none (metadata-only steps like CMD)."""


def _probe(*argv: str) -> str | None:
    """The standard output of a quick command, or None when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


@functools.cache
def find_cli() -> tuple[str, ...] | None:
    """The command that starts a BuildKit build here, or None when no docker CLI can.

    A CLI whose ``docker buildx version`` works builds with ``buildx build --load``. Otherwise a CLI
    older than 23 (``/usr/bin/docker`` first, then each ``docker`` on PATH) runs ``docker build``,
    which uses BuildKit when ``DOCKER_BUILDKIT=1`` (`cli_build` sets it); newer CLIs need buildx.
    """
    found = [os.path.realpath(Path(d) / "docker") for d in ["/usr/bin", *os.get_exec_path()]]
    clis = [cli for cli in dict.fromkeys(found) if os.access(cli, os.X_OK)]
    for cli in clis:
        if _probe(cli, "buildx", "version") is not None:
            return cli, "buildx", "build", "--load"
    for cli in clis:
        version = re.search(r"version (\d+)\.", _probe(cli, "--version") or "")
        if version and int(version[1]) < 23:
            return cli, "build"
    return None


def cli_build(path: str, tag: str, labels: dict[str, str], dockerfile: str = "Dockerfile", nocache: bool = False,
              docker: Sequence[str] | None = None) -> Iterator[Event]:
    """Build the context at ``path`` with BuildKit through the docker CLI, streaming its plain progress.

    Args:
        path: the build context (a folder).
        tag: the name the image gets.
        labels: labels set on the image (BuildKit sets them in its config, with no build step).
        dockerfile: the Dockerfile's name inside ``path``.
        nocache: build every step again (``--no-cache``).
        docker: the command that starts a BuildKit build; `find_cli` when None.

    Yields:
        ``(seconds, {"line": text})`` for each line the CLI printed (stderr merged into stdout),
        then ``(seconds, {"exit": returncode})``: the raw payload of this path, as recorded.

    Raises:
        LabError: no docker CLI here builds with BuildKit.
    """
    command = docker or find_cli()
    if command is None:
        raise LabError("No docker CLI here builds with BuildKit: it needs the buildx plugin, or a CLI older than 23.",
                       "Install the docker-buildx plugin, or build with the classic builder.")
    label_args = [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]
    argv = [*command, "--progress=plain", "--file", str(Path(path) / dockerfile), "--tag", tag, *label_args,
            *(["--no-cache"] if nocache else []), str(path)]
    start = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8",
                          errors="replace", env=dict(os.environ, DOCKER_BUILDKIT="1")) as proc:
        try:
            for line in proc.stdout:
                yield round(time.monotonic() - start, 4), {"line": line.rstrip("\n")}
        except GeneratorExit:
            proc.kill()
            raise
        code = proc.wait()
    yield round(time.monotonic() - start, 4), {"exit": code}


@dataclass
class _Vertex:
    name: str
    cached: bool = False
    seconds: float = 0.0
    error: str | None = None
    output: list[str] = field(default_factory=list)


@dataclass
class _Progress:
    """What the plain progress said: vertices by number, the first to fail, and lines outside any vertex."""

    vertices: dict[int, _Vertex] = field(default_factory=dict)
    failed: int | None = None
    loose: list[str] = field(default_factory=list)
    image_id: str = ""
    exit: int | None = None

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
            vertex.error = text[len("ERROR"):].lstrip(": ") or "failed"
            self.failed = number if self.failed is None else self.failed
        elif image := _IMAGE.match(text):
            self.image_id = image[1]
        elif not text.startswith(("sha256:", "CANCELED")) and (printed := _LOG_TIME.sub("", text, count=1)).strip():
            vertex.output.append(printed)


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
            counted = stage >= 0 and word in _WITH_VERTEX
        k += counted
        plan.append((text, (names[stage] if len(froms) > 1 else "", k) if counted else None))
    return plan


def _rows(vertices: dict[int, _Vertex],
          dockerfile_text: str | None) -> tuple[list[BuildKitStep], dict[int, BuildKitStep]]:
    """The report's rows in Dockerfile order, and the row of each step vertex."""
    found: dict[tuple[str, int], BuildKitStep] = {}
    row_of: dict[int, BuildKitStep] = {}
    for number, v in vertices.items():
        if m := _STEP.match(v.name):
            row_of[number] = found.setdefault((m[1] or "", int(m[2])), BuildKitStep(
                0, m[3], v.cached or _keyword(m[3]) == "FROM", 0.0 if v.cached else v.seconds, None,
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


def parse_plain_progress(tag: str, events: Iterable[Event], dockerfile_text: str | None = None) -> BuildReport:
    """Parse BuildKit's plain progress into a `BuildReport` (sizes and digests not yet joined).

    BuildKit prints a step (``#N [stage k/n] INSTRUCTION``) only for FROM, RUN, COPY, ADD and
    WORKDIR, numbered per stage; ``[internal]``, ``exporting`` and other vertices are not steps.
    Measured on Docker 20.10: CMD (like ENV, LABEL, EXPOSE, ...) has no step; FROM shows ``DONE 0.0s``
    or ``CACHED`` and counts as reused, as in the classic path; ``--label`` adds no step (the classic
    builder adds a LABEL step for it). A step's ``seconds`` is its ``DONE`` time, 0 when ``CACHED``
    (and when it never finished); its ``output`` holds the lines its process printed.

    Args:
        tag: the image tag the build produced, for the report's title.
        events: ``(seconds, payload)`` pairs as `cli_build` yields them, live or recorded.
        dockerfile_text: the Dockerfile that was built. With it there is one row per instruction in
            Dockerfile order, numbered and worded like the classic builder's steps; an instruction
            BuildKit printed no step for has ``vertex`` None, 0 seconds, and counts as reused exactly
            when the row before it was (the classic builder's cache rule: after a rebuilt step, every
            step is rebuilt). Without it, rows are only BuildKit's steps, worded as BuildKit printed them.

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
        else:
            progress.read(payload.get("line", "").rstrip("\r"))
    rows, row_of = _rows(progress.vertices, dockerfile_text)
    _raise_failure(progress, row_of)
    return BuildReport(tag=tag, rows=rows, image_id=progress.image_id,
                       seconds=events[-1][0] if events else 0.0, events=events)


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
