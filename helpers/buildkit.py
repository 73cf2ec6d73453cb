"""BuildKit builds: their rawjson or plain progress (as `helpers.cli` streams it) parsed into a `BuildReport`."""
from __future__ import annotations

import base64
import datetime
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from . import dockerfile as docker_file
from .boundary import Event
from .build import BuildReport, BuildStep
from .errors import BadDockerfile, BuildFailed, ImageMissing, classify, parse_error_detail
from .layers import History

_VERTEX = re.compile(r"^#(\d+) (.*)$")
STEP = re.compile(r"^(?:#\d+ )?\[(?:(?P<stage>.+?) )?\s*(?P<k>\d+)/(?P<n>\d+)\] (?P<text>.*)$")
"""A BuildKit step: step k of n of its stage, as a vertex names it (``[stage-1 2/3] RUN ...``) or as plain
progress prints it (``#5 [2/3] RUN ...``)."""
_DONE = re.compile(r"^DONE (\d+(?:\.\d+)?)s$")
_LOG_TIME = re.compile(r"^\d+\.\d+ ")
_IMAGE = re.compile(r"^(?:writing image|exporting manifest(?: list)?) (sha256:[0-9a-f]{64})")
"""How the exporter names the image it made: ``writing image`` on the overlay2 store; on the containerd store
the manifest, then the index that lists it with its attestation (the last one named is the image's id)."""
_CONFIG = re.compile(r"^(?:writing image|exporting config) (sha256:[0-9a-f]{64})")
"""How the exporter names the image's config (on the overlay2 store the config's digest is the image's id)."""
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
    ran_first: list[bool | None] = field(default_factory=list)
    """For a FROM: whether each step BuildKit ran for its base's ONBUILD triggers was reused; None for one no vertex
    of this stage printed (BuildKit ran it once for another stage that makes the very same step)."""

    @property
    def ran(self) -> bool:
        """Whether BuildKit ran a step for this line: not for CMD and the like, nor for an unused stage."""
        return self.vertex is not None


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
    order they start, as plain progress numbers them: rawjson announces the whole graph before it runs,
    and a vertex that never starts (a cancelled one) is never printed.
    """

    vertices: dict[int, _Vertex] = field(default_factory=dict)
    failed: int | None = None
    loose: list[str] = field(default_factory=list)
    image_id: str = ""
    config: str = ""
    exit: int | None = None
    numbers: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, _Vertex] = field(default_factory=dict)
    """Vertices rawjson announced that have not started yet, by digest."""

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
        elif _IMAGE.match(text) or _CONFIG.match(text):
            self.name(text)
        elif not text.startswith(("sha256:", "CANCELED")) and (printed := _LOG_TIME.sub("", text, count=1)).strip():
            vertex.output.append(printed)

    def name(self, status: str) -> None:
        """Take the image's id and its config's digest from an exporter's status that names them."""
        if image := _IMAGE.match(status):
            self.image_id = image[1]
        if config := _CONFIG.match(status):
            self.config = config[1]

    def by_digest(self, digest: str, name: str = "", started: bool = True) -> tuple[int | None, _Vertex]:
        """The vertex of ``digest`` and its number, given when it first ``started`` (None until then)."""
        if digest in self.numbers:
            number = self.numbers[digest]
            return number, self.vertices[number]
        vertex = self.waiting.setdefault(digest, _Vertex(name))
        if not started:
            return None, vertex
        number = self.numbers[digest] = len(self.numbers) + 1
        self.vertices[number] = self.waiting.pop(digest)
        return number, vertex

    def read_json(self, update: dict) -> None:
        """One rawjson object: vertex updates (digest, name, started, completed, cached, error),
        statuses (``writing image sha256:...``, or on the containerd store ``exporting manifest (list)
        sha256:...``, name the image) and logs (base64 ``data`` per vertex)."""
        for v in update.get("vertexes") or []:
            failed = bool(v.get("error")) and not v["error"].endswith(_CANCELED)  # cancelled is not failed
            number, vertex = self.by_digest(v["digest"], v.get("name", ""),
                                            bool(v.get("started") or v.get("completed") or v.get("cached") or failed))
            vertex.name = v.get("name") or vertex.name
            vertex.cached = vertex.cached or bool(v.get("cached"))
            if v.get("started") and v.get("completed"):
                vertex.seconds = round(_timestamp(v["completed"]) - _timestamp(v["started"]), 3)
            if failed:
                self.fail(number, v["error"])
        for status in update.get("statuses") or []:
            self.name(status.get("id", ""))
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


