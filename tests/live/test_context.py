"""A folder of one's own, built by the lab and by the docker CLI: the same context, the same cache keys, the same
layers, `.dockerignore` applied by Docker's rules; with either builder."""
from __future__ import annotations

import os
import subprocess

import pytest

from helpers.cache import created_by, environment_of
from helpers.context import Received
from helpers.dockerfile import instructions

pytestmark = pytest.mark.live

IGNORE = """\
# what the image does not need
**/__pycache__
*.env
tests
docs
!docs/README.md
/notes/
"""
FILES = {"app/__init__.py": "", "app/main.py": "print('hi')\n", "app/__pycache__/main.cpython-311.pyc": "junk",
         "docs/README.md": "# read me\n", "docs/design.md": "# long\n", "tests/test_main.py": "def test(): pass\n",
         "local.env": "TOKEN=x\n", "notes/todo.txt": "x\n", "lib/util/strings.py": "A = 1\n"}
KEPT = {"/src/Dockerfile", "/src/.dockerignore", "/src/app/__init__.py", "/src/app/main.py", "/src/docs/README.md",
        "/src/lib/util/strings.py", "/src/current"}


@pytest.fixture(scope="module")
def project(lab, tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"{text}# {lab.workspace.name}\n")  # new to every cache on the engine
    (root / "app/main.py").chmod(0o755)
    os.symlink("app/main.py", root / "current")
    (root / ".dockerignore").write_text(IGNORE)
    (root / "Dockerfile").write_text(f"FROM {lab.base_image}\nCOPY . /src\nCOPY app /app\n")
    return root


def cli_classic_build(image: str, folder) -> None:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    subprocess.run(["docker", "build", "--no-cache", "-q", "-t", image, str(folder)], env=env, check=True,
                   capture_output=True)


def copied(lab, image: str, layer: int) -> set[str]:
    """The files and links (not folders) a layer of ``image`` holds."""
    found = lab.files(image).rows[layer]
    return {path for path, (_, kind) in found.entries.items() if kind != "dir"}


def layer_files(lab, tag: str, layer: int) -> dict:
    """Each path of a layer with its size and type."""
    return lab.files(lab.image(tag)).rows[layer].entries


def test_the_lab_sends_the_context_the_cli_sends(lab, project):
    lab.build("ctx-lab", context=project, nocache=True)
    cli_classic_build(lab.image("ctx-cli"), project)
    ours, theirs = (lab.engine.history(lab.image(t)) for t in ("ctx-lab", "ctx-cli"))
    assert [h["CreatedBy"] for h in ours] == [h["CreatedBy"] for h in theirs]  # COPY dir:<hash>: one cache key
    assert "COPY dir:" in ours[1]["CreatedBy"]
    # The same files in each layer. Not the same layer digests: folders the engine makes as it copies (/src, docs/
    # which only a ! rule's file brings, and on the containerd store /app too) carry the second it ran, so any
    # two builds differ there, two of the CLI's included.
    for layer in (-1, -2):
        assert layer_files(lab, "ctx-lab", layer) == layer_files(lab, "ctx-cli", layer)
    assert copied(lab, lab.image("ctx-lab"), -2) == KEPT


def test_buildkit_keeps_out_the_same_files(lab, project):
    lab.build("ctx-bk", context=project, builder="buildkit")
    assert copied(lab, lab.image("ctx-bk"), -2) == KEPT


def test_an_ignored_file_edited_changes_no_cache_key(lab, project):
    lab.build("ctx-again", context=project)
    (project / "docs/design.md").write_text(f"# longer, by {lab.workspace.name}\n")
    (project / "local.env").write_text("TOKEN=changed\n")
    assert lab.build("ctx-again", context=project).cached == [True, True, True]
    (project / "docs/README.md").write_text(f"# read me again, {lab.workspace.name}\n")  # kept by a ! rule
    assert lab.build("ctx-again", context=project).cached == [True, False, False]


KEYS = """\
FROM {base}
COPY . /src
COPY app /app
COPY app/main.py docs/README.md /two/
COPY app/*.py /py/
COPY --chown=1000:1000 lib /lib
COPY current /current
ADD ["docs", "/docs"]
"""


