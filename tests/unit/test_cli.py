"""The docker CLI runner: the lab's BuildKit builds on one machine never run at once."""
from __future__ import annotations

import threading
import time

from helpers import cli


def test_the_labs_buildkit_builds_on_one_machine_run_one_at_a_time():
    events: list[tuple[str, int]] = []

    def build(n: int) -> None:
        with cli.one_build_at_a_time():
            events.append(("start", n))
            time.sleep(0.1)
            events.append(("end", n))

    threads = [threading.Thread(target=build, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [kind for kind, _ in events] == ["start", "end"] * 4
    assert all(events[i][1] == events[i + 1][1] for i in range(0, 8, 2))
    assert cli.BUILDKIT_LOCK.exists()
