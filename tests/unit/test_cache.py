"""The cache lookup's pieces: Dockerfile parsing, the history text each instruction makes, checksums."""
from __future__ import annotations

import hashlib
import os

import pytest

from helpers.cache import RebuiltCopy, _miss, copies_made, created_by, forecast, go_duration, workdir_written
from helpers.context import Received, tarsum
from helpers.dockerfile import instructions, meta_args
from helpers.layers import NOP, History, HistoryRow, parse_history
from helpers.workspace import Workspace, lab_dockerfile
from tests.conftest import load


def test_instructions_join_continuations_and_drop_comments():
    text = "# comment\nFROM base\n\nRUN pip install \\\n    flask\nCMD [\"python\",\"app.py\"]\n"
    assert instructions(text) == ["FROM base", "RUN pip install     flask", 'CMD ["python","app.py"]']


@pytest.mark.parametrize("instruction, expected", [
    ("RUN pip install flask", "/bin/sh -c pip install flask"),
    ('CMD ["python","app.py"]', '/bin/sh -c #(nop)  CMD ["python" "app.py"]'),
    ("LABEL layer-lab=lab-1", "/bin/sh -c #(nop)  LABEL layer-lab=lab-1"),
    ("ENV A=b", "/bin/sh -c #(nop)  ENV A=b"),
    ("EXPOSE 5000", "/bin/sh -c #(nop)  EXPOSE 5000"),
    ('ENTRYPOINT ["x"]', '/bin/sh -c #(nop)  ENTRYPOINT ["x"]'),
    # VOLUME written with Go's %v, by Docker 20.10.24 and 28.5.2 alike
    ("VOLUME /data", "/bin/sh -c #(nop)  VOLUME [/data]"),
    ('VOLUME ["/a", "/b c"]', "/bin/sh -c #(nop)  VOLUME [/a /b c]"),
    ("VOLUME /x   /y", "/bin/sh -c #(nop)  VOLUME [/x /y]"),
    # CMD and ENTRYPOINT written with Go's %q, the shell form in the shell, by both engines alike
    ('CMD python  app.py "x"', '/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "python  app.py \\"x\\""]'),
    ("ENTRYPOINT exec python -m pkg", '/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c" "exec python -m pkg"]'),
    ('CMD ["python", "é", "a\\tb"]', '/bin/sh -c #(nop)  CMD ["python" "é" "a\\tb"]'),
])
def test_history_text_of_each_instruction_matches_what_the_engine_wrote(instruction, expected, tmp_path):
    assert created_by(instruction, Received.of(tmp_path), {}, {}) == expected


def test_build_args_prefix_run_like_the_engine(tmp_path):
    declared: dict = {}
    assert created_by("ARG VERSION=1", Received.of(tmp_path), {}, declared) == "/bin/sh -c #(nop)  ARG VERSION=1"
    # as the engine wrote it for `--build-arg VERSION=2`
    assert created_by("RUN echo v${VERSION} > /v", Received.of(tmp_path), {"VERSION": "2"}, declared) == \
        "|1 VERSION=2 /bin/sh -c echo v${VERSION} > /v"


def test_a_stage_arg_without_a_default_takes_the_value_of_the_arg_before_from(tmp_path):
    # Docker 20.10 wrote `|2 VARIANT=slim VERSION=1.0 /bin/sh -c echo $VARIANT` for this stage, and the same key
    # with --build-arg VARIANT=slim; Docker's rule: `ARG NAME` in a stage takes the value of the ARG before FROM
    text = "ARG VARIANT=slim\nFROM base\nARG VARIANT\nARG VERSION=1.0\nRUN echo $VARIANT\n"
    received = Received.of(tmp_path)
    for args in ({}, {"VARIANT": "slim"}, {"VARIANT": "full"}):
        declared: dict = {}
        meta = meta_args(text, args)
        for line in instructions(text)[2:4]:
            created_by(line, received, args, declared, meta=meta)
        variant = args.get("VARIANT", "slim")
        assert created_by("RUN echo $VARIANT", received, args, declared, meta=meta) == \
            f"|2 VARIANT={variant} VERSION=1.0 /bin/sh -c echo $VARIANT"


