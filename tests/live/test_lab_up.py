"""`make up` (scripts/lab_up.py): a second run only checks, each problem it can hit is named, and the
buildx it fetches stays the lab's own."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import lab as lab_module
from helpers.cli import docker_build_uses_buildkit, find_cli
from helpers.settings import LAB_BUILDX
from tests.throwaway import free_port

pytestmark = pytest.mark.live
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "lab_up.py"


def lab_up(**env) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})
    return done, time.monotonic() - started


def test_second_run_only_checks_and_is_quick(engine):
    done, seconds = lab_up()
    assert done.returncode == 0, done.stdout
    assert "already answering" in done.stdout and "built earlier" in done.stdout or "LAYER_LAB_BASE" in done.stdout
    assert seconds < 10, f"a run with everything up took {seconds:.1f} s"


def test_registry_port_busy_with_something_else(engine, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        done, _ = lab_up(LAYER_LAB_REGISTRY_PORT=str(port), LAYER_LAB_STATE=str(tmp_path))
    assert done.returncode == 1
    assert f"Port {port} is busy with something that is not a Docker registry" in done.stdout
    assert "LAYER_LAB_REGISTRY_PORT=" in done.stdout and "Traceback" not in done.stdout + done.stderr


def test_engine_named_by_docker_host_but_not_answering(tmp_path):
    done, _ = lab_up(DOCKER_HOST=f"tcp://127.0.0.1:{free_port()}", LAYER_LAB_STATE=str(tmp_path))
    assert done.returncode == 1
    assert "does not answer" in done.stdout and "unset DOCKER_HOST" in done.stdout
    assert len(done.stdout.splitlines()) <= 3 and "Traceback" not in done.stdout + done.stderr


def test_missing_ca_bundle_is_named(engine, tmp_path):
    done, _ = lab_up(LAYER_LAB_CA_BUNDLE=str(tmp_path / "nope.pem"), LAYER_LAB_STATE=str(tmp_path))
    assert done.returncode == 1 and "LAYER_LAB_CA_BUNDLE" in done.stdout and "is not a file" in done.stdout


def buildx_line(done: subprocess.CompletedProcess) -> str:
    return next(line for line in done.stdout.splitlines() if line.startswith("[lab-up] buildx: "))


def test_buildx_is_fetched_into_the_state_folder_only(engine, tmp_path):
    done, _ = lab_up(LAYER_LAB_STATE=str(tmp_path))
    assert done.returncode == 0, done.stdout
    if "plugin" in buildx_line(done):
        pytest.skip("the docker CLI here has its own buildx plugin: the lab fetches none")
    assert "fetched docker-buildx_" in buildx_line(done) and buildx_line(done).endswith(" s)")
    fetched = tmp_path / "buildx" / "docker-buildx"
    version = subprocess.run([str(fetched), "version"], capture_output=True, text=True, timeout=20)
    assert version.returncode == 0 and re.search(r"github.com/docker/buildx v?0\.(1[3-9]|[2-9]\d)\.", version.stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["buildx", "lab.json"]


def test_after_make_up_builds_use_the_private_buildx_and_docker_build_keeps_its_builder(engine, monkeypatch):
    done, _ = lab_up()
    if "plugin" in buildx_line(done):
        pytest.skip("the docker CLI here has its own buildx plugin: the lab fetches none")
    assert LAB_BUILDX.is_file() and "the lab's own buildx" in buildx_line(done)
    assert find_cli().argv[0] == str(LAB_BUILDX) and find_cli().progress == "rawjson"
    monkeypatch.delenv("DOCKER_BUILDKIT", raising=False)
    plugin = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True)
    assert plugin.returncode != 0, "the lab's buildx must not become a plugin of the docker CLI"
    assert not docker_build_uses_buildkit() and lab_module.docker_build_builder() == "classic"


def test_a_buildx_that_cannot_be_fetched_is_one_warning_and_the_lab_falls_back_to_plain(engine, tmp_path):
    done, _ = lab_up(LAYER_LAB_STATE=str(tmp_path), http_proxy="http://127.0.0.1:9", no_proxy="127.0.0.1,localhost")
    if "plugin" in buildx_line(done):
        pytest.skip("the docker CLI here has its own buildx plugin: the lab fetches none")
    assert done.returncode == 0, done.stdout
    assert "none for the lab (E: " in buildx_line(done) and buildx_line(done).endswith("falls back to plain progress")
    assert not (tmp_path / "buildx").exists() or not any((tmp_path / "buildx").iterdir())
