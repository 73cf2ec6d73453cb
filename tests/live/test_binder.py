"""Binder, simulated: the root Dockerfile builds from the local base, and its image, run as uid 1000
with no Docker socket, replays every notebook under nbval and serves JupyterLab with Binder's arguments."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "binder-simulation"


@pytest.fixture(scope="module")
def image(lab):
    tag = f"{lab.workspace.name}/binder:test"
    client = lab.engine.client
    client.images.build(path=str(ROOT), tag=tag, rm=True, forcerm=True,
                        buildargs={"BASE_IMAGE": lab.base_image})
    return tag


def run(lab, image, command, **kw):
    # a container of the lab's: cleanup removes it
    return lab.engine.client.containers.run(image, command, detach=True, labels=lab.labels, **kw)


def test_image_runs_as_uid_1000_without_docker(lab, image):
    container = run(lab, image, ["sh", "-c", "id -u; test -S /var/run/docker.sock && echo socket || echo no-socket"])
    container.wait(timeout=60)
    assert container.logs().decode().split() == ["1000", "no-socket"]


STRICT = ["--nbval", "--nbval-sanitize-with", "tests/nbval-sanitize.cfg"]


@pytest.mark.parametrize("builder, compare", [("classic", STRICT), ("buildkit", ["--nbval-lax"])])
def test_notebooks_replay_under_nbval_inside_the_image(lab, image, builder, compare):
    container = run(lab, image, ["python", "-m", "pytest", *compare, "--nbval-current-env", "notebooks", "-q",
                                 "-p", "no:cacheprovider"], environment={"LAYER_LAB_BUILDER": builder})
    status = container.wait(timeout=300)
    tail = container.logs().decode()[-600:]
    assert status["StatusCode"] == 0, tail
    assert " passed" in tail and "failed" not in tail


def test_server_starts_with_binders_arguments(lab, image):
    container = run(lab, image, ["jupyter", "notebook", "--ip=0.0.0.0", "--port=8888", "--no-browser",
                                 f"--IdentityProvider.token={TOKEN}"], ports={"8888/tcp": ("127.0.0.1", None)})
    container.reload()
    port = container.ports["8888/tcp"][0]["HostPort"]
    deadline, reply = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        try:
            reply = requests.get(f"http://127.0.0.1:{port}/api/status", params={"token": TOKEN}, timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.5)
    assert reply is not None and reply.status_code == 200, container.logs().decode()[-800:]
    contents = requests.get(f"http://127.0.0.1:{port}/api/contents/notebooks", params={"token": TOKEN}, timeout=5)
    assert "00-start-here.ipynb" in {item["name"] for item in contents.json()["content"]}
