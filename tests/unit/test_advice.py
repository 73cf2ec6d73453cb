"""The line-order advisor on Dockerfiles of many kinds: what it moves, what it leaves and why."""
from __future__ import annotations

import pytest

from helpers import advice
from helpers import dockerfile as docker_file


def advised(text: str, sent: list[str], files: dict[str, str] | None = None) -> advice.Advice:
    return advice.advise(text, sent, lambda path: (files or {}).get(path, ""))


def instructions(text: str) -> list[str]:
    return [i.text for i in docker_file.parse(text)]


PY = ["Dockerfile", "app", "app/main.py", "requirements.txt"]


def test_the_folder_copy_goes_after_the_install_and_the_list_comes_alone_before_it():
    got = advised("FROM python\nWORKDIR /src\nCOPY . .\nRUN pip install -r requirements.txt\nCMD [\"x\"]\n", PY,
                  {"requirements.txt": "flask\n"})
    assert instructions(got.advised) == ["FROM python", "WORKDIR /src", "COPY requirements.txt ./",
                                         "RUN pip install -r requirements.txt", "COPY . .", 'CMD ["x"]']
    assert got.moved and [r.change.split(";")[0] for r in got.rows] == ["copied requirements.txt alone first"]
    assert advice.LEAD in got.advised.splitlines() and got.advised.endswith("\n")
    assert "+COPY requirements.txt ./" in got.diff()


def test_a_dockerfile_already_in_order_is_left_as_it_is():
    text = "FROM python\nCOPY requirements.txt .\nRUN pip install -r requirements.txt\nCOPY . .\n"
    got = advised(text, PY)
    assert not got.moved and got.advised == text and not got.rows
    assert "no change proposed" in got.title


@pytest.mark.parametrize("run", ["pip install .", "pip install -e .", "python setup.py install",
                                 "pip install -r requirements.txt && python -m build",
                                 "pip install --find-links ./wheels -r requirements.txt", "poetry install",
                                 "npm install ./local-pkg"])
def test_an_install_that_may_read_the_code_is_not_moved(run):
    text = f"FROM python\nCOPY . .\nRUN {run}\n"
    got = advised(text, [*PY, "package.json", "pyproject.toml", "poetry.lock"])
    assert got.advised == text


def test_a_requirements_file_that_installs_local_code_is_named_as_the_reason():
    text = "FROM python\nCOPY . .\nRUN pip install -r requirements.txt\n"
    got = advised(text, PY, {"requirements.txt": "flask\n-e .\n"})
    assert got.advised == text and "requirements.txt installs local code (-e .)" in got.rows[0].why


def test_a_list_that_reads_another_brings_it_along():
    sent = [*PY, "requirements", "requirements/base.txt"]
    got = advised("FROM python\nCOPY . .\nRUN pip install -r requirements.txt\n", sent,
                  {"requirements.txt": "-r requirements/base.txt\nflask\n", "requirements/base.txt": "six\n"})
    assert instructions(got.advised)[1:] == ["COPY requirements.txt ./", "COPY requirements/base.txt ./requirements/",
                                             "RUN pip install -r requirements.txt", "COPY . ."]
    missing = advised("FROM python\nCOPY . .\nRUN pip install -r requirements.txt\n", PY,
                      {"requirements.txt": "--requirement=base.txt\n"})
    assert not missing.moved and "reads base.txt, which the context does not hold" in missing.rows[0].why


def test_a_step_between_the_copy_and_the_install_keeps_them_where_they_are():
    text = "FROM python\nCOPY . .\nRUN make assets\nENV A=1\nRUN pip install -r requirements.txt\n"
    got = advised(text, PY)
    assert got.advised == text and got.rows[0].change == "left in place"
    assert got.rows[0].why.startswith("RUN make assets comes before the install")