def _stage_names(dockerfile_text: str) -> dict[str, str]:
    """Each name BuildKit may print for a stage (its ``AS`` name, ``stage-N``, or none for a lone stage: buildx
    prints ``[stage-0 2/5]`` for some one-stage builds, ``[2/5]`` for others) -> the name `_plan` gives it."""
    stages = docker_file.stages(dockerfile_text)
    names = {}
    for stage in stages:
        planned = "" if len(stages) == 1 else stage.name if not stage.name.isdigit() else f"stage-{stage.index}"
        names |= {alias: planned for alias in (stage.name, f"stage-{stage.index}", *([""] * (len(stages) == 1)))}
    return names


def _plan(dockerfile_text: str, triggers: dict[str, list[str]]) -> list[tuple[str, tuple[str, int] | None, list[str]]]:
    """Each instruction with the ``(stage, k)`` of the ``[stage k/n]`` step BuildKit prints for it (None for one it
    prints none for), and for a FROM the ONBUILD triggers of its base (``triggers``, by image name, or an earlier
    stage's) that run first, as steps ``k+1`` on (those that are steps: not ENV, LABEL ...).

    BuildKit names a stage by its ``AS`` name, else ``stage-N``, and prints no stage name when there
    is only one; a FROM counts as a step unless it starts from ``scratch`` or an earlier stage. The
    triggers come before the stage's own steps (``[2/3] COPY ...`` on Docker 20.10, ``[2/5] ONBUILD COPY ...``
    on Docker 28.5).
    """
    stages = docker_file.stages(dockerfile_text)
    plan: list[tuple[str, tuple[str, int] | None, list[str]]] = [(i.text, None, [])
                                                                for i in docker_file.preamble(dockerfile_text)]
    for stage in stages:
        name = "" if len(stages) == 1 else stage.name if not stage.name.isdigit() else f"stage-{stage.index}"
        run_first = docker_file.run_first(stage, stages, triggers)
        k = int(stage.base.lower() != "scratch" and not stage.from_stage)
        plan.append((stage.instructions[0].text, (name, k), run_first))
        k += _steps_of(run_first)
        for instruction in stage.instructions[1:]:
            counted = instruction.keyword in STEP_INSTRUCTIONS
            k += counted
            plan.append((instruction.text, (name, k) if counted else None, []))
    return plan


def _rows(vertices: dict[int, _Vertex], dockerfile_text: str | None,
          triggers: dict[str, list[str]]) -> tuple[list[BuildKitStep], dict[int, BuildKitStep]]:
    """The report's rows in Dockerfile order, and the row of each step vertex; with the Dockerfile, the steps of
    a base's ONBUILD triggers are folded into its FROM's row, reused only if each of them was."""
    found: dict[tuple[str, int], BuildKitStep] = {}
    row_of: dict[int, BuildKitStep] = {}
    stage_names = _stage_names(dockerfile_text) if dockerfile_text is not None else {}
    for number, v in vertices.items():
        if m := STEP.match(v.name):  # a COPY --link's second vertex (LINK COPY ...) belongs to its first's row
            reused = v.cached or docker_file.keyword(m["text"]) == "FROM"
            stage = stage_names.get(m["stage"] or "", m["stage"] or "")
            row_of[number] = found.setdefault((stage, int(m["k"])), BuildKitStep(
                0, m["text"], reused, 0.0 if v.cached else v.seconds, None, output=v.output, vertex=number))
    if dockerfile_text is None:
        stages = list(dict.fromkeys(stage for stage, _ in found))
        rows = [found[key] for key in sorted(found, key=lambda key: (stages.index(key[0]), key[1]))]
    else:
        rows = []
        for text, key, run_first in _plan(dockerfile_text, triggers):
            is_from = docker_file.keyword(text) == "FROM"
            row = found.get(key) if key and key[1] else None
            row = row or BuildKitStep(0, text, is_from or (rows[-1].cached if rows else True), 0.0, None)
            row.instruction = text
            steps = _steps_of(run_first)
            row.triggers = len(run_first) if is_from else 0  # each trigger makes a history entry
            if is_from and steps:
                _run_first(row, [found.pop((key[0], key[1] + i), None) for i in range(1, steps + 1)], row_of)
            rows.append(row)
    for number, row in enumerate(rows, 1):
        row.step = number
    return rows, row_of


def _steps_of(triggers: list[str]) -> int:
    """How many of ``triggers`` BuildKit runs a step for (not ENV, LABEL ...)."""
    return sum(docker_file.keyword(trigger) in STEP_INSTRUCTIONS for trigger in triggers)


