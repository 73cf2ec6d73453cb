"""BuildKit's rawjson and plain progress, parsed from recordings and from literal lists, and joined to history."""
from __future__ import annotations

import base64
import json
import re

import pytest

from helpers import cli
from helpers.buildkit import join_history, on_export, parse_progress
from helpers.cli import _chunks
from helpers.errors import BadDockerfile, BuildFailed, ImageMissing, LabError
from helpers.layers import History, HistoryRow, instruction_of, makes_layer, parse_history
from helpers.workspace import lab_dockerfile
from tests.conftest import CONTAINERD, DATA, load, recorded

BUILDS = recorded("buildkit_", without=("_run_fails", "_parse_error"))
DOCKERFILE = lab_dockerfile(load("meta")["base"])
FAILS = f"FROM {load('meta')['base']}\nRUN echo about to fail && exit 3\n"
KINDS = ["buildkit_", "buildkit_rawjson_"]
"""The recordings' prefixes: the same builds through /usr/bin/docker (plain) and the lab's buildx (rawjson)."""


def objects(*updates, exit=None):
    """rawjson events: each update a dict like ``{"vertexes": [...]}``, with log ``data`` given as text."""
    for update in updates:
        for log in update.get("logs", []):
            log["data"] = base64.b64encode(log["data"].encode()).decode()
    events = [(float(i), {"json": u}) for i, u in enumerate(updates)]
    return events + ([(float(len(updates)), {"exit": exit})] if exit is not None else [])


def at(seconds: float) -> str:
    return f"2026-11-28T04:50:{seconds:012.9f}Z"


def lines(*texts, exit=None):
    events = [(float(i), {"line": t}) for i, t in enumerate(texts)]
    return events + ([(float(len(texts)), {"exit": exit})] if exit is not None else [])


@pytest.mark.parametrize("name", BUILDS)
def test_every_recorded_build_parses_into_one_row_per_instruction(name):
    report = parse_progress(name, load(name), DOCKERFILE)
    assert [s.instruction for s in report.rows] == DOCKERFILE.splitlines()
    assert [s.step for s in report.rows] == [1, 2, 3, 4]
    assert all(s.image_id is None for s in report.rows)
    assert report.image_id.startswith("sha256:") and len(report.image_id) == 71
    assert all(0 <= s.seconds <= report.seconds for s in report.rows)
    assert report.rows[0].cached and report.step("CMD").vertex is None
    assert report.events == load(name)


@pytest.mark.parametrize("name", BUILDS)
def test_without_the_dockerfile_rows_are_the_steps_buildkit_printed(name):
    report = parse_progress(name, load(name))
    assert [s.instruction.split()[0] for s in report.rows] == ["FROM", "RUN", "COPY"]
    # on the containerd store BuildKit pins the base it resolved by its digest
    assert re.fullmatch(rf"FROM docker.io/{re.escape(load('meta')['base'])}(@sha256:[0-9a-f]{{64}})?",
                        report.rows[0].instruction)


@pytest.mark.parametrize("kind", KINDS)
def test_cold_build_reuses_only_from(kind):
    report = parse_progress("v1", load(f"{kind}v1_nocache"), DOCKERFILE)
    assert report.cached == [True, False, False, False]
    assert report.step("RUN").seconds > 0.1
    run = report.step("RUN")
    assert run.output[-1].startswith("Successfully installed") and "flask" in run.output[-1]
    assert run.output[1].startswith("  Downloading flask")


@pytest.mark.parametrize("kind", KINDS)
def test_change_rebuilds_copy_and_reuses_run_and_cmd(kind):
    report = parse_progress("v2", load(f"{kind}v2_after_change"), DOCKERFILE)
    assert report.step("RUN").cached and report.step("CMD").cached
    assert not report.step("COPY").cached
    assert report.step("RUN").seconds == 0.0 and report.step("RUN").output == []


@pytest.mark.parametrize("kind", KINDS)
def test_unchanged_rebuild_is_all_cache(kind):
    assert all(parse_progress("v2", load(f"{kind}v2_all_cached"), DOCKERFILE).cached)