def test_a_shell_line_is_written_as_go_prints_it_and_later_runs_name_its_shell(tmp_path):
    # as both engines (Docker 20.10.24 and 28.5.2) wrote them
    (tmp_path / "Dockerfile").write_text('FROM base\nSHELL ["/bin/bash", "-c"]\nRUN echo $0\n')
    history = History("lab-1/x:v1", [
        HistoryRow("sha256:r", 3, "/bin/bash -c echo $0", "RUN echo $0", 0, "", [], None),
        HistoryRow("sha256:s", 2, "/bin/bash -c #(nop)  SHELL [/bin/bash -c]", "SHELL [/bin/bash -c]", 0, "", [], None),
        HistoryRow("sha256:b", 1, "", "", 5, "", [], "sha256:d")])
    base = History("base", history.rows[2:])
    found = forecast((tmp_path / "Dockerfile").read_text(), tmp_path, base, {"lab-1/x:v1": history})
    assert [cached for cached, _ in found.steps] == [True, True, True], found.steps
    assert created_by("ENV A=1", Received.of(tmp_path), {}, {}, shell=["/bin/bash", "-c"]) == \
        "/bin/bash -c #(nop)  ENV A=1"
    assert created_by("CMD echo $HOME", Received.of(tmp_path), {}, {}, shell=["/bin/bash", "-o", "pipefail", "-c"]) == \
        '/bin/bash -o pipefail -c #(nop)  CMD ["/bin/bash" "-o" "pipefail" "-c" "echo $HOME"]'


def test_a_relative_workdir_is_joined_to_the_working_folder_and_cleaned_as_both_engines_wrote_it():
    # WORKDIR app, ./c/../d, $X (X=sub), /a/../b, e/ on a base with no working folder, as Docker 20.10.24 (API 1.41)
    # and 28.5.2 (API 1.51) wrote them
    for api, written in [((1, 41), ["/app", "/app/d", "/app/d/sub", "/a/../b", "/b/e"]),
                         ((1, 51), ["/app", "/app/d", "/app/d/sub", "/b", "/b/e"])]:
        current, found = "", []
        for folder in ["app", "./c/../d", "sub", "/a/../b", "e/"]:
            current = workdir_written(folder, current, api)
            found.append(current)
        assert found == written
    assert workdir_written("app", None) is None  # after a working folder the lab could not predict


# as `docker image history --no-trunc` printed them, Docker 20.10.24 (API 1.41) and 28.5.2 (API 1.51)
HEALTHCHECKS = [
    ('CMD python -c "print(1)"',
     """&{["CMD-SHELL" "python -c \\"print(1)\\""] "0s" "0s" "0s" '\\x00'}""",
     """&{[CMD-SHELL python -c "print(1)"] 0s 0s 0s 0s 0}"""),
    ("""--interval=90s --timeout=500ms --start-period=1m --retries=3 CMD ["python", "-c", "print('é')"]""",
     """&{["CMD" "python" "-c" "print('é')"] "1m30s" "500ms" "1m0s" '\\x03'}""",
     """&{[CMD python -c print('é')] 1m30s 500ms 1m0s 0s 3}"""),
    ("--retries=10 --interval=1h2m3s CMD echo $HOME",
     """&{["CMD-SHELL" "echo $HOME"] "1h2m3s" "0s" "0s" '\\n'}""",
     """&{[CMD-SHELL echo $HOME] 1h2m3s 0s 0s 0s 10}"""),
    ("NONE", """&{["NONE"] "0s" "0s" "0s" '\\x00'}""", """&{[NONE] 0s 0s 0s 0s 0}"""),
]


@pytest.mark.parametrize("rest, on_20_10, on_28_5", HEALTHCHECKS)
def test_a_healthcheck_is_written_as_each_engine_prints_its_settings(rest, on_20_10, on_28_5, tmp_path):
    line, received = f"HEALTHCHECK {rest}", Received.of(tmp_path)
    assert created_by(line, received, {}, {}, api=(1, 41)) == f"{NOP} HEALTHCHECK {on_20_10}"
    assert created_by(line, received, {}, {}, api=(1, 51)) == f"{NOP} HEALTHCHECK {on_28_5}"
    assert created_by(line, received, {}, {}, api=(1, 45)) is None  # not measured between them: not predicted


