"""The docker CLI runner: the lab's BuildKit builds on one machine take turns with ``--no-cache`` ones."""
from __future__ import annotations

import threading
import time

from helpers import cli


def _overlaps(alone: list[bool]) -> dict[int, set[int]]:
    """Run one build per item at once (``alone``: a --no-cache build); which others each one overlapped."""
    running: set[int] = set()
    seen: dict[int, set[int]] = {n: set() for n in range(len(alone))}
    guard = threading.Lock()

    def build(n: int) -> None:
        with cli.buildkit_turn(alone[n]):
            with guard:
                for other in running:
                    seen[n].add(other)
                    seen[other].add(n)
                running.add(n)
            time.sleep(0.2)
            with guard:
                running.discard(n)

    threads = [threading.Thread(target=build, args=(n,)) for n in range(len(alone))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return seen


def test_a_no_cache_build_runs_alone_and_cached_builds_run_together():
    seen = _overlaps([False, False, False, True, True])
    assert not seen[3] and not seen[4], "a --no-cache build overlapped another"
    assert any(seen[n] for n in range(3)), "builds that use the cache never ran together"
    assert cli.BUILDKIT_LOCK.exists()


def test_a_waiting_no_cache_build_goes_before_builds_that_come_after_it():
    order: list[str] = []
    first = threading.Event()

    def build(name: str, alone: bool, hold: float) -> None:
        with cli.buildkit_turn(alone):
            order.append(name)
            first.set()
            time.sleep(hold)

    running = threading.Thread(target=build, args=("cached, running", False, 0.4))
    running.start()
    first.wait()
    waiting = threading.Thread(target=build, args=("no-cache", True, 0.1))
    waiting.start()
    time.sleep(0.1)  # the --no-cache build now waits for the running one, holding the gate
    later = threading.Thread(target=build, args=("cached, later", False, 0.1))
    later.start()
    for t in (running, waiting, later):
        t.join()
    assert order == ["cached, running", "no-cache", "cached, later"]