@pytest.mark.parametrize("kind", KINDS)
def test_failed_step_raises_with_its_step_command_and_output(kind):
    with pytest.raises(BuildFailed) as err:
        parse_progress("bad", load(f"{kind}run_fails"), FAILS)
    assert err.value.step == 2
    assert err.value.instruction == "RUN echo about to fail && exit 3"
    assert err.value.log_tail == ["about to fail"]
    assert "exit code: 3" in str(err.value) and "What to do" in str(err.value)


@pytest.mark.parametrize("kind", KINDS)
def test_history_join_fills_sizes_and_digests_by_order(kind):
    history = parse_history("v2", load(f"history_{kind}v2"), load(f"inspect_{kind}v2"))
    report = join_history(parse_progress("v2", load(f"{kind}v2_after_change"), DOCKERFILE), history)
    assert report.image_id == load(f"inspect_{kind}v2")["Id"]
    assert [s.diff_id for s in report.rows if s.diff_id] == load(f"inspect_{kind}v2")["RootFS"]["Layers"]
    assert report.step("CMD").size == 0 and report.step("CMD").diff_id is None
    assert report.step("FROM").size > 100_000_000
    assert report.step("RUN").size > 1_000_000
    assert 0 < report.step("COPY").size < 1_000


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("store", ["", CONTAINERD])
def test_the_exporter_names_the_image_config(kind, store):
    report = parse_progress("v2", load(f"{kind}v2_after_change{store}"), DOCKERFILE)
    pushed = (DATA / f"manifest_{kind}v2_image{store}.json").exists() and "_image" or ""  # an index's image
    assert report.config == load(f"manifest_{kind}v2{pushed}{store}")["manifest"]["config"]["digest"]
    assert (report.config == report.image_id) is (store == "")  # on the containerd store the id is a manifest's


@pytest.mark.parametrize("store", ["", CONTAINERD])
@pytest.mark.parametrize("build", ["v1_nocache", "v2_after_change", "v2_all_cached"])
def test_the_export_is_seen_once_with_its_config_before_the_cli_exits(build, store):
    events = load(f"buildkit_rawjson_{build}{store}")
    seen, passed = [], []
    for event in on_export(events, lambda config: seen.append((config, len(passed)))):
        passed.append(event)
    assert passed == events
    (config, index), = seen
    assert config == parse_progress("v", events, DOCKERFILE).config
    exported = [i for i, (_, chunk) in enumerate(events) if any(v.get("name") == "exporting to image"
                                                                and v.get("completed")
                                                                for v in chunk.get("json", {}).get("vertexes") or [])]
    assert index == exported[0] < len(events) - 1  # as the exporter finished, before the CLI's exit


def test_no_export_is_seen_in_plain_progress_nor_in_a_failed_build():
    seen = []
    for name in ("buildkit_v2_after_change", "buildkit_rawjson_run_fails", "buildkit_rawjson_parse_error"):
        list(on_export(load(name), seen.append))
    assert seen == []


@pytest.mark.parametrize("kind", KINDS)
def test_history_join_without_the_dockerfile_skips_the_metadata_entries(kind):
    history = parse_history("v2", load(f"history_{kind}v2"), load(f"inspect_{kind}v2"))
    report = join_history(parse_progress("v2", load(f"{kind}v2_after_change")), history)
    assert [s.diff_id for s in report.rows] == load(f"inspect_{kind}v2")["RootFS"]["Layers"]


@pytest.mark.parametrize("kind", KINDS)
def test_buildkit_history_assigns_every_layer_digest(kind):
    history = parse_history("v2", load(f"history_{kind}v2"), load(f"inspect_{kind}v2"))
    assert [r.diff_id for r in reversed(history.rows) if r.diff_id] == history.layers
    assert len(history.layers) == 3


@pytest.mark.parametrize("created_by, size, expected", [
    ('CMD ["python" "app.py"]', 0, False),
    ("ENV A=1", 0, False),
    ("EXPOSE map[5000/tcp:{}]", 0, False),
    ("LABEL a=b", 0, False),
    ("RUN /bin/sh -c true # buildkit", 0, True),
    ("COPY empty.txt /empty.txt # buildkit", 0, True),
    ("WORKDIR /srv", 0, True),
    ("RUN /bin/sh -c pip install flask # buildkit", 4987613, True),
])
def test_which_buildkit_history_entries_make_a_layer(created_by, size, expected):
    assert makes_layer(created_by, size) is expected


