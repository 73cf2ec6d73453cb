"""Binder exactly as BinderHub does it: jupyter-repo2docker builds a clean clone of the repository with the flags
BinderHub passes, the image starts the way BinderHub's chart starts a user's server (its launch command and
arguments, a base URL and a token, 2 GiB, 1 CPU, no network, uid 1000, the hub's /etc/jupyter over the image's),
and every notebook is opened through the server's REST API, in a kernel session as the browser does, and run.
"""
from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests

from helpers.cli import find_cli
from helpers.settings import LAB_BUILDX
from tests.notebook_server import run_notebook

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
REPO2DOCKER = ["--no-run", "--user-name", "jovyan", "--user-id", "1000"]
"""The flags BinderHub's build passes to repo2docker."""
FROM = "python:3.11-slim"
"""The image the root Dockerfile starts from (its BASE_IMAGE default), which Binder pulls."""
BASE_URL = "/user/learner/"
HUB_CONFIG = "c.ServerApp.allow_origin = '*'\nc.ServerApp.trust_xheaders = True\n"
"""A hub's /etc/jupyter: it replaces the image's, so nothing the lab needs may live there."""
LIMITS = {"mem_limit": "2g", "nano_cpus": 1_000_000_000}
"""mybinder.org's user pod: 2 GiB and 1 CPU."""


def docker_config_with_buildx(folder: Path) -> dict[str, str]:
    """The environment for repo2docker: a docker CLI config of its own whose plugin is the lab's buildx, so
    `docker buildx` works for that run only (nothing changes for `docker build` elsewhere)."""
    cli = find_cli()
    if cli is not None and cli.argv[1:2] == ("buildx",):
        return dict(os.environ)  # the docker CLI has its own buildx plugin
    plugins = folder / "cli-plugins"
    plugins.mkdir(parents=True)
    (plugins / "docker-buildx").symlink_to(LAB_BUILDX)
    return {**os.environ, "DOCKER_CONFIG": str(folder)}


@pytest.fixture(scope="module")
def binder_image(lab, tmp_path_factory):
    """The image repo2docker builds from a clean clone (committed files only), on the engine under test."""
    tmp = tmp_path_factory.mktemp("binder")
    clone = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    engine, image = lab.engine, lab.image("test", "binder")
    lent = not engine.has_image(FROM)
    if lent:  # no Docker Hub here: the lab's base, under the name the Dockerfile pulls, for this build only
        engine.tag(lab.base_image, FROM.split(":")[0], FROM.split(":")[1])
    started = time.monotonic()
    try:
        built = subprocess.run([sys.executable, "-m", "repo2docker", *REPO2DOCKER, "--image-name", image, str(clone)],
                               env=docker_config_with_buildx(tmp / "docker-config"), capture_output=True, text=True,
                               timeout=1200)
    finally:
        if lent:
            engine.remove_image(FROM)
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    print(f"repo2docker built {image} in {time.monotonic() - started:.0f} s")
    return image


def hub_etc_jupyter(lab, name: str) -> str:
    """A named volume holding the hub's jupyter config, mounted over /etc/jupyter as a hub's is (a volume, not
    a host folder, so it works on an engine in a mount namespace of its own too)."""
    lab.engine.client.volumes.create(name)
    return name


def put_file(container, folder: str, name: str, text: str) -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(text.encode()), 0o644
        tar.addfile(info, io.BytesIO(text.encode()))
    container.put_archive(folder, data.getvalue())


def answer_time(url: str, timeout: float = 120) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"the server did not answer at {url} within {timeout:.0f} s")


def test_binder_builds_starts_and_replays_every_notebook(lab, binder_image):
    client, token, name = lab.engine.client, secrets.token_hex(16), f"{lab.workspace.name}-binder"
    files = lab.history(binder_image).content
    print(f"image: {files / 1e6:.0f} MB of files")
    assert files < 700e6, f"the Binder image holds {files / 1e6:.0f} MB of files (target: under 700 MB)"
    network = client.networks.create(name, internal=True)  # no way out, as on mybinder.org
    volume = hub_etc_jupyter(lab, name)
    command = ["jupyter-lab", "--ip=0.0.0.0", "--port=8888", f"--ServerApp.base_url={BASE_URL}",
               f"--NotebookApp.base_url={BASE_URL}", f"--ServerApp.token={token}", f"--NotebookApp.token={token}"]
    container = client.containers.create(binder_image, command, user="1000", network=name, labels=lab.labels,
                                         volumes={volume: {"bind": "/etc/jupyter", "mode": "rw"}}, **LIMITS)
    try:
        put_file(container, "/etc/jupyter", "jupyter_server_config.py", HUB_CONFIG)
        container.start()
        container.reload()
        address = container.attrs["NetworkSettings"]["Networks"][name]["IPAddress"]
        base = f"http://{address}:8888{BASE_URL}"
        first = answer_time(f"{base}api/status?token={token}")
        print(f"server answered {first:.1f} s after the start")
        runs = [run_notebook(base, token, f"notebooks/{notebook}") for notebook in NOTEBOOKS]
        peak = container.stats(stream=False)["memory_stats"].get("max_usage", 0)
        for ran in runs:
            print(f"{ran.path}: replayed in {ran.seconds:.1f} s on 1 CPU")
            assert not ran.errors, f"{ran.path}: {ran.errors}"
            assert "<b>REPLAY</b>" in ran.banner, f"{ran.path} did not say it replays: {ran.banner[:200]}"
        print(f"peak memory {peak / 2**20:.0f} MiB")
        assert 0 < peak < 2**30, f"peak memory {peak / 2**20:.0f} MiB (target: under 1 GiB)"
        assert first < 30
        whoami = container.exec_run(["id", "-u"]).output.decode().strip()
        socket = container.exec_run(["test", "-S", "/var/run/docker.sock"]).exit_code
        assert whoami == "1000" and socket != 0, "uid 1000, and no Docker socket inside"
    finally:
        container.remove(force=True)
        network.remove()
        client.volumes.get(volume).remove(force=True)