def test_go_durations_are_written_as_go_writes_them():
    assert [go_duration(ns) for ns in (0, 999, 1500, 2_500_000, 10**9, 1_500_000_000, 60 * 10**9, 3723 * 10**9)] == \
        ["0s", "999ns", "1.5µs", "2.5ms", "1s", "1.5s", "1m0s", "1h2m3s"]


def test_a_file_copy_is_named_by_its_checksum_as_the_engine_wrote_it(tmp_path):
    path = Workspace(root=tmp_path, name=load("meta")["workspace"]).write_app("hello world!")
    recorded = next(h["CreatedBy"] for h in load("history_v1") if "COPY" in h["CreatedBy"])
    assert created_by("COPY app.py /app.py", Received.of(path.parent), {}, {}) == recorded
    assert f"COPY file:{tarsum(path.parent, 'app.py')} in /app.py" in recorded


def test_checksum_ignores_mtime_but_not_mode_or_bytes(tmp_path):
    path = tmp_path / "app.py"
    path.write_text("print(1)\n")
    first = tarsum(tmp_path, "app.py")
    os.utime(path, (1, 1))
    assert tarsum(tmp_path, "app.py") == first
    os.chmod(path, 0o600)
    assert tarsum(tmp_path, "app.py") != first
    os.chmod(path, 0o644)
    path.write_text("print(2)\n")
    assert tarsum(tmp_path, "app.py") != first


def test_folder_and_multi_file_copies_are_named_by_what_the_context_sends(tmp_path):
    for name in ("src/a.py", "src/b.py", "src/skip.log", "c.py"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / ".dockerignore").write_text("**/*.log\n")

    def key(instruction):
        return created_by(instruction, Received.of(tmp_path), {}, {})

    folder, several, wildcard = key("COPY src /src"), key("COPY src c.py /dst/"), key("COPY src/*.py /dst/")
    assert folder.startswith("/bin/sh -c #(nop) COPY dir:") and folder.endswith(" in /src ")
    assert "COPY multi:" in several and "COPY multi:" in wildcard and several != wildcard
    assert key("COPY --chown=1000:1000 src /src") == folder.replace("COPY dir:", "COPY --chown=1000:1000 dir:")
    older = created_by("COPY --chown=1000:1000 src /src", Received.of(tmp_path), {}, {}, (1, 41))
    assert older == folder.replace("COPY dir:", "COPY --chown=1000:1000dir:")  # Docker 20.10 writes no space
    (tmp_path / "src/skip.log").write_text("ignored, so no key changes")
    assert (key("COPY src /src"), key("COPY src c.py /dst/")) == (folder, several)
    (tmp_path / "src/b.py").write_text("changed")
    assert key("COPY src /src") != folder and key("COPY src/*.py /dst/") != wildcard
    assert key("COPY missing.py /m.py") is None and key("COPY --from=build /out /out") is None


@pytest.mark.parametrize("key, siblings, on_base, cause", [
    ("/bin/sh -c pip install flask", [], True, "this workspace had built nothing on this base image"),
    ("/bin/sh -c #(nop) COPY file:bbb in /app.py ", ["/bin/sh -c #(nop) COPY file:aaa in /app.py "], False,
     "the file copied to /app.py was file:aaa"),
    ("|1 G=ho /bin/sh -c echo $G", ["|1 G=hi /bin/sh -c echo $G"], False, "build arg changed: G=hi -> G=ho"),
    ("|2 G=ho H=x /bin/bash -o pipefail -c echo $G", ["|2 G=hi H=x /bin/bash -o pipefail -c echo $G"], False,
     "build arg changed: G=hi H=x -> G=ho H=x"),
    ("|1 G=ho /bin/bash -c echo $G", ["/bin/bash -c echo $G"], False, "build arg changed: none -> G=ho"),
    ("/bin/sh -c pip install flask requests", ["/bin/sh -c pip install flask"], True,
     "instruction changed: built before here was `RUN pip install flask`"),
])
def test_first_cause_of_a_miss(key, siblings, on_base, cause):
    assert cause in _miss(key, siblings, on_base)


