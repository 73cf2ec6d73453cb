"""A layer's way from the build to the registry: one table joined by layer digest, and guesses checked."""
from __future__ import annotations

from dataclasses import dataclass

from .build import BuildReport
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
        return f"layers of {self.tag}: {saved:,} of {saved + sum(r.uploaded for r in self.rows):,} bytes not sent"


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


@dataclass
class Guess:
    """One thing a learner predicted, what the engine did, and why."""

    what: str
    your_guess: str
    engine: str
    right: bool
    why: str


@dataclass(repr=False)
class Guesses(FrameReport):
    """A learner's predictions beside the engine's answers."""

    rows: list[Guess]
    record = Guess

    @property
    def title(self) -> str:
        return f"your predictions: {sum(r.right for r in self.rows)} of {len(self.rows)} right"


def check_guess(guess: dict[str, str | int], build: BuildReport, push: PushReport | None = None) -> Guesses:
    """Put a learner's predictions beside what the build (and push) did.

    Args:
        guess: per Dockerfile keyword (``"RUN"``, ``"COPY"``, ...) ``"cached"`` or ``"rebuilt"``;
            and optionally ``"layers uploaded"``: a number.
        build: the build the guess was about; built with ``explain=True`` it also says why.
        push: the push the guess was about, if it names ``"layers uploaded"``.

    Raises:
        BadInput: a guess is not ``cached``/``rebuilt``, or names a step the build does not have.
    """
    whys = {r.step: r.why for r in build.why.rows} if build.why else {}
    rows = []
    for what, said in guess.items():
        if what == "layers uploaded":
            if push is None:
                raise BadInput("A guess of layers uploaded needs the push.", "Pass the push report too.")
            done = push.count("pushed")
            rows.append(Guess(what, str(said), str(done), int(said) == done,
                              f"{done} of {len(push.rows)} layers were new to the registry"))
            continue
        if said not in ("cached", "rebuilt"):
            raise BadInput(f"Guess {said!r} for {what} is neither 'cached' nor 'rebuilt'.",
                           "Use one of those two words.")
        step = build.step(what)
        done = "cached" if step.cached else "rebuilt"
        rows.append(Guess(step.instruction, said, done, said == done, whys.get(step.step, "")))
    return Guesses(rows)