def test_empty_stream_gives_empty_report():
    report = parse_progress("x", [])
    assert report.rows == [] and report.image_id == "" and report.seconds == 0.0


def test_interleaved_vertices_keep_their_own_lines():
    report = parse_progress("x", lines(
        "#4 [1/3] FROM docker.io/library/base", "#4 CACHED",
        "#5 [2/3] RUN make a", "#5 0.100 a starts",
        "#6 [3/3] RUN make b", "#6 0.120 b starts",
        "#5 [2/3] RUN make a", "#5 0.300 a ends", "#5 DONE 0.4s",
        "#6 [3/3] RUN make b", "#6 0.500 b ends", "#6 DONE 0.6s",
        "#7 exporting to image", "#7 writing image sha256:" + "a" * 64 + " done", exit=0))
    assert [(s.step, s.instruction, s.cached, s.seconds, s.output) for s in report.rows] == [
        (1, "FROM docker.io/library/base", True, 0.0, []),
        (2, "RUN make a", False, 0.4, ["a starts", "a ends"]),
        (3, "RUN make b", False, 0.6, ["b starts", "b ends"])]
    assert report.image_id == "sha256:" + "a" * 64


def test_a_vertex_cached_then_repeated_stays_one_cached_row():
    report = parse_progress("x", lines(
        "#4 [1/2] FROM base", "#4 DONE 0.0s", "#5 [2/2] RUN true", "#5 CACHED", "",
        "#5 [2/2] RUN true", "#5 sha256:" + "b" * 64, "#5 CACHED"))
    assert [(s.instruction, s.cached, s.seconds, s.vertex) for s in report.rows] == [
        ("FROM base", True, 0.0, 4), ("RUN true", True, 0.0, 5)]


def test_steps_without_done_are_rebuilt_with_no_time_and_keep_their_output():
    report = parse_progress("x", lines("#4 [1/2] FROM base", "#5 [2/2] RUN slow", "#5 1.5 still going"))
    assert [(s.cached, s.seconds, s.output) for s in report.rows] == [(True, 0.0, []), (False, 0.0, ["still going"])]


def test_instructions_without_a_step_follow_the_row_before_them():
    dockerfile = "FROM base\nENV A=1\nRUN make\n# a comment\nCMD [\"x\"]\nEXPOSE 80\n"
    report = parse_progress("x", lines("#4 [1/2] FROM base", "#4 CACHED", "#5 [2/2] RUN make", "#5 DONE 1.0s"),
                                  dockerfile)
    assert [(s.step, s.instruction, s.cached, s.vertex) for s in report.rows] == [
        (1, "FROM base", True, 4), (2, "ENV A=1", True, None), (3, "RUN make", False, 5),
        (4, 'CMD ["x"]', False, None), (5, "EXPOSE 80", False, None)]


def test_stages_and_padded_numbers_map_to_dockerfile_lines():
    dockerfile = ("FROM base AS build\nRUN make \\\n    all\nFROM base\nWORKDIR /app\nCOPY --from=build /out /out\n"
                  + "RUN true\n" * 8 + "CMD [\"/out\"]\n")
    report = parse_progress("x", lines(
        "#4 [build 1/2] FROM docker.io/library/base", "#4 CACHED",
        "#5 [build 2/2] RUN make     all", "#5 DONE 2.0s",
        "#6 [stage-1  1/11] FROM docker.io/library/base", "#6 CACHED",
        "#7 [stage-1  2/11] WORKDIR /app", "#7 DONE 0.0s",
        "#8 [stage-1  3/11] COPY --from=build /out /out", "#8 DONE 0.1s",
        *(line for n in range(8) for line in (f"#{n + 9} [stage-1 {n + 4:2}/11] RUN true", f"#{n + 9} CACHED"))),
        dockerfile)
    rows = report.rows
    assert [(s.instruction, s.seconds) for s in rows[:5]] == [
        ("FROM base AS build", 0.0), ("RUN make     all", 2.0), ("FROM base", 0.0), ("WORKDIR /app", 0.0),
        ("COPY --from=build /out /out", 0.1)]
    assert [s.vertex for s in rows] == [4, 5, 6, 7, 8, *range(9, 17), None]