def test_a_folder_copy_miss_names_the_files_that_changed():
    old, new = "/bin/sh -c #(nop) COPY dir:aaa in /src ", "/bin/sh -c #(nop) COPY dir:bbb in /src "
    copied = {old: {"a.py": "sha256 1, mode 644", "b.py": "sha256 2, mode 644"},
              new: {"a.py": "sha256 1, mode 755", "c.py": "sha256 3, mode 644"}}
    assert _miss(new, [old], False, copied) == "a COPY source changed: a.py changed, c.py added, b.py removed"
    assert _miss(new, [old], False) == "a COPY source changed: the files copied to /src was dir:aaa…, now dir:bbb…"


def recorded_history(name: str):
    return parse_history(name, load(f"history_{name}"), load(f"inspect_{name}"))


@pytest.mark.parametrize("message, cached", [
    ("hello world!", [True, True, True, True]),
    ("hello beautiful world!", [True, True, True, False]),
])
def test_forecast_walks_the_recorded_history_of_the_labs_earlier_build(tmp_path, message, cached):
    workspace = Workspace(root=tmp_path, name=load("meta")["workspace"])
    workspace.write_app(message)
    v1 = recorded_history("v1")
    base = History(load("meta")["base"], v1.rows[-1:])  # the imported base: one entry, the oldest of v1's
    text = lab_dockerfile(load("meta")["base"])
    steps = forecast(text, workspace.path, base, {"v1": v1}).steps
    assert [hit for hit, _ in steps] == cached
    if not cached[3]:
        assert "a COPY source changed" in steps[3][1]
    no_cache = forecast(text, workspace.path, base, {"v1": v1}, nocache=True).steps
    assert [hit for hit, _ in no_cache] == [True, False, False, False]


def test_forecast_of_a_gone_source_is_as_if_it_had_never_been_built(tmp_path):
    workspace = Workspace(root=tmp_path, name=load("meta")["workspace"])
    workspace.write_app("hello world!")
    base = History(load("meta")["base"], recorded_history("v1").rows[-1:])
    steps = forecast(lab_dockerfile(load("meta")["base"]), workspace.path, base, {"v1": None}, {}).steps
    assert steps[1] == (False, "no cache existed: this workspace had built nothing on this base image before")


def test_a_classic_build_whose_cached_step_vanished_meanwhile_runs_once_more(tmp_path):
    from helpers.lab import Lab
    from helpers.recording import ReplayEngine, _key
    from helpers.settings import Settings

    workspace = Workspace(root=tmp_path, name=load("meta")["workspace"])
    image = f"{workspace.name}/python-hello-world:v1"
    vanished = [[0.1, {"stream": "Step 1/4 : FROM base\n"}], [0.2, {"stream": "Step 2/4 : RUN pip install flask\n"}],
                [0.3, {"errorDetail": {"message": 'unable to find image "sha256:5ba1"'},
                       "error": 'unable to find image "sha256:5ba1"'}]]
    build = ("build", (str(workspace.path), image, "Dockerfile", False, None, ["base"]), {})
    calls = [(("info", (), {}), {"Driver": "overlay2", "DriverStatus": []}),
             (build, vanished), (build, load("build_v1_nocache")), (("history", (image,), {}), load("history_v1")),
             (("inspect_image", (image,), {}), load("inspect_v1"))]
    engine = ReplayEngine({"meta": {"registry": "r", "recorded": "now"},
                           "calls": [{"key": _key(*call), "result": result} for call, result in calls]}, "test")
    lab = Lab(engine, Settings("r", "base", "test"), workspace)
    lab.write_dockerfile("FROM base\nRUN pip install flask\n")
    report = lab.build("v1")
    assert report.image_id and [s.step for s in report.rows] == [1, 2, 3, 4]


