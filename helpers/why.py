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


def explain(report: Built, before: Forecast) -> Explanation:
    """Join a build's report with the forecast made before it: one `Why` per step."""
    rows = []
    for step, (predicted, reason) in zip(report.rows, before.steps):
        agrees = None if predicted is None else predicted == step.cached
        rows.append(Why(step.step, step.instruction, step.cached, predicted, agrees, reason))
    return Explanation(report.tag, rows)
