"""Inputs a learner writes: the app message, file names, image tags, and the lab's settings."""
from __future__ import annotations

import ast

import pytest

from helpers import settings
from helpers.errors import BadInput
from helpers.lab import Lab
from helpers.workspace import Workspace, lab_dockerfile


@pytest.fixture
def workspace(tmp_path):
    return Workspace(root=tmp_path)


def returned_message(app_source: str) -> str:
    tree = ast.parse(app_source)
    hello = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "hello")
    return ast.literal_eval(hello.body[0].value)


@pytest.mark.parametrize("message", ["hello world!", 'say "hi"', "it's {braces} \\ backslash", "héllo wörld"])
def test_app_returns_the_message_exactly_even_with_quotes(workspace, message):
    assert returned_message(workspace.write_app(message).read_text()) == message


@pytest.mark.parametrize("message", ["", "two\nlines", "x" * 201])
def test_bad_messages_are_refused(workspace, message):
    with pytest.raises(BadInput, match="What to do"):
        workspace.write_app(message)


@pytest.mark.parametrize("name", ["../escape.py", "a b.py", "/etc/passwd", ""])
def test_file_names_stay_inside_the_workspace(workspace, name):
    with pytest.raises(BadInput):
        workspace.write(name, "x")


def test_workspaces_get_unique_names(tmp_path):
    assert Workspace(root=tmp_path).name != Workspace(root=tmp_path).name


def test_dockerfile_is_the_workshops_four_lines_with_copy_last():
    assert lab_dockerfile("python:3.11-slim").splitlines() == [
        "FROM python:3.11-slim", "RUN pip install flask", 'CMD ["python","app.py"]', "COPY app.py /app.py"]


@pytest.mark.parametrize("tag", ["v 1", "v1;rm -rf /", "", "-v1", "x" * 129])
def test_bad_tags_are_refused_before_any_engine_call(tag, workspace):
    lab = Lab(engine=None, config=settings.Settings("localhost:5000", "base", "test"), workspace=workspace)
    with pytest.raises(BadInput, match="not a valid image tag"):
        lab.image(tag)


def test_image_names_carry_the_workspace_like_a_docker_id(workspace):
    lab = Lab(engine=None, config=settings.Settings("localhost:5000", "base", "test"), workspace=workspace)
    assert lab.image("v1") == f"{workspace.name}/python-hello-world:v1"
    with pytest.raises(BadInput, match="not a valid image name"):
        lab.image("v1", name="Python Hello")


def test_environment_wins_over_the_state_file(monkeypatch, tmp_path):
    state = tmp_path / "lab.json"
    state.write_text('{"registry": "localhost:5050", "base_image": "local/base:1", "base_reason": "built"}')
    monkeypatch.setattr(settings, "STATE_FILE", state)
    assert settings.load() == settings.Settings("localhost:5050", "local/base:1", "built")
    monkeypatch.setenv("LAYER_LAB_BASE", "python:3.12-slim")
    monkeypatch.setenv("LAYER_LAB_REGISTRY", "registry.example:443")
    assert settings.load() == settings.Settings("registry.example:443", "python:3.12-slim", "LAYER_LAB_BASE names it")


@pytest.mark.parametrize("registry, url, path", [
    ("localhost:5000", "http://localhost:5000", "lab-1/python-hello-world"),
    ("127.0.0.1:5050", "http://127.0.0.1:5050", "lab-1/python-hello-world"),
    ("docker.io/alice", "https://registry-1.docker.io", "alice/python-hello-world"),
    ("registry.example:443/team", "https://registry.example:443", "team/python-hello-world"),
])
def test_registry_address_gives_api_url_and_repository_path(registry, url, path, workspace):
    from helpers.engine import Engine
    engine = Engine.__new__(Engine)
    engine.registry = registry
    lab = Lab(engine=engine, config=settings.Settings(registry, "base", "test"), workspace=workspace)
    assert engine.registry_url == url
    assert lab.registry_path("lab-1/python-hello-world") == path


def test_misspelt_mode_is_named(monkeypatch):
    import helpers
    monkeypatch.setenv("LAYER_LAB_MODE", "replya")
    with pytest.raises(BadInput, match="is not a mode"):
        helpers.connect("01-build-run-push")


def test_misspelt_builder_is_named(workspace):
    with pytest.raises(BadInput, match="is not a builder"):
        Lab(engine=None, config=settings.Settings("localhost:5000", "base", "test"), workspace=workspace,
            builder="kaniko")


@pytest.mark.parametrize("asked, answers, notebook, recorded, chosen", [
    ("auto", True, "01", True, "live"),
    ("auto", False, "01", True, "replay"),
    ("live", True, None, False, "live"),
    ("record", True, "01", False, "record"),
    ("replay", False, "01", True, "replay"),
    ("replay", True, "01", True, "replay"),
])
def test_mode_is_chosen_from_what_connect_found(asked, answers, notebook, recorded, chosen):
    from helpers.lab import choose_mode
    assert choose_mode(asked, answers, notebook, recorded) == chosen


@pytest.mark.parametrize("asked, answers, notebook, recorded, error, words", [
    ("auto", False, "01", False, "EngineUnavailable", "No Docker engine answers"),
    ("auto", False, None, True, "EngineUnavailable", "No Docker engine answers"),
    ("live", False, "01", True, "EngineUnavailable", "No Docker engine answers"),
    ("record", True, None, False, "BadInput", "Recording needs the notebook"),
    ("replay", False, None, False, "BadInput", "Replay needs the notebook"),
])
def test_mode_choice_names_what_is_missing(asked, answers, notebook, recorded, error, words):
    from helpers import errors
    from helpers.lab import choose_mode
    with pytest.raises(getattr(errors, error), match=words):
        choose_mode(asked, answers, notebook, recorded)


def test_a_lab_error_shows_as_an_error_output_with_its_message_only():
    from helpers.notebook import _show_lab_error
    shown = []

    class Shell:
        def _showtraceback(self, etype, value, stb):
            shown.append((etype.__name__, stb))

    error = BadInput("'v 1' is not a valid image tag.", "Use letters, digits, '_', '.' or '-', e.g. 'v2'.")
    _show_lab_error(Shell(), BadInput, error, None)
    assert shown == [("BadInput", [f"BadInput: {error}"])] and "Traceback" not in shown[0][1][0]
