"""The docker CLI runner: the lab's BuildKit builds on one machine take turns with ``--no-cache`` ones."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

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


PRIVATE_TMP_LEARNER = """
import fcntl, os, sys
from helpers import cli
if os.path.exists(sys.argv[1]):
    sys.exit(4)  # this /tmp is not private: the test proves nothing
fd = os.open(cli.BUILDKIT_LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(3)
"""


def test_a_learner_with_a_private_tmp_still_waits_for_the_machine_wide_lock(tmp_path):
    """As a JupyterHub with SystemdSpawner's ``isolate_tmp`` runs each learner: a temp folder of their own (here a
    tmpfs over the learner's TMPDIR, in a mount namespace of its own: not over /tmp, which may hold this checkout).
    The learner must still find the lock another learner holds."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to give a process a private temp folder")
    private = tmp_path / "private-tmp"
    private.mkdir()
    marker = private / "visible-outside-only"
    marker.write_text("")
    with cli.buildkit_turn(alone=True):
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             'mount -t tmpfs tmpfs "$TMPDIR" && exec "$0" -c "$1" "$2"', sys.executable, PRIVATE_TMP_LEARNER,
             str(marker)], cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=60,
            env={**os.environ, "TMPDIR": str(private)})
    assert done.returncode == 3, f"the learner with a private /tmp did not wait (exit {done.returncode}): {done.stderr}"
