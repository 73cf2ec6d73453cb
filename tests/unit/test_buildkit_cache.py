"""BuildKit's cache keys as the lab predicts them: what changes a step's key, and what does not."""
from __future__ import annotations

import os

import pytest

from helpers.build import BuildReport, BuildStep
from helpers.buildkit import BuildKitStep
from helpers.buildkit_cache import explain, forecast, plan, remember, share

DOCKERFILE = 'FROM base\nRUN pip install flask\nCMD ["python","app.py"]\nCOPY app.py /app.py\n'


@pytest.fixture
def context(tmp_path):
    (tmp_path / "app.py").write_text("print('hello')\n")
    return tmp_path


def keys(context, dockerfile=DOCKERFILE, args=None, base="sha256:b"):
    return [s.key for s in plan(dockerfile, context, {"base": base}, args or {})]


def test_only_run_copy_add_and_workdir_are_steps(context):
    found = plan(DOCKERFILE + "WORKDIR /srv\nEXPOSE 5000\n", context, {"base": "sha256:b"}, {})
    assert [s.keyword for s in found if s.key] == ["RUN", "COPY", "WORKDIR"]
    assert [s.keyword for s in found] == ["FROM", "RUN", "CMD", "COPY", "WORKDIR", "EXPOSE"]


def test_mtime_and_config_lines_leave_keys_alone(context):
    before = keys(context)
    os.utime(context / "app.py", (1, 1))
    assert keys(context) == before
    assert keys(context, DOCKERFILE.replace('"app.py"]', '"-u","app.py"]')) == before


def test_content_mode_env_args_and_base_change_the_keys_they_feed(context):
    before = keys(context)
    (context / "app.py").write_text("print('again')\n")
    assert keys(context)[:2] == before[:2] and keys(context)[3] != before[3]
    content_changed = keys(context)
    os.chmod(context / "app.py", 0o600)
    assert keys(context)[3] != content_changed[3]
    with_env = keys(context, "FROM base\nENV A=1\nRUN pip install flask\n")
    assert with_env[2] != keys(context, "FROM base\nENV A=2\nRUN pip install flask\n")[2]
    arg = "FROM base\nARG V=1\nRUN echo $V\n"
    assert keys(context, arg)[2] != keys(context, arg, {"V": "2"})[2]
    assert keys(context, arg) == keys(context, arg, {"V": "1"})
    inherited = "ARG V=1\nFROM base\nARG V\nRUN echo $V\n"  # a stage's ARG V takes the value of the one before FROM
    assert keys(context, inherited) == keys(context, inherited, {"V": "1"}) != keys(context, inherited, {"V": "2"})
    assert keys(context, base="sha256:c")[1] != before[1]


def test_a_copy_from_an_image_is_keyed_by_its_id_and_urls_are_not_predicted(context):
    text = "FROM base\nCOPY --from=tools:1 /out /out\nRUN true\n"
    one, same, other = (plan(text, context, {"base": "b", "tools:1": tools}, {}) for tools in ("t1", "t1", "t2"))
    assert one[1].key and [s.key for s in one] == [s.key for s in same]
    assert one[1].key != other[1].key and one[2].key != other[2].key and one[1].needs == ""
    reasons = forecast(plan("FROM base\nADD https://example.com/x /x\nCMD x\n", context, {"base": "b"}, {}), {}).steps
    assert reasons[1][0] is None and "cannot key this step" in reasons[1][1]
    assert reasons[2] == (None, "BuildKit runs no step for CMD: it only sets the image's config")


def test_a_folder_copy_is_keyed_by_the_files_it_copies_and_a_miss_names_them(context):
    for name in ("src/a.py", "src/b.py", "src/cache.log"):
        (context / name).parent.mkdir(exist_ok=True)
        (context / name).write_text(name)
    (context / ".dockerignore").write_text("**/*.log\n")
    text = "FROM base\nCOPY src /src\nRUN true\n"
    first = plan(text, context, {"base": "b"}, {})
    assert first[1].key and first[1].inputs.startswith("2 files, sha256 ") and set(first[1].files) == {
        "src/a.py", "src/b.py"}
    made: dict = {}
    remember(first, report("lab/app:v1", [True, False, False]), made)
    (context / "src/cache.log").write_text("ignored")
    assert keys(context, text, base="b") == [s.key for s in first]
    (context / "src/b.py").write_text("changed")
    (context / "src/c.py").write_text("new")
    (context / "src/a.py").unlink()
    reasons = forecast(plan(text, context, {"base": "b"}, {}), made).steps
    assert reasons[1] == (False, "a COPY source changed: src/b.py changed, src/c.py added, src/a.py removed")


