"""Faults a learner can cause end in one short message; cleanup spares what the lab did not make."""
from __future__ import annotations

import docker
import pytest
import requests

import helpers
from helpers import store
from helpers.engine import Engine
from helpers.lab import Lab
from helpers.settings import Settings
from helpers.workspace import Workspace
from tests.throwaway import free_port

pytestmark = pytest.mark.live
builders = pytest.mark.parametrize("builder", ["classic", "buildkit"])


def short(err: Exception) -> str:
    text = str(err)
    assert "What to do:" in text and len(text.splitlines()) <= 12 and "Traceback" not in text
    return text


def test_no_engine_names_the_fix(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(helpers.EngineUnavailable) as err:
        Engine("localhost:5000")
    assert "make up" in short(err.value) and err.value.__cause__ is not None


@builders
def test_failing_run_step_names_step_command_and_output(lab, builder):
    lab.write_dockerfile(f"FROM {lab.base_image}\nRUN echo installing && pip install no-such-package-xyz-123\n",
                         filename="Dockerfile.fails")
    with pytest.raises(helpers.BuildFailed) as err:
        lab.build("fails", dockerfile="Dockerfile.fails", builder=builder)
    assert err.value.step == 2 and "no-such-package-xyz-123" in err.value.instruction
    assert "installing" in err.value.log_tail or any("no-such-package" in x for x in err.value.log_tail)
    short(err.value)


def test_the_steps_a_failed_classic_build_made_are_cleaned_up(lab):
    lab.write_dockerfile(f"FROM {lab.base_image}\nRUN echo {lab.workspace.name} > /kept\nRUN false\n",
                         filename="Dockerfile.half")
    with pytest.raises(helpers.BuildFailed) as err:
        lab.build("half", dockerfile="Dockerfile.half", builder="classic")
    assert len(err.value.made) == 1 and lab.engine.has_image(err.value.made[0])
    lab.cleanup()
    assert not lab.engine.has_image(err.value.made[0])  # the first RUN's image, untagged, is gone too


@builders
def test_a_failing_onbuild_trigger_fails_its_from_step_and_what_the_triggers_made_is_cleaned_up(lab, builder, tmp_path):
    """The classic builder prints no id for the images a FROM's triggers make: the first trigger's stays below
    the base when the second fails, unless cleanup finds it."""
    (tmp_path / "app.py").write_text(f"# {lab.workspace.name}\n")
    (tmp_path / "Dockerfile.base").write_text(f"FROM {lab.base_image}\nRUN echo {lab.workspace.name} > /token\n"
                                              "ONBUILD COPY app.py /app.py\nONBUILD RUN echo failing && exit 3\n")
    images = {i["Id"] for i in lab.engine.images()}
    base = lab.build("onbuild-fails", context=tmp_path, dockerfile="Dockerfile.base", builder=builder).tag
    (tmp_path / "Dockerfile").write_text(f"FROM {base}\nRUN true\n")
    with pytest.raises(helpers.BuildFailed) as err:
        lab.build("onbuild-child", context=tmp_path, builder=builder)
    assert err.value.step == 1 and "exit code: 3" in short(err.value).replace("non-zero code: 3", "exit code: 3")
    lab.cleanup()
    assert {i["Id"] for i in lab.engine.images()} <= images


@builders
def test_dockerfile_that_does_not_parse(lab, builder):
    lab.write_dockerfile(f"FROM {lab.base_image}\nRUNN pip install flask\n", filename="Dockerfile.typo")
    with pytest.raises(helpers.BadDockerfile, match="unknown instruction: RUNN") as err:
        lab.build("typo", dockerfile="Dockerfile.typo", builder=builder)
    short(err.value)


@builders
def test_a_heredoc_builds_with_buildkit_on_docker_23_and_is_refused_otherwise(lab, builder):
    lab.write_dockerfile(f"FROM {lab.base_image}\nRUN <<EOT\necho one > /one\necho two > /two\nEOT\n",
                         filename="Dockerfile.heredoc")
    if builder == "buildkit" and lab.api >= (1, 42):
        report = lab.build("heredoc", dockerfile="Dockerfile.heredoc", builder=builder)
        assert {"/one", "/two"} <= set(lab.files(report.tag).rows[-1].entries)
        return
    said = "classic builder does not run" if builder == "classic" else "unknown instruction: (?i:echo).*opens a heredoc"
    with pytest.raises(helpers.BadDockerfile, match=said) as err:
        lab.build("heredoc", dockerfile="Dockerfile.heredoc", builder=builder)
    assert "Docker 23" in short(err.value)


@builders
def test_missing_base_image(lab, builder):
    lab.write_dockerfile("FROM layer-lab/no-such-base:0\nRUN true\n", filename="Dockerfile.nobase")
    with pytest.raises(helpers.ImageMissing, match="no-such-base") as err:
        lab.build("nobase", dockerfile="Dockerfile.nobase", builder=builder)
    short(err.value)


def test_app_that_exits_at_start_shows_its_logs(lab):
    lab.write_dockerfile(app="crash.py", filename="Dockerfile.crash")
    lab.workspace.write("crash.py", "print('starting')\nraise SystemExit('boom: cannot start')\n")
    lab.build("crash", dockerfile="Dockerfile.crash")
    with pytest.raises(helpers.ContainerFailed) as err:
        lab.run(lab.image("crash"))
    assert "boom: cannot start" in err.value.logs
    short(err.value)


def test_registry_down(lab, engine):
    down = Lab(engine, Settings(f"localhost:{free_port()}", lab.base_image, "tests"), lab.workspace)
    lab.write_dockerfile()
    lab.write_app()
    lab.build("v1")
    with pytest.raises(helpers.RegistryUnavailable, match="does not answer") as err:
        down.push(lab.image("v1"))
    short(err.value)


def test_busy_port_is_replaced_and_said(lab):
    lab.write_dockerfile()
    lab.write_app()
    lab.build("v1")
    first = lab.run(lab.image("v1"))
    second = lab.run(lab.image("v1"), port=first.host_port)
    try:
        assert second.host_port != first.host_port and "was busy" in second.note
        assert lab.get(second) == "hello world!"
    finally:
        lab.stop(first)
        lab.stop(second)


def test_cleanup_removes_only_what_the_lab_made(engine, tmp_path):
    client = docker.from_env()
    lab = Lab(engine, Settings(engine.registry, helpers.settings.load().base_image, "tests"), Workspace())
    (tmp_path / "Dockerfile").write_text(f"FROM {lab.base_image}\nRUN echo {lab.workspace.name} > /mine\n")
    own_image, _ = client.images.build(path=str(tmp_path), tag=f"learner-own-{lab.workspace.name}:1", rm=True)
    own_container = client.containers.create(own_image.id, command=["sleep", "60"])
    lab.write_dockerfile()
    lab.write_app(f"hello from {lab.workspace.name}!")  # no other lab's build can serve it (the containerd store's
    lab.build("v1")                                      # classic builder uses the engine's whole cache)
    app = lab.run(lab.image("v1"))
    kept_tag = f"learner-copy-{lab.workspace.name}:v1"
    client.images.get(lab.image("v1")).tag(kept_tag)
    lab.write_app("hello again!")
    lab.build("v2")
    on_lab_image = client.containers.create(lab.image("v2"), command=["true"], name=f"learner-{lab.workspace.name}")
    try:
        cleaned = lab.cleanup()
        assert cleaned.containers == 1 and cleaned.tags >= 1
        assert cleaned.kept == [f"{lab.image('v2')} (used by learner-{lab.workspace.name})"]
        assert not client.containers.list(all=True, filters={"id": app.id})
        assert client.images.get(own_image.id).tags == [f"learner-own-{lab.workspace.name}:1"]
        assert client.containers.get(own_container.id).status == "created"
        assert client.containers.get(on_lab_image.id).status == "created"
        assert client.images.get(kept_tag).tags == [kept_tag]
        assert not client.images.list(name=lab.image("v1"))
    finally:
        own_container.remove(force=True)
        on_lab_image.remove(force=True)
        client.images.remove(kept_tag)
        client.images.remove(own_image.id)
    assert lab.cleanup().kept == [] and not client.images.list(name=lab.image("v2"))


@builders
def test_after_cleanup_the_next_labs_first_push_mounts_the_base_and_uploads_its_own_layers(engine, builder):
    """Cleanup unlinks a lab's own layers from its repositories but leaves the base image's linked, so another
    lab's first push links the base in (no upload of its 190 MB) and uploads only what it built. The containerd
    store's push mounts nothing here (measured: it compresses the base again and uploads it), so there only what
    cleanup left linked is checked."""
    settings = Settings(engine.registry, helpers.settings.load().base_image, "tests")
    first, second = (Lab(engine, settings, Workspace(), builder=builder) for _ in range(2))
    try:
        for lab in (first, second):
            lab.write_dockerfile()
            lab.write_app("the same app in both labs")
        mine = first.push(first.build("v1").tag)
        repository = first.pushed[0][0]
        first.cleanup()
        linked = [requests.head(f"{engine.registry_url}/v2/{repository}/blobs/{r.digest}", timeout=10).status_code
                  for r in mine.layers]
        assert linked == [200, 404, 404], "cleanup should leave only the base's layer linked"
        theirs = second.push(second.build("v1").tag)
        assert [r.outcome for r in theirs.layers[1:]] == ["pushed", "pushed"]
        if store.kind(engine.info()) != store.CONTAINERD:
            assert theirs.layers[0].outcome == "mounted" and theirs.layers[0].digest == mine.layers[0].digest
            assert theirs.uploaded_bytes < theirs.layers[0].size / 10
    finally:
        first.cleanup()
        second.cleanup()


@pytest.mark.parametrize("version, says", [("9.99", "too new"), ("1.12", "below 1.24")])
def test_engine_refusing_the_api_version_names_the_fix(monkeypatch, version, says):
    monkeypatch.setenv("DOCKER_API_VERSION", version)
    with pytest.raises(helpers.EngineUnavailable, match=says) as err:
        Engine("localhost:5000")
    assert "DOCKER_API_VERSION" in short(err.value)


def test_app_that_never_answers_is_given_up_on_in_bounded_time(lab):
    lab.write_dockerfile(app="silent.py", filename="Dockerfile.silent")
    lab.workspace.write("silent.py", "import time\ntime.sleep(600)\n")
    lab.build("silent", dockerfile="Dockerfile.silent")
    with pytest.raises(helpers.ContainerFailed, match="did not answer .* within 3 s") as err:
        lab.run(lab.image("silent"), wait=3)
    short(err.value)


def test_lab_containers_are_not_privileged_and_mount_nothing(lab):
    lab.write_dockerfile()
    lab.write_app()
    lab.build("v1")
    app = lab.run(lab.image("v1"))
    try:
        info = lab.engine.client.api.inspect_container(app.id)
        assert info["HostConfig"]["Privileged"] is False
        assert not info["Mounts"] and not info["HostConfig"]["Binds"]
        assert all(b["HostIp"] == "127.0.0.1" for b in info["HostConfig"]["PortBindings"]["5000/tcp"])
    finally:
        lab.stop(app)