def test_the_lab_names_each_copy_as_the_classic_builder_does(lab, project):
    (project / "Dockerfile.keys").write_text(KEYS.format(base=lab.base_image))
    lab.build("ctx-keys", context=project, dockerfile="Dockerfile.keys")
    lines = instructions(KEYS.format(base=lab.base_image))[1:]
    written = [h["CreatedBy"] for h in lab.engine.history(lab.image("ctx-keys"))[:len(lines)]][::-1]
    received = Received.of(project, "Dockerfile.keys")
    assert [created_by(line, received, {}, {}, lab.api) for line in lines] == written


def test_the_explanation_of_a_folder_build_agrees_with_the_engine(lab, project):
    (project / "Dockerfile.keys").write_text(KEYS.format(base=lab.base_image))
    lab.build("ctx-why", context=project, dockerfile="Dockerfile.keys")
    (project / "tests/test_main.py").write_text(f"def test(): assert True  # {lab.workspace.name}\n")  # ignored
    same = lab.build("ctx-why", context=project, dockerfile="Dockerfile.keys", explain=True)
    (project / "lib/util/strings.py").write_text(f"A = 2  # {lab.workspace.name}\n")
    changed = lab.build("ctx-why", context=project, dockerfile="Dockerfile.keys", explain=True)
    for report in (same, changed):
        assert [r.agrees for r in report.why.rows[1:]] == [True] * 7, report.why.frame
    assert same.cached == [True] * 8 and changed.cached == [True, False, False, False, False, False, False, False]
    assert changed.why.rows[1].why == "a COPY source changed: lib/util/strings.py changed"


def test_buildkit_explains_a_folder_copy_by_the_files_that_changed(lab, project):
    lab.build("ctx-bk-why", context=project, builder="buildkit")
    (project / "notes/todo.txt").write_text(f"ignored, {lab.workspace.name}\n")
    same = lab.build("ctx-bk-why", context=project, builder="buildkit", explain=True)
    (project / "app/main.py").write_text(f"print('changed by {lab.workspace.name}')\n")
    changed = lab.build("ctx-bk-why", context=project, builder="buildkit", explain=True)
    assert same.cached == [True, True, True] and [r.agrees for r in same.why.rows[1:]] == [True, True]
    assert changed.cached == [True, False, False] and [r.agrees for r in changed.why.rows[1:]] == [True, True]
    assert changed.why.rows[1].why == "a COPY source changed: app/main.py changed"


WORDS = """\
FROM {base}
ARG VERSION=1.0
ARG UNSET
ENV APP_VERSION=$VERSION HOME_DIR="/srv/my app" LATER=$APP_VERSION
ENV LEGACY value with  words
LABEL version="$APP_VERSION" maintainer='lab $NOT' empty=$UNSET from_base=$PIP_NO_CACHE_DIR
WORKDIR /srv/$APP_VERSION/../srv
USER 1000:${{GROUP:-1000}}
EXPOSE 5000 ${{PORT:-8080}}
RUN echo  two  spaces $VERSION
RUN echo continued \\
    line
ENV VERSION=shadowed
RUN echo $VERSION
COPY --chown=1000:1000 app /srv/${{APP_VERSION}}/app
"""


def test_the_classic_history_text_is_predicted_literally_and_expanded(lab, project):
    text = WORDS.format(base=lab.base_image)
    (project / "Dockerfile.words").write_text(text)
    lab.build("ctx-words", context=project, dockerfile="Dockerfile.words", args={"VERSION": "2.0"})
    lines = instructions(text)[1:]
    written = [h["CreatedBy"] for h in lab.engine.history(lab.image("ctx-words"))[:len(lines)]][::-1]
    received, declared = Received.of(project, "Dockerfile.words"), {}
    env = environment_of(lab._config(lab.base_image))  # the base image's ENV: PIP_NO_CACHE_DIR=1 here
    assert [created_by(line, received, {"VERSION": "2.0"}, declared, lab.api, env) for line in lines] == written



def test_the_explanation_of_expanded_lines_agrees_with_the_engine(lab, project):
    text = WORDS.format(base=lab.base_image)
    (project / "Dockerfile.words").write_text(text)
    lab.build("ctx-words-why", context=project, dockerfile="Dockerfile.words", args={"VERSION": "3.0"})
    again = lab.build("ctx-words-why", context=project, dockerfile="Dockerfile.words", args={"VERSION": "3.0"},
                      explain=True)
    assert all(again.cached[1:]) and all(r.agrees for r in again.why.rows[1:]), again.why.frame.to_string()

