"""Live progress while the engine streams: a bar over the build's steps, one bar per pushed layer.

Bars are tqdm's notebook widgets in JupyterLab and text elsewhere; ``LAYER_LAB_PROGRESS=0`` turns
them off (the test runs and `make record` do, so stored outputs hold only the reports). A ticker
refreshes the bars every two seconds, so a long silent step still shows its elapsed time.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator

from .boundary import Event
from .build import STEP as build_step
from .buildkit import STEP as buildkit_step
from .display import short_name
from .push import outcome_of


def enabled() -> bool:
    return os.environ.get("LAYER_LAB_PROGRESS", "1") != "0"


@contextlib.contextmanager
def _ticking(bars: list):
    """Refresh ``bars`` every two seconds until the block ends."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(2.0):
            for bar in list(bars):
                bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        for bar in bars:
            bar.close()


def build(events: Iterable[Event], tag: str) -> Iterator[Event]:
    """Pass a build's events through, moving one bar step by step; its last line sums the build up."""
    if not enabled():
        yield from events
        return
    from tqdm.auto import tqdm

    bars: list = []
    with _ticking(bars):
        for event in events:
            for text in _texts(event[1]):
                step = build_step.match(text) or buildkit_step.match(text)
                if step:
                    if not bars:
                        bars.append(tqdm(total=int(step["n"]), unit="step", desc=f"building {short_name(tag)}",
                                         leave=True))
                    bars[0].update(max(0, int(step["k"]) - 1 - bars[0].n))
                    bars[0].set_postfix_str(step["text"][:50])
                elif bars and text.strip() and not text.startswith((" --->", "Removing intermediate")):
                    bars[0].set_postfix_str(text.strip()[:50], refresh=False)
            yield event
        if bars:
            bars[0].update(bars[0].total - bars[0].n)
            bars[0].set_postfix_str(f"done in {event[0]:.1f} s")


def _texts(chunk: dict) -> list[str]:
    """The text a build event carries: a classic stream chunk, a plain progress line, or rawjson vertex names."""
    if "json" in chunk:
        return [v.get("name", "") for v in chunk["json"].get("vertexes") or []]
    return [chunk.get("stream") or chunk.get("line") or ""]


def push(events: Iterable[Event], repository: str) -> Iterator[Event]:
    """Pass a push's events through, with one bar per layer in bytes; each ends saying what happened."""
    if not enabled():
        yield from events
        return
    from tqdm.auto import tqdm

    bars: dict = {}
    shown: list = []
    with _ticking(shown):
        for event in events:
            chunk = event[1]
            layer, status = chunk.get("id"), chunk.get("status", "")
            done = outcome_of(status)
            if layer and (status in ("Preparing", "Pushing") or done):
                if layer not in bars:
                    bars[layer] = tqdm(total=None, unit="B", unit_scale=True, desc=f"layer {layer}", leave=True)
                    shown.append(bars[layer])
                bar, detail = bars[layer], chunk.get("progressDetail") or {}
                if detail.get("total"):
                    bar.total = detail["total"]
                    bar.update(detail.get("current", 0) - bar.n)
                if done:
                    bar.set_postfix_str(done)
            yield event