def test_metadata_lines_are_written_expanded_and_run_keeps_its_spaces(tmp_path):
    received, declared, env = Received.of(tmp_path), {}, {}

    def key(line, api=(1, 41)):
        return created_by(line, received, {"V": "2"}, declared, api, env)

    key("ARG V=1")
    assert key('ENV A=$V B="two words" C=$A') == '/bin/sh -c #(nop)  ENV A=2 B=two words C='
    assert key("ENV OLD value  with words") == "/bin/sh -c #(nop)  ENV OLD=value  with words"
    assert key("LABEL v=\"$A\" q='$A'") == "/bin/sh -c #(nop)  LABEL v=2 q=$A"
    assert key("EXPOSE 5000 ${P:-8080} 4000/udp") == "/bin/sh -c #(nop)  EXPOSE 8080 4000/udp 5000"
    assert key("WORKDIR /srv/$A/../x") == "/bin/sh -c #(nop) WORKDIR /srv/2/../x"
    assert key("WORKDIR /srv/$A/../x", (1, 51)) == "/bin/sh -c #(nop) WORKDIR /srv/x"
    assert key("WORKDIR /srv/$A/../x", (1, 45)) is None and key("WORKDIR /srv", (1, 45)) == \
        "/bin/sh -c #(nop) WORKDIR /srv"
    assert key("RUN echo  $V") == "|1 V=2 /bin/sh -c echo  $V"  # two spaces: the builder compares text literally
    key("ENV V=shadowed")
    assert key("RUN echo $V") == "/bin/sh -c echo $V"  # a build arg ENV overrides is not in RUN's key


def rows(*texts):
    """A history, newest first, of steps whose history texts are ``texts`` (oldest first)."""
    return [HistoryRow("<missing>", i, t, t, 0, "", [], None) for i, t in reversed(list(enumerate(texts)))]


def test_each_stage_walks_its_own_chain_and_a_copy_from_a_reused_stage_keeps_its_key(tmp_path):
    (tmp_path / "main.py").write_text("print(1)\n")
    text = ("ARG BASE=base\nFROM $BASE AS deps\nRUN make deps\nFROM deps AS test\nRUN make test\n"
            "FROM other\nCOPY --from=deps /deps /deps\nCOPY main.py /main.py\n")
    run_deps, run_test = "/bin/sh -c make deps", "/bin/sh -c make test"
    copy_from = NOP + "COPY dir:abc in /deps "
    copy_main = created_by("COPY main.py /main.py", Received.of(tmp_path), {}, {})
    base, other = History("base", rows("base")), History("other", rows("other"))
    built = {"deps": History("d", rows("base", run_deps)), "test": History("t", rows("base", run_deps, run_test)),
             "app": History("a", rows("other", copy_from, copy_main))}
    steps = forecast(text, tmp_path, base, built, bases={"other": other}).steps
    assert [hit for hit, _ in steps] == [False, True, True, True, True, True, True, True]
    assert steps[3][1] == "FROM the stage deps: its chain of steps goes on"
    (tmp_path / "main.py").write_text("print(2)\n")
    assert [hit for hit, _ in forecast(text, tmp_path, base, built, bases={"other": other}).steps][-2:] == [True, False]
    changed = text.replace("make deps", "make deps again")
    steps = forecast(changed, tmp_path, base, built, bases={"other": other}).steps
    assert [hit for hit, _ in steps] == [False, True, False, True, False, True, None, None]
    assert steps[7][1].startswith("the lab cannot predict this step: it follows step 7, which it could not predict")
    assert "stage deps was rebuilt" in steps[6][1]
    assert forecast(text, tmp_path, base, built).steps[6][0] is None  # "other" not on the engine: unknown