def test_metadata_between_them_does_not_stop_the_move():
    got = advised("FROM python\nCOPY . .\nENV PIP_NO_CACHE_DIR=1\nRUN pip install -r requirements.txt\n", PY)
    assert instructions(got.advised) == ["FROM python", "COPY requirements.txt ./", "ENV PIP_NO_CACHE_DIR=1",
                                         "RUN pip install -r requirements.txt", "COPY . ."]


@pytest.mark.parametrize("sent, lists", [(["package.json", "package-lock.json", "src", "src/a.js"],
                                          "package.json package-lock.json"),
                                         (["package.json", "src", "src/a.js"], "package.json")])
def test_npm_lists_come_first_with_their_lock_file_when_there_is_one(sent, lists):
    got = advised("FROM node\nWORKDIR /app\nCOPY . .\nRUN npm ci\nRUN npm run build\n", ["Dockerfile", *sent])
    assert instructions(got.advised) == ["FROM node", "WORKDIR /app", f"COPY {lists} ./", "RUN npm ci", "COPY . .",
                                         "RUN npm run build"]


def test_go_modules_are_downloaded_before_the_code_is_copied():
    got = advised("FROM golang\nWORKDIR /src\nCOPY . .\nRUN go mod download\nRUN go build -o /app .\n",
                  ["Dockerfile", "go.mod", "go.sum", "main.go"])
    assert instructions(got.advised)[2:5] == ["COPY go.mod go.sum ./", "RUN go mod download", "COPY . ."]


def test_a_subfolder_copied_elsewhere_gives_the_list_its_path_in_the_context():
    sent = ["Dockerfile", "service", "service/requirements.txt", "service/app.py"]
    got = advised("FROM python\nCOPY service/ /srv/\nRUN pip install -r /srv/requirements.txt\n", sent)
    assert instructions(got.advised)[1:] == ["COPY service/requirements.txt /srv/",
                                             "RUN pip install -r /srv/requirements.txt", "COPY service/ /srv/"]


def test_cd_in_the_run_and_flags_of_the_copy_are_followed():
    got = advised("FROM python\nCOPY --chown=app:app . /src\n"
                  "RUN apt-get update && cd /src && pip install --no-cache-dir -r requirements.txt "
                  "&& rm -rf /var/lib/apt/lists/*\n", PY)
    assert instructions(got.advised)[1] == "COPY --chown=app:app requirements.txt /src/"


def test_two_installs_in_one_stage_each_get_their_lists_first():
    sent = ["Dockerfile", "requirements.txt", "package.json", "app.py", "web.js"]
    got = advised("FROM x\nWORKDIR /w\nCOPY . .\nRUN pip install -r requirements.txt\nRUN npm ci\nCMD [\"x\"]\n", sent)
    assert instructions(got.advised) == ["FROM x", "WORKDIR /w", "COPY requirements.txt ./",
                                         "RUN pip install -r requirements.txt", "COPY package.json ./", "RUN npm ci",
                                         "COPY . .", 'CMD ["x"]']
    assert len(got.rows) == 2


def test_each_stage_is_advised_on_its_own():
    text = ("ARG BASE=python\nFROM ${BASE} AS build\nWORKDIR /src\nCOPY . .\nRUN pip wheel -w /w -r requirements.txt\n"
            "FROM ${BASE}\nCOPY . /app\nRUN pip install -r /app/requirements.txt\nCOPY --from=build /w /w\n")
    got = advised(text, PY)
    assert [r.stage for r in got.rows] == ["stage build", "stage 2"]
    assert instructions(got.advised) == ["ARG BASE=python", "FROM ${BASE} AS build", "WORKDIR /src",
                                         "COPY requirements.txt ./", "RUN pip wheel -w /w -r requirements.txt",
                                         "COPY . .", "FROM ${BASE}", "COPY requirements.txt /app/",
                                         "RUN pip install -r /app/requirements.txt", "COPY . /app",
                                         "COPY --from=build /w /w"]


