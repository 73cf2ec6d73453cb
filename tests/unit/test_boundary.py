"""One boundary talks to Docker: pure modules import none of its libraries, helpers has no import
cycle, and the engine, the recording and the replay answer the same calls."""
from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

from helpers import errors
from helpers.boundary import CALLS, STREAMS, UNRECORDED, EngineLike
from helpers.engine import Engine
from helpers.recording import RecordingEngine, ReplayEngine, _key, read

HELPERS = Path(__file__).resolve().parents[2] / "helpers"
BOUNDARY = {"engine", "cli", "export", "layer_folders", "recording"}
"""The engine/registry client, the docker CLI runner, the image export and layer folder readers, and recording."""
COMPOSITION = {"lab", "__init__"}
"""Where the live and replay engines are put together with the rest (and nothing else)."""
OUTSIDE = {"docker", "requests", "urllib3", "subprocess", "socket"}


def imports(module: str) -> tuple[set[str], set[str]]:
    """(helpers modules, top-level outside modules) that ``module`` imports anywhere, lazily too."""
    tree = ast.parse((HELPERS / f"{module}.py").read_text())
    inner, outer = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            outer |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                inner |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
            else:
                outer.add(node.module.split(".")[0])
    return inner, outer


MODULES = sorted(p.stem for p in HELPERS.glob("*.py"))


@pytest.mark.parametrize("module", sorted(set(MODULES) - BOUNDARY), ids=str)
def test_pure_modules_import_neither_dockers_libraries_nor_the_boundary(module):
    inner, outer = imports(module)
    assert not outer & OUTSIDE, f"{module} imports {outer & OUTSIDE}: only {sorted(BOUNDARY)} may"
    if module not in COMPOSITION:
        assert not inner & BOUNDARY, f"{module} imports {inner & BOUNDARY}; take an EngineLike instead"


def test_no_import_cycle_among_helpers_modules():
    graph = {m: imports(m)[0] - {"__init__"} for m in MODULES if m != "__init__"}

    def visit(module, path):
        assert module not in path, "import cycle: " + " -> ".join(path[path.index(module):] + [module])
        for other in sorted(graph.get(module, ())):
            visit(other, path + [module])

    for module in graph:
        visit(module, [])


def test_no_bare_lab_error_is_raised():
    for module in MODULES:
        tree = ast.parse((HELPERS / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
                assert name != "LabError", f"{module}.py:{node.lineno} raises a bare LabError; use a subclass"


def protocol_methods() -> dict[str, inspect.Signature]:
    return {name: inspect.signature(getattr(EngineLike, name)) for name in CALLS | STREAMS}


@pytest.mark.parametrize("cls", [Engine, RecordingEngine, ReplayEngine], ids=lambda c: c.__name__)
def test_engine_recording_and_replay_have_every_call_with_its_signature(cls):
    for name, signature in protocol_methods().items():
        assert inspect.signature(getattr(cls, name)) == signature, f"{cls.__name__}.{name}"


def test_every_public_engine_method_is_in_the_protocol():
    public = {n for n, v in vars(Engine).items() if callable(v) and not n.startswith("_")}
    assert public == CALLS | STREAMS, "add the new call to helpers.boundary.EngineLike"


def test_call_keys_name_every_argument_however_it_was_passed():
    assert _key("http_get", ("http://x/",), {}) == _key("http_get", (), {"url": "http://x/", "timeout": 2.0})
    assert _key("build", ("/here", "t:1"), {}) == _key("build", ("/there",), {"tag": "t:1", "dockerfile": "Dockerfile"})
    assert _key("build", ("/here", "t:1"), {}) != _key("build", ("/here", "t:2"), {})


def example(annotation: str):
    """A value of the annotated type, for calling every method with something."""
    for text, value in (("dict", {"k": "v"}), ("list", ["x"]), ("bool", True), ("int", 7), ("float", 0.5),
                        ("str", "x:1")):
        if annotation.startswith(text):
            return value
    raise AssertionError(f"no example for {annotation}")


class Answering:
    """An engine whose every call answers with its own name (streams: two events), and raises when told."""

    registry = "localhost:5000"

    def __init__(self, failing: errors.LabError | None = None):
        self.failing = failing

    def __getattr__(self, name):
        def answer(*args, **kwargs):
            if self.failing:
                raise self.failing
            if name in STREAMS:
                return iter([(0.0, {"stream": name}), (0.1, {"stream": "done"})])
            if name == "layer_files":
                return {"image": args[0], "layers": [{"diff_id": "sha256:a", "entries": [["/a", 1, "file"]]}]}
            return {"answer": name, "args": [str(a) for a in args]}
        return answer


def call(engine, name: str):
    params = [p for p in inspect.signature(getattr(EngineLike, name)).parameters.values()
              if p.name != "self" and p.default is inspect.Parameter.empty]
    args = [example(p.annotation) for p in params]
    result = getattr(engine, name)(*args)
    return list(result) if name in STREAMS else result


@pytest.mark.parametrize("name", sorted((CALLS | STREAMS) - UNRECORDED))
def test_every_engine_call_is_recorded_and_replayed(tmp_path, name):
    path = tmp_path / "r.jsonl"
    live = call(RecordingEngine(Answering(), path, {"registry": "localhost:5000"}), name)
    replayed = call(ReplayEngine(read(path), "test"), name)
    assert json.loads(json.dumps(replayed)) == json.loads(json.dumps(live)) and live


FAILURES = [
    errors.BuildFailed(3, "RUN false", "exit code 1", ["line 1", "line 2"]),
    errors.ContainerFailed("The app exited with code 1.", "Traceback\nNameError: x"),
    errors.ImageMissing("no x:v1"),
    errors.BadDockerfile("The Dockerfile does not parse: line 2.", "Fix line 2."),
    errors.NotAnswering("Nothing answers at http://127.0.0.1:5001/."),
]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda e: type(e).__name__)
def test_replayed_errors_carry_the_same_attributes_as_live_ones(tmp_path, failure):
    path = tmp_path / "r.jsonl"
    with pytest.raises(type(failure)):
        RecordingEngine(Answering(failure), path, {"registry": "localhost:5000"}).inspect_image("x:v1")
    with pytest.raises(type(failure)) as replayed:
        ReplayEngine(read(path), "test").inspect_image("x:v1")
    assert str(replayed.value) == str(failure) and vars(replayed.value) == vars(failure)


def test_a_replay_refuses_a_login_and_a_recording_does_not_store_one(tmp_path):
    path = tmp_path / "r.jsonl"
    RecordingEngine(Answering(), path, {"registry": "localhost:5000"}).login("me", "secret")
    assert "secret" not in path.read_text()
    with pytest.raises(errors.BadInput, match="replay has no registry"):
        ReplayEngine(read(path), "test").login("me", "secret")


@pytest.mark.parametrize("text, kind", [
    ("dockerfile parse error line 2: unknown instruction: RUNN", "dockerfile"),
    ("Get http://localhost:1/v2/: dial tcp: connect: connection refused", "unreachable"),
    ("unauthorized: authentication required", "credentials"),
    ("denied: requested access to the resource is denied", "denied"),
    ('unable to find image "sha256:5ba145074dd0"', "vanished"),
    ("something else", None),
])
def test_one_classifier_reads_the_engines_error_text(text, kind):
    assert errors.classify(text) == kind