def test_a_copy_from_a_rebuilt_stage_is_predicted_once_the_lab_read_the_files_it_takes(tmp_path):
    (tmp_path / "main.py").write_text("print(1)\n")
    text = "FROM base AS deps\nRUN make deps\nFROM other\nCOPY --from=deps /deps /deps\nCOPY main.py /main.py\n"
    copy_from = NOP + "COPY dir:abc in /deps "
    copy_main = created_by("COPY main.py /main.py", Received.of(tmp_path), {}, {})
    base, other = History("base", rows("base")), History("other", rows("other"))
    built = {"deps": History("d", rows("base", "/bin/sh -c make deps")),
             "app": History("a", rows("other", copy_from, copy_main))}
    changed = text.replace("make deps", "make deps again")
    rebuilt: dict[int, RebuiltCopy] = {}
    steps = forecast(changed, tmp_path, base, built, bases={"other": other}, rebuilt=rebuilt).steps
    assert [hit for hit, _ in steps] == [True, False, True, None, None]
    assert rebuilt == {4: RebuiltCopy("deps", ["/deps"], {copy_from})}  # what the lab reads after the build
    rebuilt[4].same, rebuilt[4].changed = {copy_from}, "no file changed"
    steps = forecast(changed, tmp_path, base, built, bases={"other": other}, rebuilt=rebuilt).steps
    assert [hit for hit, _ in steps] == [True, False, True, True, True]
    assert "stage deps was rebuilt, yet the files this COPY takes from it are the very ones" in steps[3][1]
    rebuilt[4].same, rebuilt[4].changed = set(), "deps/lib.so changed"
    steps = forecast(changed, tmp_path, base, built, bases={"other": other}, rebuilt=rebuilt).steps
    assert steps[3:] == [(False, "the files this COPY takes from stage deps changed: deps/lib.so changed"),
                         (False, "its parent changed: step 4 was rebuilt, so every later step is too")]
    elsewhere = changed.replace("COPY --from=deps /deps /deps", "COPY --from=deps /deps /elsewhere")
    steps = forecast(elsewhere, tmp_path, base, built, bases={"other": other}, rebuilt={}).steps
    assert steps[3] == (False, "stage deps was rebuilt, and no earlier build copied from it to /elsewhere on this "
                               "parent")  # a new step: nothing to read


def test_a_run_that_made_no_layer_on_the_containerd_store_gets_no_digest():
    history = [{"Id": "sha256:top", "Created": 3, "CreatedBy": "|1 V=3 /bin/sh -c true", "Size": 0},
               {"Id": "<missing>", "Created": 2, "CreatedBy": "/bin/sh -c pip install flask", "Size": 8192},
               {"Id": "<missing>", "Created": 1, "CreatedBy": "", "Size": 213622784}]
    found = parse_history("x", history, {"Id": "sha256:top", "RootFS": {"Layers": ["sha256:base", "sha256:pip"]}})
    assert [r.diff_id for r in found.rows] == [None, "sha256:pip", "sha256:base"]
    kept = parse_history("x", history, {"Id": "sha256:top", "RootFS": {"Layers": ["sha256:b", "sha256:p", "sha256:e"]}})
    assert [r.diff_id for r in kept.rows] == ["sha256:e", "sha256:p", "sha256:b"]  # overlay2 keeps the empty one