def report(tag, cached):
    rows = [BuildStep(n, i, c, 0.0, None) for n, (i, c) in enumerate(zip(DOCKERFILE.splitlines(), cached), 1)]
    return BuildReport(tag=tag, rows=rows, image_id="", seconds=0.0)


def test_forecast_and_explain_from_the_labs_own_builds(context):
    made = {}
    steps = plan(DOCKERFILE, context, {"base": "sha256:b"}, {})
    cold = forecast(steps, made)
    assert [p for p, _ in cold.steps] == [True, False, None, False]
    assert "built nothing with BuildKit on this base image" in cold.steps[1][1] and "step 2" in cold.steps[3][1]
    remember(steps, report("lab/app:v1", [True, False, False, False]), made)
    (context / "app.py").write_text("print('again')\n")
    again = forecast(plan(DOCKERFILE, context, {"base": "sha256:b"}, {}), made)
    assert [p for p, _ in again.steps] == [True, True, None, False]
    assert "earlier BuildKit build app:v1" in again.steps[1][1] and "COPY source changed" in again.steps[3][1]
    why = explain(report("lab/app:v2", [True, True, True, False]), again)
    assert why.all_agree and [r.agrees for r in why.rows] == [True, True, None, True]


def test_a_predicted_miss_that_buildkit_served_is_the_engine_wide_cache(context):
    before = forecast(plan(DOCKERFILE, context, {"base": "b"}, {}), {})
    why = explain(report("lab/app:v1", [True, True, True, False]), before)
    assert why.rows[1].agrees is None and "engine-wide cache" in why.rows[1].why and why.all_agree


def test_a_predicted_hit_that_buildkit_rebuilt_is_a_disagreement(context):
    steps, made = plan(DOCKERFILE, context, {"base": "b"}, {}), {}
    remember(steps, report("lab/app:v1", [True] * 4), made)
    why = explain(report("lab/app:v2", [True, False, False, False]), forecast(steps, made))
    assert why.rows[1].agrees is False and not why.all_agree


def test_another_file_copied_on_the_same_parent_is_named_with_its_source(context):
    (context / "app2.py").write_text("print('two')\n")
    made = {}
    remember(plan(DOCKERFILE, context, {"base": "b"}, {}), report("lab/app:v1", [True] * 4), made)
    other = DOCKERFILE.replace("app.py", "app2.py")
    reasons = [r for _, r in forecast(plan(other, context, {"base": "b"}, {}), made).steps]
    assert reasons[1].startswith("cache hit") and reasons[3] == ("the instruction changed: built before here was "
                                                                 "`COPY app.py /app.py`")


MULTI = ("ARG BASE=base\nFROM $BASE AS build\nCOPY app.py /src/app.py\nRUN make\n"
         "FROM other\nENV A=1\nCOPY --from=build /out /out\nCOPY app.py /app.py\nCMD x\n")


def test_each_stage_keys_its_own_chain_and_a_copy_from_follows_its_stage(context):
    steps = plan(MULTI, context, {"base": "sha256:b", "other": "sha256:o"}, {})
    assert [s.keyword for s in steps] == ["ARG", "FROM", "COPY", "RUN", "FROM", "ENV", "COPY", "COPY", "CMD"]
    assert [bool(s.key) for s in steps] == [False, False, True, True, False, False, True, True, False]
    assert steps[4].parent != steps[1].parent and steps[6].needs == steps[3].key and steps[6].parent == steps[4].parent
    fed = plan(MULTI.replace("RUN make", "RUN make all"), context, {"base": "sha256:b", "other": "sha256:o"}, {})
    assert fed[6].key != steps[6].key and fed[7].key != steps[7].key  # the stage copied from feeds the key
    chained = plan("FROM base AS a\nRUN one\nFROM a\nRUN two\n", context, {"base": "b"}, {})
    assert chained[3].parent == chained[1].key  # FROM a stage goes on from its last step