def _run_first(row: BuildKitStep, ran: list[BuildKitStep | None], row_of: dict[int, BuildKitStep]) -> None:
    """Fold the steps BuildKit ran for the ONBUILD triggers of a FROM (``ran``, None for one it printed none for) into
    its row."""
    printed = [r for r in ran if r is not None]
    row.ran_first = [None if r is None else r.cached for r in ran]
    row.cached = all(row.ran_first)
    row.seconds = round(row.seconds + sum(r.seconds for r in printed), 3)
    row.output = row.output + [line for r in printed for line in r.output]
    row.vertex = row.vertex or (printed[0].vertex if printed else None)
    row_of |= {number: row for number, r in row_of.items() if any(r is x for x in printed)}


def _raise_failure(progress: _Progress, row_of: dict[int, BuildKitStep]) -> None:
    if progress.failed is not None:
        vertex, row = progress.vertices[progress.failed], row_of.get(progress.failed)
        if vertex.name.startswith(_LOAD_BASE) or (row and docker_file.keyword(row.instruction) == "FROM" and
                                                  not row.triggers):
            base = row.instruction if row else f"FROM {vertex.name[len(_LOAD_BASE):]}"
            raise ImageMissing(f"The base image of `{base}` is not on the engine and cannot be pulled: {vertex.error}")
        raise BuildFailed(row and row.step, row and row.instruction, vertex.error, vertex.output[-8:])
    if progress.exit:
        parse_error = next((line for line in progress.loose if classify(line) == "dockerfile"), None)
        if parse_error:
            raise BadDockerfile(f"The Dockerfile does not parse: {parse_error_detail(parse_error)}.")
        raise BuildFailed(None, None, progress.loose[-1] if progress.loose else
                          f"the docker CLI exited with code {progress.exit}", [])


def on_export(events: Iterable[Event], exported: Callable[[str], None]) -> Iterator[Event]:
    """Pass ``events`` on, calling ``exported(config)`` once, when rawjson progress says the exporter finished (its
    ``exporting to ...`` vertex completed): the image is stored and named by then, yet the CLI takes tens of
    milliseconds more to exit (58-80 ms measured on Docker 28.5), time the engine can spend answering about the
    image. ``config`` is the config digest the exporter named, "" if none."""
    config, called = "", False
    for event in events:
        update = event[1].get("json") if not called else None
        if isinstance(update, dict):
            for status in update.get("statuses") or []:
                config = m[1] if (m := _CONFIG.match(status.get("id", ""))) else config
            if any(v.get("completed") and v.get("name", "").startswith("exporting to")
                   for v in update.get("vertexes") or []):
                called = True
                exported(config)
        yield event


def parse_progress(tag: str, events: Iterable[Event], dockerfile_text: str | None = None,
                   triggers: dict[str, list[str]] | None = None) -> BuildReport:
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
        triggers: the ONBUILD triggers of each image a stage starts FROM, by name: BuildKit runs them as the
            stage's first steps; they are folded into the FROM's row.

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
    rows, row_of = _rows(progress.vertices, dockerfile_text, triggers or {})
    _raise_failure(progress, row_of)
    plain = [payload["line"] for _, payload in events if "line" in payload]
    printed = progress.printed() if any("json" in payload for _, payload in events) else "\n".join(plain)
    return BuildReport(tag=tag, rows=rows, image_id=progress.image_id, config=progress.config,
                       seconds=events[-1][0] if events else 0.0, events=events, printed=printed)


def join_history(report: BuildReport, history: History) -> BuildReport:
    """Fill each step's ``size`` and ``diff_id`` from the built image's history, by order.

    BuildKit makes no intermediate images, so `helpers.build.join_layers` has no ids to join on.
    Its history has one entry per instruction of the final stage (metadata ones too; none for
    ``--label``), newest first: walking the steps from the last, each takes the next entry with its
    keyword, skipping entries that hold no layer, and FROM takes the base image's newest entry, as
    in the classic join (or the entries of the ONBUILD triggers it ran: their bytes, and the newest one's layer).
    The walk stops rather than guess at an entry holding a layer it cannot place.
    """
    entries = iter(history.rows)
    for step in reversed(report.rows):
        word = docker_file.keyword(step.instruction)
        for entry in entries:
            if word == "FROM" or docker_file.keyword(entry.instruction) == word:
                made = [entry, *itertools.islice(entries, max(step.triggers - 1, 0))] if word == "FROM" else [entry]
                step.size, step.diff_id = sum(e.size for e in made), entry.diff_id
                break
            if entry.size or entry.diff_id:
                return report
        if word == "FROM":
            break
    return report
