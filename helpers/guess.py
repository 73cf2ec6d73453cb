"""A learner's predictions, checked against what the engine did: one row per thing predicted."""
from __future__ import annotations

import html
from dataclasses import dataclass

from .build import BuildReport
from .errors import BadInput
from .layers import History
from .push import PushReport
from .report import FrameReport

CACHE_WORDS = ("cached", "rebuilt")


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
    """A learner's predictions beside the engine's answers; ``blank`` names what was left empty."""

    rows: list[Guess]
    blank: list[str]
    record = Guess

    @property
    def title(self) -> str:
        if not self.rows:
            return (f"No prediction yet: fill in {', '.join(self.blank) or 'your guess'} in the cell above, "
                    "then run this cell again.")
        left = f" ({len(self.blank)} left blank: {', '.join(self.blank)})" if self.blank else ""
        return f"your predictions: {sum(r.right for r in self.rows)} of {len(self.rows)} right{left}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(self.title)}</p>" if not self.rows else super()._repr_html_()

    def __repr__(self) -> str:
        return self.title


def _answers(build: BuildReport | None, push: PushReport | None, history: History | None,
             orders: dict[str, list[BuildReport]] | None) -> dict[str, tuple[str, str]]:
    """What the engine did, by the name a guess may give it: ``(answer, why)``."""
    found: dict[str, tuple[str, str]] = {}
    if build is not None:
        whys = {r.step: r.why for r in build.why.rows} if build.why else {}
        for s in build.rows[1:]:
            did = "cached" if s.cached else "rebuilt"
            found.setdefault(s.instruction.split()[0].upper(), (did, whys.get(s.step, "")))
    if push is not None:
        found["layers uploaded"] = (str(push.count("pushed")), f"{push.count('pushed')} of {len(push.layers)} layers "
                                    "were new to the registry and sent; the others it already had")
    if history is not None:
        empty = sum(r.size == 0 for r in history.rows)
        found["rows"] = (str(len(history.rows)), "one row per step of the image's history, its base's included")
        found["rows with size 0"] = (str(empty), "steps that only set the image's settings (CMD, ENV, LABEL ...) "
                                                 "add no files")
    if orders:
        rebuilt = {name: sum(not s.cached for b in builds for s in b.rows) for name, builds in orders.items()}
        fewer = min(rebuilt, key=rebuilt.get)
        found["fewer rebuilt steps"] = (fewer, ", ".join(f"{name}: {n} steps rebuilt" for name, n in rebuilt.items()))
    return found


def check_guess(guess: dict[str, object] | None, build: BuildReport | None = None, push: PushReport | None = None,
                history: History | None = None, orders: dict[str, list[BuildReport]] | None = None) -> Guesses:
    """Put a learner's predictions beside what the engine did, one row each; blanks are named, not scored.

    Args:
        guess: what the learner predicted, by name: a Dockerfile keyword (``"RUN"``) -> ``"cached"`` or
            ``"rebuilt"``; ``"layers uploaded"`` -> a number; ``"rows"`` / ``"rows with size 0"`` of a
            history -> numbers; ``"fewer rebuilt steps"`` -> the name of one of ``orders``. None or ``""``
            for a prediction not made yet.
        build: the build a cache guess is about (built with ``explain=True`` it also says why).
        push: the push a ``layers uploaded`` guess is about.
        history: the history a ``rows`` guess is about.
        orders: builds of each Dockerfile order, by name, for ``fewer rebuilt steps``.

    Raises:
        BadInput: a guess names nothing these reports answer, or is not one of the words it can be.
    """
    answers = _answers(build, push, history, orders)
    rows, blank = [], []
    for what, said in (guess or {}).items():
        key = what.upper() if what.upper() in answers else what
        if key not in answers:
            raise BadInput(f"Nothing here answers a guess about {what!r}.",
                           f"Guess one of: {', '.join(answers)}; or pass the report it is about.")
        if said is None or (isinstance(said, str) and not said.strip()):
            blank.append(what)
            continue
        said = str(said).strip()
        engine, why = answers[key]
        if key.isupper() and said not in CACHE_WORDS:
            raise BadInput(f"Guess {said!r} for {what} is neither 'cached' nor 'rebuilt'.",
                           "Use one of those two words.")
        if key == "fewer rebuilt steps" and said not in orders:
            raise BadInput(f"Guess {said!r} names no order.", f"Use one of: {', '.join(orders)}.")
        rows.append(Guess(what, said, engine, said == engine, why))
    return Guesses(rows, blank)