def test_comments_continuations_and_heredocs_travel_with_their_instruction():
    text = ("# syntax=docker/dockerfile:1\nFROM python\nRUN <<EOF\necho one\necho two\nEOF\n# the whole project\n"
            "COPY . \\\n  /src\nRUN cd /src && pip install \\\n    -r requirements.txt\n# end\n")
    got = advised(text, PY)
    lines = got.advised.splitlines()
    assert lines[:2] == ["# syntax=docker/dockerfile:1", "FROM python"]
    assert lines[-4:] == ["# the whole project", "COPY . \\", "  /src", "# end"]
    assert "FROM python\nRUN <<EOF\necho one\necho two\nEOF\n" in got.advised
    assert got.rows[0].instruction == "COPY . /src"  # white space of the joined lines as one space


def test_two_heredocs_on_one_line_and_a_tab_stripped_one_are_one_block_each():
    text = ("FROM python\nCOPY <<A /a <<B /b\nFROM python\nA\nB\nRUN <<-EOT\n\techo # not a comment\n\tEOT\n"
            "CMD [\"x\"]\n")
    assert ["\n".join(b.lines) for b in advice.blocks(text)] == [
        "FROM python", "COPY <<A /a <<B /b\nFROM python\nA\nB", "RUN <<-EOT\n\techo # not a comment\n\tEOT",
        'CMD ["x"]']


def test_a_heredoc_between_the_copy_and_the_install_may_read_the_files():
    text = "FROM python\nCOPY . /src\nRUN <<EOF\necho one\nEOF\nRUN pip install -r /src/requirements.txt\n"
    got = advised(text, PY)
    assert got.advised == text and got.rows[0].why.startswith("RUN <<EOF comes before")


def test_a_heredoc_run_that_runs_commands_is_not_mistaken_for_an_install():
    text = "FROM python\nCOPY . .\nRUN <<EOF\npip install -r requirements.txt\npython build.py\nEOF\n"
    assert advised(text, PY).advised == text


def test_the_json_form_and_a_list_missing_from_the_context():
    got = advised('FROM python\nCOPY [".", "/app"]\nRUN ["pip", "install", "-r", "/app/requirements.txt"]\n', PY)
    assert instructions(got.advised)[1:] == ["COPY requirements.txt /app/", 'RUN ["pip", "install", "-r", '
                                             '"/app/requirements.txt"]', 'COPY [".", "/app"]']
    ignored = "FROM python\nCOPY . .\nRUN pip install -r requirements.txt\n"
    assert advised(ignored, ["Dockerfile", "app.py"]).advised == ignored  # .dockerignore kept it out: nothing to copy


def test_add_is_named_but_not_moved():
    text = "FROM python\nADD . /app\nRUN pip install -r /app/requirements.txt\n"
    got = advised(text, PY)
    assert got.advised == text and got.rows[0].why.startswith("ADD may fetch")


@pytest.mark.parametrize("run, expected", [
    ("pip install -r a.txt -c b.txt", (["a.txt", "b.txt"], "pip install")),
    ("python -m pip install --requirement=a.txt flask", (["a.txt"], "pip install")),
    ("/venv/bin/pip install -ra.txt", (["a.txt"], "pip install")),
    ("cd sub && pip install -r ../a.txt", (["a.txt"], "pip install")),
    ("pip install flask", None), ("apt-get update", None), ("make", None),
    ("poetry install --no-root", (["pyproject.toml", "poetry.lock"], "poetry install --no-root")),
    ("yarn", (["package.json", "yarn.lock"], "yarn")), ("npm install express", None),
    ("go mod download", (["go.mod", "go.sum"], "go mod download")),
])
def test_what_an_install_reads(run, expected):
    assert advice.reads(run) == expected


def test_a_heredoc_on_a_line_continued_with_the_escape_directive_s_character_is_one_block():
    text = "# escape=`\nFROM python\nRUN cat `\n  <<EOF > /x\nbody \\\nEOF\nCMD [\"x\"]\n"
    assert ["\n".join(b.lines) for b in advice.blocks(text)][-2:] == ["RUN cat `\n  <<EOF > /x\nbody \\\nEOF",
                                                                      'CMD ["x"]']