STAGES = """\
FROM {base} AS deps
RUN echo deps of {name} > /deps
FROM deps AS test
RUN echo tested > /tested
FROM {base}
COPY --from=deps /deps /deps
COPY app/main.py /main.py
"""


def test_the_classic_explanation_follows_stages_and_copies_from_them(lab, project):
    (project / "Dockerfile.stages").write_text(STAGES.format(base=lab.base_image, name=lab.workspace.name))
    lab.build("ctx-stages", context=project, dockerfile="Dockerfile.stages")
    again = lab.build("ctx-stages", context=project, dockerfile="Dockerfile.stages", explain=True)
    (project / "app/main.py").write_text(f"print('staged by {lab.workspace.name}')\n")
    changed = lab.build("ctx-stages", context=project, dockerfile="Dockerfile.stages", explain=True)
    assert again.cached == [True, True, True, True, True, True, True]
    assert changed.cached == [True, True, True, True, True, True, False]
    for report in (again, changed):
        assert [r.agrees for r in report.why.rows] == [True] * 7, report.why.frame.to_string()
    assert changed.why.rows[6].why == "a COPY source changed: app/main.py changed: the file copied to /main.py " \
        f"was {changed.why.rows[6].why.split(' was ')[1]}"


RULES = """\
ARG VARIANT=slim
FROM {base}
ARG VARIANT
RUN echo {name} $VARIANT > /variant
WORKDIR srv
WORKDIR ./app/../code
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN echo $0 > /shell
VOLUME /data /logs
HEALTHCHECK --interval=1m30s --retries=3 CMD python -c "print(1)"
ENTRYPOINT exec python -m http.server
CMD ["--bind", "0.0.0.0"]
"""


def test_the_classic_explanation_follows_shell_workdir_volume_healthcheck_and_inherited_args(lab, project):
    # each line is written in the history by a rule of its own (a SHELL's words before #(nop), Go's %v and %q, a
    # relative WORKDIR joined, a stage's ARG taking the default of the one before FROM): predicted literally
    (project / "Dockerfile.rules").write_text(RULES.format(base=lab.base_image, name=lab.workspace.name))
    lab.build("ctx-rules", context=project, dockerfile="Dockerfile.rules")
    steps = len(instructions(RULES))
    for args in (None, {"VARIANT": "slim"}, {"VARIANT": "full"}):
        again = lab.build("ctx-rules", context=project, dockerfile="Dockerfile.rules", explain=True, args=args)
        assert [r.agrees for r in again.why.rows] == [True] * steps, again.why.frame.to_string()
    assert again.cached == [False, True, True, False] + [False] * (steps - 4)  # VARIANT=full: its RUN and all after


STAGED = """\
FROM {base} AS build
COPY app /src
FROM {base}
COPY --from=build /src /app
"""


def test_a_copy_from_a_stage_reused_whole_is_predicted_after_two_earlier_builds_copied_different_files(lab, project):
    (project / "Dockerfile.staged").write_text(STAGED.format(base=lab.base_image))
    first = (project / "app/main.py").read_text()
    lab.build("ctx-staged", context=project, dockerfile="Dockerfile.staged")
    (project / "app/main.py").write_text(f"print('second, by {lab.workspace.name}')\n")
    lab.build("ctx-staged", context=project, dockerfile="Dockerfile.staged")
    (project / "app/main.py").write_text(first)  # back: the first build's stage, and what it copied
    back = lab.build("ctx-staged", context=project, dockerfile="Dockerfile.staged", explain=True)
    assert back.cached == [True] * 4 and [r.agrees for r in back.why.rows] == [True] * 4, back.why.frame.to_string()


