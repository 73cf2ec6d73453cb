"""Builds: the classic builder's stream parsed into one row per Dockerfile step."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .boundary import Event
from .display import short_name
from .errors import BuildFailed, ImageMissing
from .layers import History
from .report import FrameReport
from .why import Explanation

STEP = re.compile(r"^Step (?P<k>\d+)/(?P<n>\d+) : (?P<text>.*)")
"""A classic builder's step line: step k of n, and its instruction."""
_ID = re.compile(r"^ ---> ([0-9a-f]{12})$")
_CACHED = " ---> Using cache"
_TRIGGERS = re.compile(r"^# Executing (\d+) build triggers?$")
"""The classic builder's note that a FROM runs its base's ONBUILD triggers, inside that step."""
_BUILDER_NOTES = (" ---> Running in", "Removing intermediate container", " ---> Removed intermediate container")
"""Lines the classic builder prints about its own containers (Docker 28 writes the last form), not a step's output."""


@dataclass
class BuildStep:
    """One Dockerfile step of one build."""

    step: int
    instruction: str
    cached: bool
    """Reused rather than built: ``Using cache``, or a FROM whose image the engine already had."""
    seconds: float
    image_id: str | None
    """Short id of the image this step produced (the classic builder's ``---> id`` line)."""
    size: int | None = None
    """Bytes the step added (from the image history); 0 for metadata-only steps."""
    diff_id: str | None = None
    """Digest of the layer the step made, None if it made none."""
    output: list[str] = field(default_factory=list, repr=False)
    triggers: int = 0
    """For a FROM: how many ONBUILD triggers of its base ran inside it (each makes a history entry of its own)."""

    @property
    def ran(self) -> bool:
        """Whether the builder ran a step for this line: the classic builder runs one for every line."""
        return True


@dataclass(repr=False)
class BuildReport(FrameReport):
    """What one build did, step by step; ``events`` keeps the raw stream it was parsed from."""

    tag: str
    rows: list[BuildStep]
    image_id: str
    seconds: float
    config: str = ""
    """The digest of the image's config, where the builder names it (BuildKit): one config, one list of layers."""
    events: list[Event] = field(default_factory=list)
    why: Explanation | None = None
    """With ``Lab.build(..., explain=True)``: why each step was reused or rebuilt."""
    printed: str = field(default="", repr=False)
    """The build's output as the docker CLI prints it."""
    record = BuildStep

    @property
    def title(self) -> str:
        reused = sum(s.cached for s in self.rows)
        return (f"build of {short_name(self.tag)}: {len(self.rows) - reused} steps built, {reused} reused, "
                f"{self.seconds:.2f} s")

    @property
    def cached(self) -> list[bool]:
        return [s.cached for s in self.rows]

    @property
    def stage_ends(self) -> list[str]:
        """The image id of each stage's last step, in stage order ("" for a stage whose steps printed none)."""
        ends: list[str] = []
        for row in self.rows:
            if row.instruction.upper().startswith("FROM "):
                ends.append("")
            if ends and row.image_id:
                ends[-1] = row.image_id
        return ends

    def step(self, keyword: str) -> BuildStep:
        """The first step whose instruction starts with ``keyword`` (e.g. ``"COPY"``)."""
        for s in self.rows:
            if s.instruction.upper().startswith(keyword.upper()):
                return s
        raise KeyError(f"no {keyword} step in the build of {self.tag}")


def _lines(events: Iterable[Event]) -> Iterator[tuple[float, str | None, dict]]:
    """Join the stream's text into whole lines; non-text chunks pass through with line None."""
    buffer = ""
    for t, chunk in events:
        text = chunk.get("stream")
        if text is None:
            yield t, None, chunk
            continue
        buffer += text
        *done, buffer = buffer.split("\n")
        for line in done:
            yield t, line.rstrip("\r"), chunk
    if buffer:
        yield t, buffer, {}


def parse_build_stream(tag: str, events: Iterable[Event]) -> BuildReport:
    """Parse a classic-builder stream into a `BuildReport` (sizes and digests not yet joined).

    Args:
        tag: the image tag the build produced, for the report's title.
        events: ``(seconds, chunk)`` pairs as `Engine.build` yields them, live or recorded.

    Raises:
        BuildFailed: the stream carried an error; the exception names the step that failed.
    """
    kept: list[Event] = []
    steps: list[BuildStep] = []
    starts: list[float] = []
    image_id, end, hits = "", 0.0, 0
    for t, line, chunk in _lines(_keep(events, kept)):
        end = t
        if line is None:
            if "error" in chunk or "errorDetail" in chunk:
                message = (chunk.get("errorDetail") or {}).get("message") or chunk.get("error", "")
                last = steps[-1] if steps else None
                if last and last.step == 1 and last.instruction.upper().startswith("FROM ") and not last.triggers:
                    raise ImageMissing(f"The base image of `{last.instruction}` is not on the engine and "
                                       f"cannot be pulled: {message.strip()}")
                raise BuildFailed(last and last.step, last and last.instruction, message.strip(),
                                  (last.output if last else [])[-8:],
                                  [s.image_id for s in steps if s.image_id and not s.cached])  # FROM counts as cached
            image_id = (chunk.get("aux") or {}).get("ID", image_id)
            continue
        if m := STEP.match(line):
            instruction = m[3].strip()
            steps.append(BuildStep(int(m[1]), instruction, instruction.upper().startswith("FROM "), 0.0, None))
            starts.append(t)
            hits = 0
        elif not steps:
            continue
        elif m := _TRIGGERS.match(line):  # reused only if each trigger is: one "Using cache" each
            steps[-1].cached, steps[-1].triggers, hits = False, int(m[1]), 0
        elif line.startswith(_CACHED):
            hits += 1
            steps[-1].cached = hits >= steps[-1].triggers
        elif m := _ID.match(line):
            steps[-1].image_id = m[1]
            steps[-1].seconds = round(t - starts[-1], 4)
        elif line.strip() and not line.startswith(_BUILDER_NOTES):
            steps[-1].output.append(line)
    if not image_id and steps and steps[-1].image_id:
        image_id = steps[-1].image_id
    return BuildReport(tag=tag, rows=steps, image_id=image_id, seconds=end, events=kept,
                       printed="".join(chunk.get("stream", "") for _, chunk in kept))


def _keep(events: Iterable[Event], into: list[Event]) -> Iterator[Event]:
    for event in events:
        into.append(event)
        yield event


def join_layers(report: BuildReport, history: History) -> BuildReport:
    """Fill each step's ``size`` and ``diff_id`` from the history of the image the build made (a FROM that ran
    ONBUILD triggers: the bytes of their entries, and the newest one's layer)."""
    ids = [row.id.split(":")[-1][:12] for row in history.rows]
    for step in report.rows:
        if step.image_id in ids:
            made = history.rows[ids.index(step.image_id):][:max(step.triggers, 1)]
            step.size, step.diff_id = sum(row.size for row in made), made[0].diff_id
    return report
