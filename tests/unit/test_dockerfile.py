"""Docker's Dockerfile rules, read once for both builders: instructions, stages, bases, substitution."""
from __future__ import annotations

import pytest

from helpers import dockerfile as docker_file

MULTI = """\
ARG PY=3.11
ARG TAG=${PY}-slim
FROM python:${TAG} AS build
RUN pip wheel -w /w flask
FROM --platform=linux/amd64 build AS test
RUN true
FROM python:$TAG
COPY --from=build /w /w
"""


@pytest.mark.parametrize("word, env, expanded", [
    ("$A", {"A": "1"}, "1"),
    ("${A}x", {"A": "1"}, "1x"),
    ("${A:-d}", {}, "d"),
    ("${A:-d}", {"A": ""}, "d"),
    ("${A-d}", {"A": ""}, ""),
    ("${A:+yes}", {"A": "1"}, "yes"),
    ("${A:+yes}", {}, ""),
    ("${A+yes}", {"A": ""}, "yes"),
    ("\\$A", {"A": "1"}, "\\$A"),
    ("'$A'", {"A": "1"}, "'$A'"),
    ("$UNSET.", {}, "."),
    ("a$", {}, "a$"),
])
def test_substitution_follows_dockers_lexer(word, env, expanded):
    assert docker_file.expand(word, env) == expanded


def test_stages_names_bases_and_args_before_the_first_from():
    stages = docker_file.stages(MULTI)
    assert [(s.index, s.name, s.base, s.from_stage) for s in stages] == [
        (0, "build", "python:3.11-slim", False), (1, "test", "build", True), (2, "2", "python:3.11-slim", False)]
    assert [i.keyword for i in stages[2].instructions] == ["FROM", "COPY"]
    assert stages[2].instructions[1].flags == {"from": "build"} and stages[2].instructions[1].words == ["/w", "/w"]
    assert [i.text for i in docker_file.preamble(MULTI)] == ["ARG PY=3.11", "ARG TAG=${PY}-slim"]


def test_a_build_arg_overrides_the_default_a_from_sees():
    assert docker_file.base_image(MULTI) == "python:3.11-slim"
    assert docker_file.base_image(MULTI, {"PY": "3.12"}) == "python:3.12-slim"
    assert docker_file.base_image(MULTI, {"TAG": "3.13-alpine"}) == "python:3.13-alpine"


def test_declare_keeps_defaults_build_args_and_several_names_on_one_line():
    declared: dict = {}
    docker_file.declare("A=1 B", declared)
    docker_file.declare("C=${A}2", declared, {"B": "x"})
    assert declared == {"A": "1", "B": None, "C": "12"}


def test_keyword_rest_and_copy_arguments():
    assert docker_file.keyword("  copy app.py /app.py") == "COPY" and docker_file.rest("RUN\tls  -l") == "ls  -l"
    assert docker_file.copy_arguments("app.py /app.py") == ({}, ["app.py"], "/app.py")
    assert docker_file.copy_arguments("--chown=1 --link a b /d/") == ({"chown": "1", "link": ""}, ["a", "b"], "/d/")
    assert docker_file.copy_arguments('["my file", "/dst"]') == ({}, ["my file"], "/dst")


def test_heredocs_stay_with_the_instruction_that_opens_them():
    text = ("FROM base\nRUN <<EOF\necho one\n# not a comment here\n\nEOF\nCOPY <<-A <<\"B\" /dst/\n\tbody a\n\tA\n"
            "$B\nB\nCMD x\n")
    assert docker_file.instructions(text) == [
        "FROM base", "RUN <<EOF\necho one\n# not a comment here\n\nEOF", 'COPY <<-A <<"B" /dst/\n\tbody a\n\tA\n$B\nB',
        "CMD x"]
    assert docker_file.copy_arguments(docker_file.rest(docker_file.instructions(text)[2])) == \
        ({}, ["<<-A", '<<"B"'], "/dst/")
    assert docker_file.mounts("--mount=type=cache,target=/c --mount=source=a,target=/b cmd") == [
        {"type": "cache", "target": "/c"}, {"type": "bind", "source": "a", "target": "/b"}]


def test_an_escape_directive_sets_the_character_that_continues_a_line():
    # Docker 20.10 wrote `/bin/sh -c echo one     && echo two > /two` for the first RUN (both builders agreed)
    text = "# escape=`\nFROM b\nRUN echo one `\n    && echo two > /two\nCOPY a C:\\dir\\\nRUN a \\\n"
    assert docker_file.escape_of(text) == "`"
    assert docker_file.instructions(text) == ["FROM b", "RUN echo one     && echo two > /two", "COPY a C:\\dir\\",
                                              "RUN a \\"]


@pytest.mark.parametrize("top", ["FROM b\n# escape=`\n", "\n# escape=`\n", "# comment\n# escape=`\n",
                                 "# escape=x\n"])
def test_a_directive_counts_only_at_the_very_top_and_only_as_backslash_or_backtick(top):
    assert docker_file.escape_of(top + "RUN a\n") == "\\"


def test_directives_may_follow_each_other():
    assert docker_file.escape_of("# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM b\n") == "`"


def test_a_stage_is_named_on_its_from_line_and_nothing_else_changes():
    text = ("# syntax=docker/dockerfile:1\nARG BASE=base\nFROM $BASE\nRUN <<EOF\nFROM not-a-stage\nEOF\n"
            "FROM \\\r\n  other\r\nCOPY --from=0 /a /a\nFROM other AS last\n")
    named = docker_file.named(text, {0: "layer-lab-0", 1: "layer-lab-1"})
    assert named == text.replace("FROM $BASE\n", "FROM $BASE AS layer-lab-0\n").replace(
        "  other\r\n", "  other AS layer-lab-1\r\n")
    assert [s.name for s in docker_file.stages(named)] == ["layer-lab-0", "layer-lab-1", "last"]


def test_the_stages_the_last_one_needs_are_those_it_starts_from_copies_from_or_mounts_from_in_turn():
    text = ("FROM base AS deps\nRUN make\nFROM base AS tools\nFROM deps AS build\nRUN --mount=from=tools,target=/t x\n"
            "FROM base AS unused\nCOPY --from=deps / /\nFROM base\nCOPY --from=2 / /\nCOPY --from=build /out /out\n")
    assert docker_file.needed(docker_file.stages(text)) == {0, 1, 2, 4}
    assert docker_file.needed(docker_file.stages("FROM base\n")) == {0}


def test_a_stage_s_onbuild_lines_are_the_triggers_it_leaves():
    found = docker_file.stages("FROM base AS one\nONBUILD COPY app.py /app.py\nRUN true\nONBUILD  RUN echo hi\n"
                               "FROM one\n")
    assert found[0].triggers == ["COPY app.py /app.py", "RUN echo hi"] and found[1].triggers == []