REBUILT = """\
FROM {base} AS build
RUN echo {name} > /token
COPY src /src
COPY notes.txt /notes.txt
RUN mkdir -p /out/sub && cp /src/* /out/ && cp /src/main.py /out/sub/ && chmod 644 /out/*.py
FROM {base}
COPY --from=build /out /app
COPY --from=build /out/*.py /flat/
RUN ls -R /app > /listing
"""


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
@pytest.mark.parametrize("named", [True, False])
def test_a_copy_from_a_rebuilt_stage_is_predicted_by_the_files_it_takes(lab, tmp_path, builder, named):
    # the stage is rebuilt by a change its output does not show (its COPY --from hits), then by one it shows;
    # BuildKit builds a stage alone only by its name, so the lab names an unnamed one in a copy of the Dockerfile
    (tmp_path / "src").mkdir()
    mark = f"# {lab.workspace.name} {builder} {named}\n"  # files new to the engine's caches
    for name, text in (("src/main.py", "print(1)\n"), ("src/util.py", "A = 1\n"), ("notes.txt", "n\n")):
        (tmp_path / name).write_text(text + mark)
    text = REBUILT.format(base=lab.base_image, name=lab.workspace.name)
    (tmp_path / "Dockerfile").write_text(text if named else text.replace(" AS build", "").replace("=build", "=0"))
    lab.build("ctx-rebuilt", context=tmp_path, builder=builder)
    (tmp_path / "notes.txt").write_text("n2\n" + mark)
    same = lab.build("ctx-rebuilt", context=tmp_path, builder=builder, explain=True)
    (tmp_path / "src/util.py").write_text("A = 2\n" + mark)
    changed = lab.build("ctx-rebuilt", context=tmp_path, builder=builder, explain=True)
    assert same.cached == [True, True, True, False, False, True, True, True, True]
    assert changed.cached == [True, True, False, False, False, True, False, False, False]
    for report in (same, changed):
        assert [r.agrees for r in report.why.rows] == [True] * 9, report.why.frame.to_string()
    stage = "build" if named else "0"
    assert same.why.rows[6].why.startswith("cache hit") and "from the same files" in same.why.rows[6].why \
        if builder == "buildkit" else f"stage {stage} was rebuilt, yet the files" in same.why.rows[6].why
    assert changed.why.rows[6].why == f"the files this COPY takes from stage {stage} changed: out/util.py changed"


def test_a_context_left_with_one_file_is_still_copied_as_a_folder(lab, tmp_path):
    """.dockerignore drops the Dockerfile, itself and the notes: `COPY . /src/` copies the one file left, and the
    classic builder still names it `dir:` (the source is the context's root, a folder)."""
    (tmp_path / "Dockerfile").write_text(f"FROM {lab.base_image}\nCOPY . /src/\n")
    (tmp_path / ".dockerignore").write_text("Dockerfile\n.dockerignore\n*.md\n")
    (tmp_path / "app.py").write_text(f"# {lab.workspace.name}\n")
    (tmp_path / "notes.md").write_text("n\n")
    lab.build("one-lab", context=tmp_path, builder="classic")
    cli_classic_build(lab.image("one-cli"), tmp_path)
    ours, theirs = (lab.engine.history(lab.image(t))[0]["CreatedBy"] for t in ("one-lab", "one-cli"))
    assert ours == theirs == created_by("COPY . /src/", Received.of(tmp_path), {}, {}, lab.api)
    assert "COPY dir:" in ours and copied(lab, lab.image("one-lab"), -1) == {"/src/app.py"}
    (tmp_path / "notes.md").write_text("n2\n")
    again = lab.build("one-lab", context=tmp_path, builder="classic", explain=True)
    assert again.cached == [True, True] and again.why.all_agree


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_a_copy_from_an_image_is_predicted_once_the_lab_saw_it_copied(lab, tmp_path, builder):
    """BuildKit keys it by the image's id from the first build; the classic builder by the files it copies,
    which the lab knows once one of its builds copied from that very image."""
    (tmp_path / "Dockerfile").write_text(f"FROM {lab.base_image}\nRUN echo {lab.workspace.name}-{builder}\n"
                                         f"COPY --from={lab.base_image} /etc/debian_version /debian_version\n"
                                         "COPY app.py /app.py\n")
    (tmp_path / "app.py").write_text("a\n")
    first = lab.build("from-image", context=tmp_path, builder=builder, explain=True)
    (tmp_path / "app.py").write_text("a2\n")
    second = lab.build("from-image", context=tmp_path, builder=builder, explain=True)
    copy_from, copy_app = second.why.rows[2], second.why.rows[3]
    assert (copy_from.cached, copy_from.predicted, copy_from.agrees) == (True, True, True), second.why.frame
    assert (copy_app.cached, copy_app.predicted, copy_app.agrees) == (False, False, True), second.why.frame
    assert first.why.all_agree and first.cached == [True, False, False, False]  # a new RUN: all after it rebuilt


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_words_are_escaped_with_the_escape_directive_s_character(lab, tmp_path, builder):
    # under `# escape=`` a backquote escapes ($ stays a letter) and a backslash is an ordinary letter
    (tmp_path / "app.py").write_text(f"print('{lab.workspace.name}')\n")
    (tmp_path / "Dockerfile").write_text(f"# escape=`\nFROM {lab.base_image}\nENV X=a`$b P=C:\\app\n"
                                         f"WORKDIR /w`$x\nRUN echo {lab.workspace.name} \"$X $P\" `\n  > /x\n"
                                         "COPY app.py ./\n")
    lab.build("escaped", context=tmp_path, builder=builder)
    again = lab.build("escaped", context=tmp_path, builder=builder, explain=True)
    steps = 5 if builder == "classic" else 4  # BuildKit makes no step of ENV
    assert [r.agrees for r in again.why.rows if r.predicted is not None] == [True] * steps, again.why.frame.to_string()


