"""A room of learners on one engine: each learner a process of its own running notebooks 01-04 live under
nbval (each notebook in a kernel of its own), with what the machine spent on them measured.

Used by the load test (`tests/live/test_room.py`) and by `make bench` (its capacity section).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").glob("0[1-4]-*.ipynb"))
DOCKER_ROOT = Path("/var/lib/docker")
STAGGER = 2.0
"""Seconds between two learners' starts."""


@dataclass
class Room:
    """One run of a room: its wall time, what failed, and the machine's CPU, memory and disk spent on it."""

    learners: int
    seconds: float
    failed: dict[int, str]
    """Learner number -> the end of its pytest output, for each learner whose run failed."""
    cpu_seconds: float
    """CPU time of the whole machine during the run (the learners' kernels, the engine, the builds)."""
    peak_memory: int
    """Bytes of memory in use at the peak, above what was in use before the run."""
    peak_disk: int
    """Bytes of disk in use at the peak on the file system of the engine's data, above the start."""
    timeline: list[tuple[float, float]] = field(default_factory=list, repr=False)


def _cpu_seconds() -> float:
    """Busy CPU seconds of the machine since boot (``/proc/stat``, all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _memory_used() -> int:
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) * 1024


def _disk_used() -> int:
    usage = shutil.disk_usage(DOCKER_ROOT if DOCKER_ROOT.exists() else "/")
    return usage.used


def learner(log: Path, builder: str = "classic") -> subprocess.Popen:
    """Start one learner: notebooks 01-04, live, under strict nbval with the classic builder (the stored
    outputs are a classic run's); with BuildKit the notebooks' own checks decide (``--nbval-lax``)."""
    env = dict(os.environ, LAYER_LAB_BUILDER=builder, LAYER_LAB_PROGRESS="0", LAYER_LAB_MODE="live")
    check = (["--nbval-sanitize-with", "tests/nbval-sanitize.cfg"] if builder == "classic" else ["--nbval-lax"])
    argv = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", *check, "-p", "no:cacheprovider",
            "-q", *NOTEBOOKS]
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def run(learners: int, folder: Path, deadline: float, builders: tuple[str, ...] = ("classic",)) -> Room:
    """Run ``learners`` at once and wait for them all, at most ``deadline`` seconds (then they are killed);
    learner ``n`` builds with ``builders[n % len(builders)]``."""
    memory, disk, cpu = _memory_used(), _disk_used(), _cpu_seconds()
    peaks = {"memory": memory, "disk": disk}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peaks["memory"] = max(peaks["memory"], _memory_used())
            peaks["disk"] = max(peaks["disk"], _disk_used())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    logs = [folder / f"learner-{n}.log" for n in range(learners)]
    procs = []
    for n, log in enumerate(logs):  # a room arrives over a few seconds; kernels starting in one instant race for ports
        procs.append(learner(log, builders[n % len(builders)]))
        time.sleep(STAGGER)
    try:
        for proc in procs:
            try:
                proc.wait(timeout=max(1.0, deadline - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    finally:
        done.set()
        sampler.join()
    failed = {n: log.read_text()[-3000:] for n, (proc, log) in enumerate(zip(procs, logs)) if proc.returncode}
    return Room(learners, time.monotonic() - started, failed, _cpu_seconds() - cpu, peaks["memory"] - memory,
                peaks["disk"] - disk)
