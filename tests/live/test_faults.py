"""Faults in the middle of the work: the registry or the engine goes away, the lab says so plainly,
and once it is back the same lab object carries on with no manual step."""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

import helpers
from helpers.engine import Engine
from helpers.lab import Lab
from helpers.settings import Settings, load
from tests import engines
from tests.conftest import engine_required
from tests.throwaway import CuttingProxy

pytestmark = pytest.mark.live


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


def test_registry_gone_mid_push_then_back(lab, registry):
    proxy = CuttingProxy(int(registry.rsplit(":", 1)[1]), cut_after=1_000_000)  # mid-way through the base layer
    address = f"localhost:{proxy.port}"
    pushing = Lab(Engine(address), Settings(address, lab.base_image, "tests"), lab.workspace)
    lab.write_dockerfile()
    lab.write_app()
    image = lab.build("v1").tag
    try:
        with pytest.raises((helpers.RegistryUnavailable, helpers.PushFailed)) as err:
            pushing.push(image)
        assert proxy.cut.is_set(), "the push ended before the registry went away"
        assert "What to do" in str(err.value) and len(str(err.value).splitlines()) <= 4
        proxy.resume()
        push = pushing.push(image)
        assert {r.outcome for r in push.rows} <= {"pushed", "exists"} and push.digest
    finally:
        proxy.resume()
        pushing.cleanup()
        proxy.close()


@pytest.mark.skipif(not (engine_required() or os.environ.get("LAYER_LAB_FAULTS") == "1"),
                    reason="stops the Docker engine: runs in CI, or locally with LAYER_LAB_FAULTS=1")
def test_engine_stopped_mid_build_then_back(lab):
    dockerd = engines.pid()
    if dockerd is None or os.geteuid() != 0:
        pytest.skip("the engine here was not started by `make up`, so this test cannot restart it")
    lab.write_dockerfile(f"FROM {lab.base_image}\nRUN sleep 5 && echo done\n", filename="Dockerfile.slow")
    threading.Timer(1.5, os.kill, [dockerd, signal.SIGTERM]).start()
    with pytest.raises(helpers.EngineUnavailable, match="stopped answering") as err:
        lab.build("interrupted", dockerfile="Dockerfile.slow", nocache=True)
    assert "make up" in str(err.value)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{dockerd}").exists():
        assert time.monotonic() < deadline, "dockerd did not stop"
        time.sleep(0.5)
    engines.restart()
    lab.write_app("back again!")
    lab.write_dockerfile()
    assert lab.build("after").image_id
    app = lab.run(lab.image("after"))
    assert lab.get(app) == "back again!"