def test_missing_base_image_raises_image_missing():
    with pytest.raises(ImageMissing) as err:
        parse_progress("x", lines(
            "#3 [internal] load metadata for docker.io/layer-lab/nothing-here:1",
            "#3 ERROR: failed to do request: Head \"https://registry-1.docker.io/v2/layer-lab/nothing-here/"
            "manifests/1\": dial tcp: lookup registry-1.docker.io: no such host",
            "------", " > [internal] load metadata for docker.io/layer-lab/nothing-here:1:", "------", exit=1))
    assert "`FROM docker.io/layer-lab/nothing-here:1`" in str(err.value) and "no such host" in str(err.value)


def test_failing_from_step_raises_image_missing():
    with pytest.raises(ImageMissing, match="FROM base"):
        parse_progress("x", lines("#4 [1/2] FROM base", "#4 ERROR: pull access denied"), "FROM base\nRUN x\n")


@pytest.mark.parametrize("kind", KINDS)
def test_recorded_parse_error_raises_bad_dockerfile(kind):
    with pytest.raises(BadDockerfile, match="line 2: unknown instruction: RUNN"):
        parse_progress("x", load(f"{kind}parse_error"), f"FROM {load('meta')['base']}\nRUNN echo typo\n")


def test_dockerfile_parse_error_raises_bad_dockerfile():
    with pytest.raises(BadDockerfile, match="line 2: unknown instruction: RUNN"):
        parse_progress("x", lines(
            "#1 [internal] load build definition from Dockerfile", "#1 DONE 0.0s",
            "failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
            "dockerfile parse error line 2: unknown instruction: RUNN", exit=1))


def test_an_error_outside_any_step_raises_build_failed_with_the_last_line():
    with pytest.raises(BuildFailed) as err:
        parse_progress("x", lines("#4 [1/1] FROM base", "#4 CACHED", "error: no space left on device", exit=1))
    assert err.value.step is None and err.value.message == "error: no space left on device"


@pytest.mark.parametrize("build", ["v1_nocache", "v2_after_change", "v2_all_cached"])
def test_rawjson_and_plain_recordings_of_the_same_builds_give_the_same_rows(build):
    plain, raw = (parse_progress(build, load(f"{kind}{build}"), DOCKERFILE) for kind in KINDS)
    assert [(s.step, s.instruction, s.cached, s.ran) for s in raw.rows] == \
           [(s.step, s.instruction, s.cached, s.ran) for s in plain.rows]
    assert [len(s.output) for s in raw.rows] == [len(s.output) for s in plain.rows]
    assert [s.output[-1:] for s in raw.rows] == [s.output[-1:] for s in plain.rows]
    assert all(isinstance(e[1], dict) and ("json" in e[1] or "line" in e[1] or "exit" in e[1])
               for e in load(f"buildkit_rawjson_{build}"))


@pytest.mark.parametrize("name", recorded("buildkit_rawjson_", without=("_run_fails", "_parse_error")))
def test_rawjson_printed_numbers_vertices_in_the_order_they_ran_as_buildx_plain_does(name):
    """rawjson announces the whole graph first (the COPY before the RUN it waits for); buildx 0.29's plain progress
    numbers a vertex when it prints it, so the numbers rise down the page and the steps come in build order."""
    printed = parse_progress(name, load(name), DOCKERFILE).printed
    names: dict[int, str] = {}  # each vertex's first line is its name
    for m in re.finditer(r"^#(\d+) (\S.*)$", printed, re.M):
        names.setdefault(int(m[1]), m[2])
    assert list(names) == list(range(1, len(names) + 1))
    steps = [m[1] for name in names.values() if (m := re.match(r"\[(\d)/3\]", name))]
    assert steps == ["1", "2", "3"]