ONBUILD_BASE = """\
FROM {base}
RUN echo {name} > /token
ONBUILD COPY app.py /onbuild.py
ONBUILD ENV WHERE=/onbuild.py
ONBUILD RUN cat $WHERE > /ran
"""
ONBUILD_CHILD = """\
FROM {onbuild} AS first
COPY extra.txt /extra.txt
ONBUILD RUN echo again > /again
FROM first
RUN cat /again /ran > /both
FROM first AS last
COPY --from=1 /both /both
"""


@pytest.mark.parametrize("builder", ["classic", "buildkit"])
def test_onbuild_triggers_are_predicted_as_steps_of_the_from_that_runs_them(lab, tmp_path, builder):
    """A base image's triggers, and those an earlier stage leaves, run first inside the FROM step, each keyed like a
    step of its own: a trigger's COPY source edited rebuilds that FROM, and the why names the trigger and the file.
    Two stages FROM the stage with a trigger run it twice in one build (the classic builder on the containerd store
    reuses the first from that very build; BuildKit runs it once)."""
    mark = f"# {lab.workspace.name} {builder}\n"  # files new to the engine's caches
    for name, text in (("app.py", "a\n"), ("extra.txt", "e\n")):
        (tmp_path / name).write_text(text + mark)
    (tmp_path / "Dockerfile.base").write_text(ONBUILD_BASE.format(base=lab.base_image, name=lab.workspace.name))
    onbuild = lab.build("ctx-onbuild-base", context=tmp_path, dockerfile="Dockerfile.base", builder=builder).tag
    (tmp_path / "Dockerfile").write_text(ONBUILD_CHILD.format(onbuild=onbuild))
    reports = [lab.build("ctx-onbuild", context=tmp_path, builder=builder, explain=True)]
    for edit in ("nothing", "extra.txt", "app.py", "app.py back"):
        if edit != "nothing":
            (tmp_path / edit.split()[0]).write_text(("e2\n" if edit == "extra.txt" else
                                                     "a2\n" if edit == "app.py" else "a\n") + mark)
        reports.append(lab.build("ctx-onbuild", context=tmp_path, builder=builder, explain=True))
    for report in reports:
        rows = report.why.rows
        assert all(r.agrees for r in rows if r.predicted is not None), report.why.frame.to_string()
        assert not [r for r in rows if r.predicted is None and "runs no step" not in r.why], \
            report.why.frame.to_string()
    cold, same, extra, app, back = reports
    assert [r.cached[0] for r in reports] == [False, True, True, False, True]  # the base's triggers run in step 1
    assert extra.cached[:2] == [True, False] and app.cached[1] is False
    assert app.rows[0].triggers == 3 and app.rows[3].triggers == app.rows[5].triggers == 1
    assert "its ONBUILD trigger `COPY app.py /onbuild.py` ran first: a COPY source changed" in app.why.rows[0].why
    assert "app.py" in app.why.rows[0].why.split("COPY source changed", 1)[1]
