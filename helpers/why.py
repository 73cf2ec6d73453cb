"""Why each step was reused or rebuilt: the forecast a planner makes before a build, joined with what the
build did. `helpers.cache` (classic) and `helpers.buildkit_cache` (BuildKit) make the forecasts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .display import short_name
from .report import FrameReport


class Built(Protocol):
    """What `explain` reads of a `helpers.build.BuildReport` (which holds the explanation, so is not imported)."""

    tag: str
    rows: list


@dataclass
class Why:
    """One step: what the engine did, what the lab's lookup predicted, and the first cause."""

    step: int
    instruction: str
    cached: bool
    """What the engine reported (``Using cache``; FROM counts as reused)."""
    predicted: bool | None
    """What the lab's cache lookup predicted before the build; None where it cannot predict."""
    agrees: bool | None
    why: str


@dataclass(repr=False)
class Explanation(FrameReport):
    """Why each step of one build was or was not cached, checked against the engine."""

    tag: str
    rows: list[Why]
    record = Why

    @property
    def title(self) -> str:
        known = [r for r in self.rows if r.agrees is not None]
        return f"why each step of {short_name(self.tag)} was reused or rebuilt ({sum(r.agrees for r in known)} of " \
               f"{len(known)} predictions match the engine)"

    @property
    def all_agree(self) -> bool:
        return all(r.agrees is not False for r in self.rows)


@dataclass
class Forecast:
    """The cache lookup done before a build: per step, predicted hit and the reason."""

    steps: list[tuple[bool | None, str]]
    """Per step: the predicted hit (None where the lab cannot predict) and the reason."""


def with_triggers(found: list[tuple[bool | None, str]], triggers: list[str | None]) -> list[tuple[bool | None, str]]:
    """One forecast per Dockerfile step, from one per step and per ONBUILD trigger (``triggers``: the trigger each
    entry is of, else None). Both builders run a base's triggers first, inside its FROM step: the first one not
    predicted reused decides that step (rebuilt, or not predicted, with every step after it), else all were."""
    folded: list[tuple[tuple[bool | None, str], list[tuple[str, bool | None, str]]]] = []
    for (predicted, reason), trigger in zip(found, triggers):
        if trigger is None:
            folded.append(((predicted, reason), []))
        else:
            folded[-1][1].append((trigger, predicted, reason))
    return [_run_first(start, ran) if ran else start for start, ran in folded]


def _run_first(start: tuple[bool | None, str], ran: list[tuple[str, bool | None, str]]) -> tuple[bool | None, str]:
    first = next(((t, p, r) for t, p, r in ran if p is not True), None)
    if first is None:
        return True, f"{start[1]}; its ONBUILD triggers ran first, all reused (" + \
            "; ".join(f"`{t}`: {r}" for t, _, r in ran) + ")"
    trigger, predicted, reason = first
    return predicted, f"{start[1]}; its ONBUILD trigger `{trigger}` ran first: {reason}"


def explain(report: Built, before: Forecast) -> Explanation:
    """Join a build's report with the forecast made before it: one `Why` per step."""
    rows = []
    for step, (predicted, reason) in zip(report.rows, before.steps):
        agrees = None if predicted is None else predicted == step.cached
        rows.append(Why(step.step, step.instruction, step.cached, predicted, agrees, reason))
    return Explanation(report.tag, rows)