def test_the_files_a_copy_named_by_a_variable_copies_are_remembered(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src/a.py").write_text("A = 1\n")
    copied: dict = {}
    earlier = History("app", rows("base", NOP + " ARG D=src"))  # the ARG reused: the COPY is looked up
    forecast("FROM base\nARG D=src\nCOPY $D /src\n", tmp_path, History("base", rows("base")), {"app": earlier},
             copied=copied)
    digest = hashlib.sha256(b"A = 1\n").hexdigest()[:12]
    assert list(copied.values()) == [{"src/a.py": f"sha256 {digest}, mode 644"}]


def test_a_copy_from_a_stage_reused_whole_takes_the_key_copied_from_that_very_image(tmp_path):
    # two earlier builds copied different files from the stage (src v1, then v2); back at v1 the stage is reused
    # whole (its first build's image), so the COPY --from copies what the first build copied: its key
    text = "FROM base AS build\nCOPY src /src\nFROM base\nCOPY --from=build /src /out\n"
    (tmp_path / "src").mkdir()
    base_row = HistoryRow("sha256:" + "b" * 64, 1, "", "", 5, "", [], "sha256:d")
    histories, keys = {}, []
    for n, content in enumerate(["v1", "v2"]):
        (tmp_path / "src" / "main.py").write_text(content)
        key = created_by("COPY src /src", Received.of(tmp_path), {}, {})
        stage, final = f"{n + 1}" * 12, f"{n + 5}" * 12
        copied = f"{NOP}COPY dir:{content * 32} in /out "
        histories[stage] = History(stage, [HistoryRow(f"sha256:{stage}", 10 * n + 2, key, "", 1, "", [], "x"),
                                           base_row])
        histories[final] = History(final, [HistoryRow(f"sha256:{final}", 10 * n + 3, copied, "", 1, "", [], "y"),
                                           base_row])
        steps = [("FROM base AS build", "b" * 12), ("COPY src /src", stage), ("FROM base", "b" * 12),
                 ("COPY --from=build /src /out", final)]
        made = copies_made(text, {}, steps, histories[final])
        assert made == {stage: {copied}}
        keys.append(made)
    (tmp_path / "src" / "main.py").write_text("v1")
    base = History("base", [base_row])
    copies = {image: found for made in keys for image, found in made.items()}
    found = forecast(text, tmp_path, base, histories, bases={"base": base}, copies=copies).steps
    assert [hit for hit, _ in found] == [True, True, True, True]
    unknown = forecast(text, tmp_path, base, histories, bases={"base": base}).steps[3]  # which image each copied from?
    assert unknown[0] is None and "earlier builds copied different files there" in unknown[1]


def test_a_base_image_without_path_gets_the_default_path_an_env_line_expands(tmp_path):
    # Docker 20.10 and 28.5 both wrote this for `ENV PATH=/opt/bin:$PATH` on the lab's base, whose config sets no PATH
    written = "/bin/sh -c #(nop)  ENV PATH=/opt/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    base_row = HistoryRow("sha256:" + "b" * 64, 1, "", "", 5, "", [], "sha256:d")
    built = History("lab-1/x:v1", [HistoryRow("sha256:e", 2, written, "", 0, "", [], None), base_row])
    found = forecast("FROM base\nENV PATH=/opt/bin:$PATH\n", tmp_path, History("base", [base_row]),
                     {"lab-1/x:v1": built}, configs={"base": {"Env": ["LANG=C.UTF-8"]}})
    assert [hit for hit, _ in found.steps] == [True, True], found.steps


@pytest.mark.parametrize("source", [".", "./", "/"])
def test_copying_the_whole_context_is_a_folder_even_when_one_file_is_left(tmp_path, source):
    # Docker 20.10 wrote `COPY dir:c399d26a… in /src/` for `COPY . /src/` when .dockerignore left only app.py
    (tmp_path / "Dockerfile").write_text("FROM base\nCOPY . /src/\n")
    (tmp_path / ".dockerignore").write_text("Dockerfile\n.dockerignore\n*.md\n")
    (tmp_path / "app.py").write_text("a\n")
    (tmp_path / "notes.md").write_text("n\n")
    received = Received.of(tmp_path)
    assert received.paths == ["app.py"]
    assert received.copy_source([source]).startswith("dir:")
    assert received.copy_source(["app.py"]).startswith("file:")


def _row(image: str, created: int, created_by: str) -> HistoryRow:
    return HistoryRow(image, created, created_by, "", 0, "", [], None)


def test_a_base_s_onbuild_triggers_are_keyed_like_steps_inside_its_from(tmp_path):
    # Docker 20.10 printed "# Executing 2 build triggers" inside step 1 and wrote each trigger in the history, as a
    # step of its own (`/bin/sh -c #(nop) COPY file:… in /onbuild.py`, `/bin/sh -c echo triggered`), before step 2
    (tmp_path / "app.py").write_text("a\n")
    text = "FROM base\nRUN echo hi\n"
    base_row = HistoryRow("sha256:" + "b" * 64, 1, "", "", 5, "", [], "sha256:d")
    configs = {"base": {"OnBuild": ["COPY app.py /onbuild.py", "RUN echo triggered"]}}
    copy = created_by("COPY app.py /onbuild.py", Received.of(tmp_path), {}, {})
    built = History("lab-1/x:v1", [_row("sha256:r", 3, "/bin/sh -c echo hi"),
                                   _row("sha256:t", 2, "/bin/sh -c echo triggered"), _row("sha256:c", 2, copy),
                                   base_row])
    found = forecast(text, tmp_path, History("base", [base_row]), {"lab-1/x:v1": built}, configs=configs).steps
    assert found == [(True, "FROM uses the base image; its ONBUILD triggers ran first, all reused (`COPY app.py "
                            "/onbuild.py`: cache hit: the earlier build x:v1 made this step on the same parent from "
                            "the same file; `RUN echo triggered`: cache hit: the earlier build x:v1 made this step on "
                            "the same parent)"),
                     (True, "cache hit: the earlier build x:v1 made this step on the same parent")]
    (tmp_path / "app.py").write_text("a2\n")
    edited = forecast(text, tmp_path, History("base", [base_row]), {"lab-1/x:v1": built}, configs=configs).steps
    assert edited[0][0] is False
    assert edited[0][1].startswith("FROM uses the base image; its ONBUILD trigger `COPY app.py /onbuild.py` ran "
                                   "first: a COPY source changed: the file copied to /onbuild.py was file:")
    assert edited[1] == (False, "its parent changed: step 1 was rebuilt, so every later step is too")


def test_a_stage_from_a_stage_runs_the_triggers_its_onbuild_lines_leave(tmp_path):
    text = "FROM base AS one\nONBUILD RUN echo again\nFROM one\n"
    base_row = HistoryRow("sha256:" + "b" * 64, 1, "", "", 5, "", [], "sha256:d")
    found = forecast(text, tmp_path, History("base", [base_row]), {}).steps
    assert found[2] == (False, "FROM the stage one: its chain of steps goes on; its ONBUILD trigger `RUN echo again` "
                               "ran first: its parent changed: step 2 was rebuilt, so every later step is too")


def test_on_the_whole_engine_cache_a_step_an_earlier_stage_of_the_same_build_makes_is_reused(tmp_path):
    # the classic builder on Docker 28.5's containerd store (no --cache-from) printed "Using cache" for stage b's
    # COPY after stage a made it new in the very same build; with --cache-from (Docker 20.10) it built it again
    (tmp_path / "e.txt").write_text("e\n")
    text = "FROM base AS a\nCOPY e.txt /e\nFROM base AS b\nCOPY e.txt /e\nRUN cat /e\n"
    base = History("base", [HistoryRow("sha256:" + "b" * 64, 1, "", "", 5, "", [], "sha256:d")])
    shared = forecast(text, tmp_path, base, {}, isolated=False, bases={"base": base}).steps
    assert [hit for hit, _ in shared] == [True, False, True, True, False]
    assert shared[3][1] == "cache hit: step 2 of this very build made this step on the same parent"
    assert shared[4][1] == "no cache existed: this workspace had built nothing on this parent before"
    assert [hit for hit, _ in forecast(text, tmp_path, base, {}, bases={"base": base}).steps] == \
        [True, False, True, False, False]


def test_two_images_of_one_step_made_in_the_same_second_are_two_parents(tmp_path):
    # Docker 20.10, --cache-from: stages 1 and 2 both ran the trigger `RUN echo again` on stage 0 (images X then Y,
    # same second); the next build took Y, the newer, so stage 1's `RUN cat` (made on X) was built again
    text = "FROM base\nRUN echo again\nRUN cat /again\n"
    base_row = HistoryRow("sha256:" + "b" * 64, 1, "", "", 5, "", [], "sha256:d")
    on_x = History("stage-1", [_row("sha256:rc", 2, "/bin/sh -c cat /again"),
                                _row("sha256:x", 2, "/bin/sh -c echo again"), base_row])
    on_y = History("final", [_row("sha256:y", 2, "/bin/sh -c echo again"), base_row])
    found = forecast(text, tmp_path, History("base", [base_row]), {"final": on_y, "stage-1": on_x}).steps
    assert [hit for hit, _ in found] == [True, True, False]


def test_the_escape_directive_s_character_escapes_words_and_a_backslash_is_then_a_letter(tmp_path):
    # Docker 20.10 and 28.5 both wrote `ENV X=a$b P=C:\app` for `ENV X=a`$b P=C:\app` under `# escape=``
    written = "/bin/sh -c #(nop)  ENV X=a$b P=C:\\app"
    base_row = HistoryRow("sha256:" + "b" * 64, 1, "", "", 5, "", [], "sha256:d")
    built = History("lab-1/x:v1", [HistoryRow("sha256:e", 2, written, "", 0, "", [], None), base_row])
    text = "# escape=`\nFROM base\nENV X=a`$b P=C:\\app\n"
    found = forecast(text, tmp_path, History("base", [base_row]), {"lab-1/x:v1": built})
    assert [hit for hit, _ in found.steps] == [True, True], found.steps
    assert created_by("ENV X=a\\$b P=C:\\\\app", Received.of(tmp_path), {}, {}) == written  # the same, by default
