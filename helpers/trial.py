"""Two Dockerfiles of one project put through the same edits, each edit followed by a rebuild and a push of
each: what the advised line order (`helpers.advice`) saves, in seconds and bytes, measured."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .build import BuildReport
from .display import human
from .push import PushReport
from .report import FrameReport

ORDERS = ("yours", "advised")


@dataclass
class Attempt:
    """One rebuild and push: after which edit (0: the cold build), of which file, in which order."""

    edit: int
    file: str
    order: str
    rebuilt: int
    """Steps the builder ran (not from the cache)."""
    steps: int
    seconds: float
    uploaded: int
    """Bytes the push after it uploaded."""


@dataclass(repr=False)
class Trial(FrameReport):
    """Every attempt, with the build and push reports behind them, in edit order."""

    rows: list[Attempt] = field(default_factory=list)
    builds: dict[str, list[BuildReport]] = field(default_factory=lambda: {o: [] for o in ORDERS})
    pushes: dict[str, list[PushReport]] = field(default_factory=lambda: {o: [] for o in ORDERS})
    record = Attempt

    def add(self, order: str, edit: int, file: str, build: BuildReport, push: PushReport) -> None:
        self.builds[order].append(build)
        self.pushes[order].append(push)
        self.rows.append(Attempt(edit, file, order, sum(not c for c in build.cached), len(build.rows),
                                 round(build.seconds, 2), push.uploaded_bytes))

    def total(self, order: str, what: str) -> float:
        """The sum of ``seconds`` or ``uploaded`` over the edits (the cold builds left out)."""
        return sum(getattr(r, what) for r in self.rows if r.order == order and r.edit)

    @property
    def saved_seconds(self) -> float:
        return self.total("yours", "seconds") - self.total("advised", "seconds")

    @property
    def saved_bytes(self) -> int:
        return int(self.total("yours", "uploaded") - self.total("advised", "uploaded"))

    @property
    def edits(self) -> list[str]:
        return [r.file for r in self.rows if r.order == ORDERS[0] and r.edit]

    @property
    def title(self) -> str:
        count = len(self.edits)
        return (f"the same {count} edit{'s' if count != 1 else ''} through both Dockerfiles: the advised order saved "
                f"{self.saved_seconds:.1f} s of rebuilds and {human(self.saved_bytes)} of uploads")

    @property
    def frame(self) -> pd.DataFrame:
        """One row per edit: each order's steps rebuilt, seconds and bytes uploaded, side by side."""
        table = {}
        for r in self.rows:
            row = table.setdefault(r.edit, {"edit": r.edit or "cold build", "file edited": r.file})
            row[f"{r.order}: rebuilt"] = f"{r.rebuilt} of {r.steps}"
            row[f"{r.order}: seconds"] = r.seconds
            row[f"{r.order}: uploaded"] = human(r.uploaded)
        return pd.DataFrame(table.values())
