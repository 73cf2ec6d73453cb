"""A room through JupyterHub (hosting/jupyterhub_config.py): the hub on loopback with three learners, each a system
user; each learner's server is started through the hub's REST API, notebook 02 runs in all three at once through
their servers' APIs (a kernel each), every cell passes, the instructor's view shows where each learner got, and the
engine and the registry hold nothing more afterwards."""
from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

from helpers.engine import Engine
from helpers.room import progress
from helpers.settings import load
from tests import engines
from tests.conftest import engine_required
from tests.leftovers import state
from tests.notebook_server import run_notebook
from tests.throwaway import free_port

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
LEARNERS = ["lablearner1", "lablearner2", "lablearner3"]
NOTEBOOK = "02-deploy-a-change.ipynb"


def missing(reason: str):
    if engine_required():
        pytest.fail(f"CI needs the room test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def learners():
    """Three system users who may use the engine (the docker group), removed afterwards."""
    if engines.is_current():
        pytest.skip("a room uses the machine's own engine (`make up`'s); the current one beside it is for the lab's "
                    "engine tests")
    if os.geteuid() != 0 or not shutil.which("useradd"):
        missing("making the learners' system users needs root and useradd")
    made = []
    try:
        for name in LEARNERS:
            try:
                pwd.getpwnam(name)
            except KeyError:
                subprocess.run(["useradd", "--create-home", "--groups", "docker", name], check=True)
                made.append(name)
        yield LEARNERS
    finally:
        for name in made:
            subprocess.run(["pkill", "-u", name], check=False)
            subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
            shutil.rmtree(Path(tempfile.gettempdir()) / f"layer-lab-{name}", ignore_errors=True)


@pytest.fixture(scope="module")
def hub(learners, tmp_path_factory):
    """JupyterHub with the lab's configuration on a free loopback port; its URL and an API token."""
    if subprocess.run(["sh", str(ROOT / "scripts" / "install_hub.sh"), sys.executable]).returncode != 0:
        missing("the hub's proxy (npm) or the learners' environment could not be installed")
    port, token = free_port(), secrets.token_hex(24)
    env = {**os.environ, "LAYER_LAB_HUB_USERS": ",".join(learners), "LAYER_LAB_HUB_PORT": str(port),
           "LAYER_LAB_HUB_AUTH": "dummy", "LAYER_LAB_HUB_PASSWORD": secrets.token_hex(8),
           "LAYER_LAB_HUB_TOKEN": token, "LAYER_LAB_HUB_HOME": str(tmp_path_factory.mktemp("hub")),
           "LAYER_LAB_PROGRESS": "0"}
    log = tmp_path_factory.mktemp("hub-log") / "jupyterhub.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f",
                                 str(ROOT / "hosting" / "jupyterhub_config.py")], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=env["LAYER_LAB_HUB_HOME"])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/hub/api", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield url, token, log
    finally:
        proc.terminate()  # the hub stops the learners' servers as it goes (cleanup_servers)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def start_server(url: str, token: str, name: str, timeout: float = 120) -> str:
    headers = {"Authorization": f"token {token}"}
    reply = requests.post(f"{url}/hub/api/users/{name}/server", headers=headers, timeout=30)
    assert reply.status_code in (201, 202), reply.text
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        user = requests.get(f"{url}/hub/api/users/{name}", headers=headers, timeout=10).json()
        server = (user.get("servers") or {}).get("")
        if server and server.get("ready"):
            return f"{url}{server['url']}"
        time.sleep(0.5)
    raise AssertionError(f"{name}'s server did not start within {timeout:.0f} s")


def test_three_learners_run_notebook_02_at_once_through_the_hub(hub):
    url, token, log = hub
    engine = Engine(load().registry)
    before = state(engine)
    started = time.monotonic()
    bases = {name: start_server(url, token, name) for name in LEARNERS}
    print(f"the hub started {len(bases)} servers in {time.monotonic() - started:.1f} s")
    runs, threads = {}, []
    for name, base in bases.items():
        thread = threading.Thread(target=lambda n=name, b=base: runs.__setitem__(n, run_notebook(b, token, NOTEBOOK)))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout=600)
    unfinished = set(LEARNERS) - set(runs)
    assert not unfinished, f"runs that did not finish: {unfinished}\n{log.read_text()[-2000:]}"
    for name, ran in runs.items():
        print(f"{name}: notebook 02 in {ran.seconds:.0f} s")
        assert not ran.errors, f"{name}: {ran.errors}"
        assert "<b>LIVE</b>" in ran.banner, ran.banner[:200]
    room = progress()
    mine = {r.learner: r for r in room.rows if r.learner in LEARNERS}
    assert set(mine) == set(LEARNERS) and all(r.reached == "finished" and r.notebook == NOTEBOOK.removesuffix(".ipynb")
                                              for r in mine.values()), room.frame.to_string()
    after = state(engine)
    left = {kind: sorted(set(after[kind]) - set(before[kind])) for kind in after}
    assert not any(left.values()), f"left behind by the room: {left}"