def test_rawjson_vertices_that_never_start_are_not_printed_nor_numbered():
    copy, run, cancelled = ("sha256:" + c * 64 for c in "abc")
    report = parse_progress("x", objects(
        {"vertexes": [{"digest": copy, "name": "[3/3] COPY a /a"}, {"digest": run, "name": "[2/3] RUN make"},
                      {"digest": cancelled, "name": "[2/2] RUN other"}]},
        {"vertexes": [{"digest": run, "name": "[2/3] RUN make", "started": at(1), "completed": at(2)}]},
        {"vertexes": [{"digest": copy, "name": "[3/3] COPY a /a", "started": at(2), "completed": at(2.5)},
                      {"digest": cancelled, "name": "[2/2] RUN other", "error": "context canceled"}]}, exit=0))
    assert report.printed.splitlines()[::3] == ["#1 [2/3] RUN make", "#2 [3/3] COPY a /a"]
    assert "other" not in report.printed


def test_rawjson_seconds_are_completed_minus_started_and_cached_steps_take_none():
    from_, run = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    report = parse_progress("x", objects(
        {"vertexes": [{"digest": from_, "name": "[1/2] FROM base"}, {"digest": run, "name": "[2/2] RUN make"}]},
        {"vertexes": [{"digest": from_, "name": "[1/2] FROM base", "started": at(1), "completed": at(1.5)}]},
        {"vertexes": [{"digest": from_, "name": "[1/2] FROM base", "started": at(2), "completed": at(2.1),
                       "cached": True}]},
        {"vertexes": [{"digest": run, "name": "[2/2] RUN make", "started": at(2.25)}]},
        {"vertexes": [{"digest": run, "name": "[2/2] RUN make", "started": at(2.25), "completed": at(3.5)}]},
        exit=0), "FROM base\nRUN make\n")
    assert [(s.instruction, s.cached, s.seconds, s.vertex) for s in report.rows] == [
        ("FROM base", True, 0.0, 1), ("RUN make", False, 1.25, 2)]


def test_rawjson_logs_split_anywhere_become_each_vertex_output_lines():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    report = parse_progress("x", objects(
        {"vertexes": [{"digest": a, "name": "[1/2] RUN make a"}, {"digest": b, "name": "[2/2] RUN make b"}]},
        {"logs": [{"vertex": a, "stream": 1, "data": "a sta"}, {"vertex": b, "stream": 2, "data": "b warns\n\n"}]},
        {"logs": [{"vertex": a, "stream": 1, "data": "rts\r\na "}]},
        {"logs": [{"vertex": a, "stream": 1, "data": "ends"}]},
        {"statuses": [{"id": "writing image sha256:" + "c" * 64, "vertex": "sha256:" + "d" * 64}]}, exit=0))
    assert [s.output for s in report.rows] == [["a starts", "a ends"], ["b warns"]]
    assert report.image_id == "sha256:" + "c" * 64


def test_rawjson_failed_step_names_its_step_and_output_and_ignores_canceled_ones():
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    with pytest.raises(BuildFailed) as err:
        parse_progress("x", objects(
            {"vertexes": [{"digest": a, "name": "[1/3] FROM base", "cached": True},
                          {"digest": b, "name": "[2/3] RUN make"}]},
            {"logs": [{"vertex": b, "stream": 2, "data": "make: *** no rule\n"}]},
            {"vertexes": [{"digest": "sha256:" + "e" * 64, "name": "[3/3] RUN other", "error": "context canceled"},
                          {"digest": b, "name": "[2/3] RUN make", "error": "process did not complete: exit code: 2"}]},
            exit=1), "FROM base\nRUN make\nRUN other\n")
    assert (err.value.step, err.value.instruction, err.value.log_tail) == (2, "RUN make", ["make: *** no rule"])
    assert err.value.message == "process did not complete: exit code: 2"


def test_rawjson_missing_base_image_raises_image_missing():
    with pytest.raises(ImageMissing) as err:
        parse_progress("x", [*objects(
            {"vertexes": [{"digest": "sha256:" + "f" * 64, "name": "[internal] load metadata for docker.io/x/no:1",
                           "error": "failed to do request: no such host"}]}),
            (1.0, {"line": "ERROR: failed to solve: failed to do request: no such host"}), (1.1, {"exit": 1})])
    assert "`FROM docker.io/x/no:1`" in str(err.value) and "no such host" in str(err.value)