def test_a_copy_from_a_stage_is_keyed_by_the_files_it_takes_once_the_lab_read_them(context):
    bases = {"base": "sha256:b", "other": "sha256:o"}
    made: dict = {}
    first = plan(MULTI, context, bases, {})
    assert first[6].needs == first[3].key  # not read yet: keyed by the stage, and not predicted
    taken = {"out": "folder, mode 755, owner 0:0", "out/app": "sha256 aaaaaaaaaaaa, mode 755, owner 0:0"}
    copied = {(first[3].key, ("/out",)): taken}  # what the lab read from the stage after the build
    remember(plan(MULTI, context, bases, {}, copied=copied),
             report("lab/app:v1", [False, True, False, False, True, True, False, False, False]), made)
    again = forecast(plan(MULTI, context, bases, {}, copied=copied), made).steps
    assert [hit for hit, _ in again] == [None, True, True, True, True, None, True, True, None]
    assert again[0][1].startswith("BuildKit runs no step for an ARG before the first FROM")
    text = MULTI.replace("RUN make", "RUN make all")  # the stage is rebuilt
    rebuilt = plan(text, context, bases, {}, copied=copied)
    changed = forecast(rebuilt, made).steps
    assert [hit for hit, _ in changed] == [None, True, True, False, True, None, None, None, None]
    assert "BuildKit keys it by the files it takes from the stage" in changed[6][1]
    assert "it follows step 7, which it could not predict" in changed[7][1]
    copied[(rebuilt[3].key, ("/out",))] = taken  # rebuilt, yet the same files: BuildKit reuses the COPY
    same = forecast(plan(text, context, bases, {}, copied=copied), made).steps
    assert [hit for hit, _ in same][6:8] == [True, True]
    copied[(rebuilt[3].key, ("/out",))] = {**taken, "out/app": "sha256 bbbbbbbbbbbb, mode 755, owner 0:0"}
    other = forecast(plan(text, context, bases, {}, copied=copied), made).steps
    assert other[6] == (False, "the files this COPY takes from stage build changed: out/app changed")
    assert other[7][0] is False


def test_heredocs_mounts_and_link_are_keyed_as_buildkit_keys_them(context):
    (context / "req.txt").write_text("six\n")
    text = ("FROM base\nRUN <<EOF\necho one\nEOF\nCOPY <<EOT /etc/motd\nhello\nEOT\n"
            "RUN --mount=type=cache,target=/root/.cache pip install -r /dev/null\n"
            "RUN --mount=type=bind,source=req.txt,target=/tmp/req.txt cat /tmp/req.txt\n"
            "COPY --link app.py /app.py\n")
    before = keys(context, text)
    assert all(before[1:]) and len(before) == 6  # every line a step with a key: no heredoc body read as a line
    assert keys(context, text.replace("echo one", "echo two"))[1] != before[1]  # a heredoc's body is its text
    assert keys(context, text.replace("hello", "bye"))[2] != before[2]
    (context / "req.txt").write_text("six\nflask\n")
    changed = keys(context, text)
    assert changed[:4] == before[:4] and changed[4] != before[4]  # a bind mount is keyed by the files it mounts
    assert changed[5] == before[5]  # a COPY --link copies onto nothing: its key does not follow its parent's


