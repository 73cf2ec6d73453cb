"""A layer's way from the build to the registry: one table joined by layer digest."""
from __future__ import annotations

from dataclasses import dataclass

from .build import BuildReport
from .display import short_name
from .errors import BadInput
from .push import PushReport
from .report import FrameReport


@dataclass
class LayerJourney:
    """One layer: the step that made it, whether the build reused it, and what the push did with it."""

    step: int
    instruction: str
    cached: bool
    diff_id: str
    size: int
    """Uncompressed bytes (image history)."""
    push: str
    """``pushed``, ``exists`` or ``mounted``."""
    compressed: int
    """Bytes of the layer's blob in the registry."""
    uploaded: int
    saved: int
    """Compressed bytes the push did not send because the registry had the layer."""


@dataclass(repr=False)
class Journey(FrameReport):
    """Every layer of one image from cache hit to push reuse to bytes saved."""

    tag: str
    rows: list[LayerJourney]
    record = LayerJourney

    @property
    def title(self) -> str:
        saved = sum(r.saved for r in self.rows)
        sent = sum(r.uploaded for r in self.rows)
        return f"layers of {short_name(self.tag)}: {saved:,} of {saved + sent:,} bytes not sent"


def journey(build: BuildReport, push: PushReport) -> Journey:
    """Join a build and the push of the image it made, by layer digest (``diff_id``).

    Raises:
        BadInput: the push is not of the image that build made.
    """
    pushed = {r.diff_id: r for r in push.rows}
    steps = [s for s in build.rows if s.diff_id]
    if not steps or any(s.diff_id not in pushed for s in steps if s.step > 1):
        raise BadInput(f"The push of {push.tag} does not hold the layers the build of {build.tag} made.",
                       "Pass the build and the push of the same image.")
    rows = []
    for s in steps:
        p = pushed[s.diff_id]
        compressed = p.size or 0
        sent = compressed if p.outcome == "pushed" else 0
        rows.append(LayerJourney(s.step, s.instruction, s.cached, s.diff_id, s.size or 0, p.outcome, compressed,
                                 sent, compressed - sent))
    return Journey(build.tag, rows)