@pytest.mark.parametrize("text, chunks", [
    ("", []),
    ('{\n  "vertexes": [\n    {\n      "name": "a}"\n    }\n  ]\n}\n', [{"json": {"vertexes": [{"name": "a}"}]}}]),
    ('{"logs": []}\n{"statuses": []}\n', [{"json": {"logs": []}}, {"json": {"statuses": []}}]),
    ('{\n  "a": 1\n}\n{\n  "b": {}\n}\n', [{"json": {"a": 1}}, {"json": {"b": {}}}]),
    ('#1 [internal] load\n{\n "a": 1\n}\nERROR: failed to solve\n',
     [{"line": "#1 [internal] load"}, {"json": {"a": 1}}, {"line": "ERROR: failed to solve"}]),
    ('{\n  "a": [\n', [{"line": "{"}, {"line": '  "a": ['}]),
])
def test_rawjson_objects_are_cut_from_the_lines_around_them(text, chunks):
    assert list(_chunks(text.splitlines(keepends=True))) == chunks
    assert json.loads(json.dumps(chunks)) == chunks


def test_no_cli_that_builds_with_buildkit_names_the_fix(monkeypatch):
    monkeypatch.setattr(cli, "find_cli", lambda: None)
    with pytest.raises(LabError, match="No docker CLI here builds with BuildKit") as err:
        next(cli.cli_build("/nowhere", "x:v1"))
    assert "make up" in str(err.value)


def test_an_owner_keys_the_build_apart_by_a_host_name_of_its_own(tmp_path):
    """`cli_build` passes the owner as an extra host (its name is in BuildKit's RUN key, its address not)."""
    echo = cli.BuildCli(("echo",), "plain")
    argv = [chunk["line"] for _, chunk in cli.cli_build(str(tmp_path), "x:v1", owner="Lab_1a", docker=echo)
            if "line" in chunk][0].split()
    assert argv[argv.index("--add-host") + 1] == "layer-lab-lab-1a:127.0.0.1"
    plain = [chunk["line"] for _, chunk in cli.cli_build(str(tmp_path), "x:v1", docker=echo) if "line" in chunk]
    assert "--add-host" not in plain[0]