def test_a_wildcard_ending_in_a_slash_copies_only_folders(context):
    for name in ("src/a/x.py", "src/b/y.py", "src/top.py"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(name)
    found = plan("FROM base\nCOPY src/*/ /flat/\n", context, {"base": "sha256:b"}, {})[1]
    assert found.key and set(found.files) == {"src/a/x.py", "src/b/y.py"}


def test_a_copy_naming_arg_and_env_values_is_keyed_by_them_expanded(context):
    expanded = keys(context, "FROM base\nENV APP=/srv\nARG UID=1000\nCOPY --chown=${UID} app.py $APP/\n")
    assert expanded[3] and expanded[3] == keys(context, "FROM base\nCOPY --chown=1000 app.py /srv/\n")[1]
    assert keys(context, "FROM base\nENV APP=/srv\nARG UID=1000\nCOPY --chown=${UID} app.py $APP/\n",
                {"UID": "1001"})[3] != expanded[3]
    assert keys(context, "FROM base\nCOPY app.py $HOME/\n")[1] == ""  # a base image's ENV: not known here


def test_a_base_s_onbuild_triggers_are_keyed_as_steps_that_run_first_inside_its_from(context):
    # buildx 0.29 printed them as the stage's first steps: "[2/3] COPY app.py /onbuild.py" on Docker 20.10,
    # "[2/5] ONBUILD COPY app.py /onbuild.py" on 28.5; an ENV trigger is no step, as an ENV line is none
    text = "FROM base\nRUN true\n"
    triggers = {"base": ["COPY app.py /onbuild.py", "ENV X=1", "RUN echo $X"]}
    steps = plan(text, context, {"base": "b"}, {}, triggers=triggers)
    assert [(s.keyword, s.trigger, bool(s.key)) for s in steps] == [
        ("FROM", False, False), ("COPY", True, True), ("ENV", True, False), ("RUN", True, True), ("RUN", False, True)]
    assert steps[3].inputs == "ENV X=1" and steps[4].parent == steps[3].key
    cold = forecast(steps, {}).steps
    assert len(cold) == 2 and cold[0][0] is False
    assert cold[0][1].startswith("FROM uses the base image; its ONBUILD trigger `COPY app.py /onbuild.py` ran first: ")
    made: dict = {}
    remember(steps, report("lab/app:v1", [False, False]), made)
    assert forecast(steps, made).steps[0] == (True, "FROM uses the base image; its ONBUILD triggers ran first, all "
                                                    "reused (`COPY app.py /onbuild.py`: cache hit: the lab's earlier "
                                                    "BuildKit build app:v1 made this step on the same parent from "
                                                    "the same file; `RUN echo $X`: cache hit: the lab's earlier "
                                                    "BuildKit build app:v1 made this step on the same parent)")
    (context / "app.py").write_text("changed\n")
    edited = forecast(plan(text, context, {"base": "b"}, {}, triggers=triggers), made).steps
    assert edited[0][0] is False and "`COPY app.py /onbuild.py` ran first: a COPY source changed" in edited[0][1]
    assert edited[1] == (False, "its parent changed: step 1 was new to the lab, so this step's key is too")


def test_a_stage_runs_the_onbuild_triggers_an_earlier_stage_leaves(context):
    text = "FROM base AS one\nONBUILD RUN echo hi\nFROM one\nRUN true\n"
    steps = plan(text, context, {"base": "b"}, {})
    assert [(s.keyword, s.trigger) for s in steps] == [("FROM", False), ("ONBUILD", False), ("FROM", False),
                                                       ("RUN", True), ("RUN", False)]
    assert steps[3].target == "echo hi" and steps[3].parent == steps[0].parent


def test_a_stage_the_last_one_does_not_need_is_not_built_nor_remembered(context):
    text = "FROM base AS unused\nRUN echo a\nFROM base AS used\nRUN echo b\nFROM base\nCOPY --from=used / /\n"
    steps = plan(text, context, {"base": "b"}, {})
    assert [s.unused for s in steps] == [True, True, False, False, False, False]
    found = forecast(steps, {}).steps
    assert found[0] == found[1] == (None, "BuildKit builds nothing of this stage: the image (the last stage) needs "
                                          "nothing from it")
    made: dict = {}
    remember(steps, report("lab/app:v1", [True, True, True, False, True, False]), made)
    assert steps[1].key not in made and steps[3].key in made


def test_a_step_two_stages_make_alike_is_run_once_and_both_rows_take_its_outcome(context):
    # Docker 28.5 printed "[b 2/3] RUN echo a" once and no vertex for stage a's same step
    text = "FROM base AS a\nRUN echo a\nFROM base AS b\nRUN echo a\nCOPY --from=a / /\n"
    steps = plan(text, context, {"base": "b"}, {})
    assert steps[1].key == steps[3].key
    rows = [BuildKitStep(1, "FROM base AS a", True, 0, None), BuildKitStep(2, "RUN echo a", True, 0, None),
            BuildKitStep(3, "FROM base AS b", True, 0, None, vertex=4),
            BuildKitStep(4, "RUN echo a", False, 0.2, None, vertex=5),
            BuildKitStep(5, "COPY --from=a / /", False, 0, None, vertex=6)]
    built = BuildReport(tag="lab/app:v1", rows=rows, image_id="", seconds=0.0)
    share(steps, built)
    assert built.cached == [True, False, True, False, False]
    assert forecast(steps, {}).steps[3][1].endswith("(the very step 2 makes: BuildKit runs it once)")
