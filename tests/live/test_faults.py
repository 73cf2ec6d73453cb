"""Faults in the middle of the work: the registry or the engine goes away, the lab says so plainly,
and once it is back the same lab object carries on with no manual step."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import helpers
from helpers.engine import Engine
from helpers.lab import Lab
from helpers.settings import REGISTRY_CONFIG, Settings, load
from tests.conftest import engine_required
from tests.throwaway import _wait, free_port

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]


def test_lab_registry_listens_on_loopback_only():
    port = int(load().registry.rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                listening.append(local.rsplit(":", 1)[0])
    assert listening, f"nothing listens on port {port}: run `make up`"
    assert set(listening) <= {"0100007F", "00000000000000000000000001000000"}, listening


def start_registry(config: Path) -> subprocess.Popen:
    return subprocess.Popen(["docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_registry_stopped_mid_push_then_back(lab, tmp_path):
    port = free_port()
    config = tmp_path / "config.yml"
    config.write_text(REGISTRY_CONFIG.format(root=tmp_path / "data", port=port))
    registry = start_registry(config)
    _wait(f"127.0.0.1:{port}")
    pushing = Lab(Engine(f"localhost:{port}"), Settings(f"localhost:{port}", lab.base_image, "tests"), lab.workspace)
    lab.write_dockerfile()
    lab.write_app()
    image = lab.build("v1").tag
    threading.Timer(1.0, registry.kill).start()  # the base layer takes seconds to upload
    try:
        with pytest.raises((helpers.RegistryUnavailable, helpers.PushFailed)) as err:
            pushing.push(image)
        assert "What to do" in str(err.value) and len(str(err.value).splitlines()) <= 4
        registry.wait(timeout=10)
        registry = start_registry(config)
        _wait(f"127.0.0.1:{port}")
        push = pushing.push(image)
        assert {r.outcome for r in push.rows} <= {"pushed", "exists"} and push.digest
    finally:
        registry.kill()


@pytest.mark.skipif(not (engine_required() or os.environ.get("LAYER_LAB_FAULTS") == "1"),
                    reason="stops the Docker engine: runs in CI, or locally with LAYER_LAB_FAULTS=1")
def test_engine_stopped_mid_build_then_back(lab):
    if subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode != 0 or os.geteuid() != 0:
        pytest.skip("the engine here was not started by `make up`, so this test cannot restart it")
    lab.write_dockerfile(f"FROM {lab.base_image}\nRUN sleep 5 && echo done\n", filename="Dockerfile.slow")
    threading.Timer(1.5, subprocess.run, [["pkill", "-TERM", "-x", "dockerd"]]).start()
    with pytest.raises(helpers.EngineUnavailable, match="stopped answering") as err:
        lab.build("interrupted", dockerfile="Dockerfile.slow", nocache=True)
    assert "make up" in str(err.value)
    deadline = time.monotonic() + 30
    while subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.5)
    subprocess.run([sys.executable, str(ROOT / "scripts" / "lab_up.py")], check=True, capture_output=True)
    lab.write_app("back again!")
    lab.write_dockerfile()
    assert lab.build("after").image_id
    app = lab.run(lab.image("after"))
    assert lab.get(app) == "back again!"