def replayed_lab(tmp_path, tag: str, builds: list, answers: list[tuple[list, dict]]):
    """A lab on a replayed engine with the containerd store, its workspace holding the workshop's Dockerfile:
    its BuildKit builds of ``tag`` get ``builds`` (streams) in turn, and the image's history and inspect get
    ``answers`` (pairs) in turn."""
    from helpers.lab import Lab
    from helpers.recording import ReplayEngine, _key
    from helpers.settings import Settings
    from helpers.workspace import Workspace

    workspace = Workspace(root=tmp_path, name=load("meta_containerd")["workspace"])
    image = f"{workspace.name}/python-hello-world:{tag}"
    build = ("build_cli", (str(workspace.path), image, "Dockerfile", False, None, workspace.name), {})
    calls = [(("info", (), {}), {"Driver": "overlayfs",
                                 "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}),
             (("inspect_image", ("base",), {}), {"Id": "sha256:b"}), *((build, stream) for stream in builds),
             *((("history", (image,), {}), history) for history, _ in answers),
             *((("inspect_image", (image,), {}), found) for _, found in answers)]
    recording = {"meta": {"registry": "r", "recorded": "now"},
                 "calls": [{"key": _key(*call), "result": result} for call, result in calls]}
    lab = Lab(ReplayEngine(recording, "test"), Settings("r", "base", "test"), workspace)
    lab.write_dockerfile("FROM base\nRUN pip install flask\nCMD [\"python\",\"app.py\"]\nCOPY app.py /app.py\n")
    lab.write_app("hello world!")
    return lab


def test_a_buildkit_build_whose_image_lost_a_snapshot_as_it_unpacked_runs_once_more(tmp_path):
    """The containerd store can lose a parent snapshot as it unpacks the image it just built (moby/buildkit#6521,
    seen here on Docker 28.5): not the Dockerfile's fault, and a second build succeeds."""
    good = load("buildkit_rawjson_v1_nocache_containerd")
    lost = ('failed to prepare extraction snapshot "extract-536380862-oaOA sha256:c5b5d651": parent snapshot '
            'sha256:79e8762d does not exist: not found')
    export = good[-2][1]["json"]["vertexes"][0]
    failed = [*good[:-2], [2.27, {"json": {"vertexes": [{**export, "error": lost}]}}],
              [2.28, {"line": f"ERROR: failed to build: failed to solve: {lost}"}], [2.3, {"exit": 1}]]
    answers = [(load("history_buildkit_rawjson_v2_containerd"), load("inspect_buildkit_rawjson_v2_containerd"))]
    report = replayed_lab(tmp_path, "v1", [failed, good], answers).build("v1", builder="buildkit")
    assert report.image_id and [s.instruction.split()[0] for s in report.rows] == ["FROM", "RUN", "CMD", "COPY"]
    assert "Nothing is wrong with the Dockerfile" in str(BuildFailed(None, None, lost, []))


def test_a_one_stage_build_printed_with_stage_0_and_a_link_vertex_maps_to_its_lines():
    # as buildx 0.29 printed them on Docker 28.5 for a one-stage Dockerfile with a bind mount and a COPY --link
    dockerfile = ("FROM base\nRUN <<EOF\necho one\nEOF\n"
                  "RUN --mount=type=bind,source=req.txt,target=/tmp/req.txt cat /tmp/req.txt > /req\n"
                  "COPY --link app.py /app.py\n")
    report = parse_progress("x", lines(
        "#5 [stage-0 1/4] FROM docker.io/library/base", "#5 CACHED",
        "#6 [stage-0 2/4] RUN <<EOF (echo one)", "#6 CACHED",
        "#8 [stage-0 4/4] COPY --link app.py /app.py", "#8 CACHED",
        "#9 [stage-0 3/4] RUN --mount=type=bind,source=req.txt,target=/tmp/req.txt cat /tmp/req.txt > /req",
        "#9 DONE 0.2s", "#10 [stage-0 4/4] LINK COPY --link app.py /app.py", "#10 DONE 0.0s"), dockerfile)
    assert [(s.instruction.split()[0], s.cached, s.vertex) for s in report.rows] == [
        ("FROM", True, 5), ("RUN", True, 6), ("RUN", False, 9), ("COPY", True, 8)]
    assert report.rows[1].instruction == "RUN <<EOF\necho one\nEOF"


@pytest.mark.parametrize("first_read_is_of_the_new_image", [True, False])
def test_the_history_read_as_the_exporter_finished_is_kept_only_when_it_is_of_the_image_built(
        tmp_path, first_read_is_of_the_new_image):
    """Lab.build reads the new image's history while the CLI exits; an answer about another image (a tag not yet
    moved, say) is read again, so the report is always of the image the build named."""
    new = (load("history_buildkit_rawjson_v2_containerd"), load("inspect_buildkit_rawjson_v2_containerd"))
    other = (load("history_buildkit_rawjson_v2"), load("inspect_buildkit_rawjson_v2"))  # another image's answers
    answers = [new, other] if first_read_is_of_the_new_image else [other, new]
    lab = replayed_lab(tmp_path, "v2", [load("buildkit_rawjson_v2_all_cached_containerd")], answers)  # of `new`
    report = lab.build("v2", builder="buildkit")
    assert report.image_id == new[1]["Id"] != other[1]["Id"]
    assert [s.diff_id for s in report.rows if s.diff_id] == new[1]["RootFS"]["Layers"]


ONBUILD_CHILD = "FROM obbase\nCOPY extra.txt /extra.txt\nRUN cat /onbuild.py > /copied\n"
ONBUILD_TRIGGERS = {"obbase": ["COPY app.py /onbuild.py", "ENV X=1", "RUN echo triggered > /trig"]}


@pytest.mark.parametrize("prefix", ["", "ONBUILD "])
def test_the_steps_of_a_base_s_onbuild_triggers_fold_into_its_from(prefix):
    # buildx 0.29 printed the triggers as the stage's first steps, "[2/3] COPY app.py /onbuild.py" on Docker 20.10,
    # "[2/5] ONBUILD COPY app.py /onbuild.py" on 28.5, and the stage's own steps after them; ENV is no step
    total = "3" if not prefix else "5"
    report = parse_progress("x", lines(
        f"#4 [1/{total}] FROM docker.io/library/obbase", "#4 CACHED",
        f"#6 [2/{total}] {prefix}COPY app.py /onbuild.py", "#6 CACHED",
        f"#7 [3/{total}] {prefix}RUN echo triggered > /trig", "#7 DONE 0.3s",
        f"#8 [4/{total}] COPY extra.txt /extra.txt", "#8 DONE 0.1s",
        f"#9 [5/{total}] RUN cat /onbuild.py > /copied", "#9 CACHED"), ONBUILD_CHILD, ONBUILD_TRIGGERS)
    assert [(r.instruction, r.cached, r.vertex) for r in report.rows] == [
        ("FROM obbase", False, 4), ("COPY extra.txt /extra.txt", False, 8),
        ("RUN cat /onbuild.py > /copied", True, 9)]
    assert report.rows[0].ran_first == [True, False] and report.rows[0].triggers == 3
    assert report.rows[0].seconds == 0.3


def test_a_stage_from_a_stage_runs_its_onbuild_lines_as_its_first_steps():
    # Docker 28.5 printed "[stage-1 1/2] ONBUILD RUN echo hi > /hi" for `FROM one` after `ONBUILD RUN echo hi > /hi`
    text = "FROM base AS one\nONBUILD RUN echo hi > /hi\nFROM one\nRUN cat /hi\n"
    report = parse_progress("x", lines(
        "#4 [one 1/1] FROM docker.io/library/base", "#4 CACHED",
        "#5 [stage-1 1/2] ONBUILD RUN echo hi > /hi", "#5 CACHED",
        "#6 [stage-1 2/2] RUN cat /hi", "#6 DONE 0.2s"), text)
    assert [(r.cached, r.vertex) for r in report.rows] == [(True, 4), (True, None), (True, 5), (False, 6)]


def test_a_failing_onbuild_trigger_fails_its_from_and_blames_no_base_image():
    # Docker 20.10 printed the failing trigger as "[2/2] RUN echo failing && exit 3"
    with pytest.raises(BuildFailed) as err:
        parse_progress("x", lines(
            "#4 [1/2] FROM docker.io/library/obfail", "#4 CACHED", "#5 [2/2] RUN echo failing && exit 3",
            "#5 ERROR: executor failed running [/bin/sh -c echo failing && exit 3]: exit code: 3", exit=1),
            "FROM obfail\nRUN true\n", {"obfail": ["RUN echo failing && exit 3"]})
    assert err.value.step == 1 and "exit code: 3" in str(err.value)


def test_a_from_that_ran_triggers_takes_the_bytes_of_their_history_entries():
    report = parse_progress("x", lines(
        "#4 [1/3] FROM docker.io/library/obbase", "#6 [2/5] ONBUILD COPY app.py /onbuild.py",
        "#7 [3/5] ONBUILD RUN echo triggered > /trig", "#8 [4/5] COPY extra.txt /extra.txt",
        "#9 [5/5] RUN cat /onbuild.py > /copied"), ONBUILD_CHILD, ONBUILD_TRIGGERS)
    entries = [("RUN /bin/sh -c cat /onbuild.py > /copied # buildkit", 3), ("COPY extra.txt /extra.txt # buildkit", 2),
               ("RUN /bin/sh -c echo triggered > /trig # buildkit", 12), ("ENV X=1", 0),
               ("COPY app.py /onbuild.py # buildkit", 3), ("RUN /bin/sh -c echo base > /base # buildkit", 11)]
    history = History("x", [HistoryRow("<missing>", 1, c, instruction_of(c), size, "", [], f"sha256:{n}" * bool(size))
                            for n, (c, size) in enumerate(entries)])
    assert [r.size for r in join_history(report, history).rows] == [15, 2, 3]
