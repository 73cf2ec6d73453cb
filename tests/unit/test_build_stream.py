"""The classic builder's stream, parsed from recordings and from literal chunk lists."""
from __future__ import annotations

import pytest

from helpers.build import join_layers, parse_build_stream
from helpers.errors import BuildFailed
from helpers.layers import History, HistoryRow, parse_history
from tests.conftest import load, recorded

BUILDS = recorded("build_", without=("_run_fails",))


@pytest.mark.parametrize("name", BUILDS)
def test_every_recorded_build_parses_into_numbered_steps(name):
    report = parse_build_stream(name, load(name))
    assert [s.step for s in report.rows] == list(range(1, len(report.rows) + 1))
    assert all(s.image_id and len(s.image_id) == 12 for s in report.rows)
    assert report.image_id.startswith("sha256:")
    assert all(0 <= s.seconds <= report.seconds for s in report.rows)
    assert report.rows[0].instruction.startswith("FROM ") and report.rows[0].cached


def test_cold_build_runs_every_step_after_from():
    report = parse_build_stream("v1", load("build_v1_nocache"))
    assert report.cached == [True, False, False, False]
    assert [s.instruction.split()[0] for s in report.rows] == ["FROM", "RUN", "CMD", "COPY"]
    assert any("flask" in line.lower() for line in report.step("RUN").output)


def test_change_rebuilds_copy_and_reuses_run_and_cmd():
    report = parse_build_stream("v2", load("build_v2_after_change"))
    assert report.step("RUN").cached and report.step("CMD").cached
    assert not report.step("COPY").cached


def test_unchanged_rebuild_is_all_cache():
    assert all(parse_build_stream("v2", load("build_v2_all_cached")).cached)


def test_sizes_and_layer_digests_join_from_history():
    report = join_layers(parse_build_stream("v1", load("build_v1_nocache")),
                         parse_history("v1", load("history_v1"), load("inspect_v1")))
    layers = load("inspect_v1")["RootFS"]["Layers"]
    assert [s.diff_id for s in report.rows if s.diff_id] == layers
    assert report.step("CMD").size == 0 and report.step("CMD").diff_id is None
    assert report.step("RUN").size > 1_000_000
    assert 0 < report.step("COPY").size < 1_000


def test_failed_step_raises_with_its_step_command_and_output():
    with pytest.raises(BuildFailed) as err:
        parse_build_stream("bad", load("build_run_fails"))
    assert err.value.step == 2
    assert err.value.instruction == "RUN echo about to fail && exit 3"
    assert err.value.log_tail == ["about to fail"]
    assert "non-zero code: 3" in str(err.value) and "What to do" in str(err.value)


def test_a_failed_build_names_the_images_its_earlier_steps_made():
    events = [(0.0, {"stream": "Step 1/3 : FROM base\n"}), (0.1, {"stream": " ---> 1111aaaa2222\n"}),
              (0.2, {"stream": "Step 2/3 : RUN make\n"}), (0.3, {"stream": " ---> Running in 9f9f9f9f9f9f\n"}),
              (0.4, {"stream": " ---> 3333bbbb4444\n"}), (0.5, {"stream": "Step 3/3 : RUN false\n"}),
              (0.6, {"stream": " ---> Running in 8e8e8e8e8e8e\n"}),
              (0.7, {"error": "The command '/bin/sh -c false' returned a non-zero code: 1",
                     "errorDetail": {"message": "The command '/bin/sh -c false' returned a non-zero code: 1"}})]
    with pytest.raises(BuildFailed) as err:
        parse_build_stream("bad", events)
    assert err.value.step == 3 and err.value.made == ["3333bbbb4444"]  # not the base image FROM names


def chunks(*texts):
    return [(float(i), {"stream": t}) for i, t in enumerate(texts)]


def test_empty_stream_gives_empty_report():
    report = parse_build_stream("x", [])
    assert report.rows == [] and report.image_id == ""


def test_lines_split_across_chunks_and_back_to_back_lines():
    report = parse_build_stream("x", chunks(
        "Step 1/2 : FR", "OM base\n ---> 0123456789ab\nStep 2/2 : RUN true\n",
        " ---> Using cache\n", "", " ---> ", "abcdefabcdef\n", "Successfully built abcdefabcdef\n"))
    assert [(s.step, s.instruction, s.cached, s.image_id) for s in report.rows] == [
        (1, "FROM base", True, "0123456789ab"), (2, "RUN true", True, "abcdefabcdef")]
    assert report.image_id == "abcdefabcdef"


def test_step_seconds_run_from_its_start_to_its_id_line():
    report = parse_build_stream("x", chunks(
        "Step 1/2 : FROM base\n", " ---> 0123456789ab\n", "Step 2/2 : RUN sleep 1\n",
        " ---> Running in 111111111111\n", "working\n", " ---> abcdefabcdef\n"))
    assert report.rows[1].seconds == 3.0
    assert report.rows[1].output == ["working"]


def test_a_from_that_runs_onbuild_triggers_is_reused_only_when_each_trigger_is():
    # Docker 20.10: the triggers run inside step 1, one "Using cache" (or a container) each, and no id of theirs
    head = ["Step 1/2 : FROM obbase\n", "# Executing 2 build triggers\n"]
    tail = [" ---> e00a8092e937\n", "Step 2/2 : RUN true\n", " ---> Using cache\n", " ---> 6029216970c8\n"]
    reused = parse_build_stream("x", chunks(*head, " ---> Using cache\n", " ---> Using cache\n", *tail))
    one_rebuilt = parse_build_stream("x", chunks(*head, " ---> Using cache\n", " ---> Running in de53686d8519\n",
                                                 "Removing intermediate container de53686d8519\n", *tail))
    assert reused.cached == [True, True] and one_rebuilt.cached == [False, True]
    assert reused.rows[0].triggers == 2 and reused.rows[0].image_id == "e00a8092e937"


def test_a_failing_onbuild_trigger_fails_its_from_step_and_blames_no_base_image():
    events = chunks("Step 1/2 : FROM obfail\n", "# Executing 1 build trigger\n", " ---> Running in 352b41a14871\n",
                    "failing\n") + [(4.0, {"error": "The command '/bin/sh -c echo failing && exit 3' returned a "
                                                    "non-zero code: 3",
                                           "errorDetail": {"message": "The command '/bin/sh -c echo failing && exit "
                                                                      "3' returned a non-zero code: 3"}})]
    with pytest.raises(BuildFailed) as err:
        parse_build_stream("bad", events)
    assert err.value.step == 1 and err.value.log_tail == ["failing"]


def test_a_from_that_ran_triggers_adds_the_bytes_of_their_entries():
    rows = [HistoryRow(f"sha256:{c * 12}", 1, f"/bin/sh -c {c}", "", size, "", [], None)
            for c, size in (("c", 3), ("b", 12), ("a", 2), ("9", 100))]
    report = parse_build_stream("x", chunks("Step 1/2 : FROM obbase\n", "# Executing 2 build triggers\n",
                                            " ---> bbbbbbbbbbbb\n", "Step 2/2 : RUN true\n", " ---> cccccccccccc\n"))
    join_layers(report, History("x", rows))
    assert [r.size for r in report.rows] == [14, 3]
