"""Browser fixtures: the lab's own JupyterLab server, and headless Chromium (Debian's) driven by Playwright.

Missing Chromium, Playwright or a Docker engine is a skip locally and a failure in CI
(``tests.conftest.engine_required()``). The server gets settings of its own (autosave off, so the
notebooks run through the UI are never written back; no news or update checks; every cell in the DOM)
and an empty workspace, so it neither reads nor changes the user's JupyterLab state.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import engine_required
from tests.throwaway import free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
JUPYTER = ROOT / ".venv" / "bin" / "jupyter"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}

# JupyterLab user settings for the test server (one file per plugin, under user_settings_dir).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    # every cell stays in the DOM, no blank space after the last one, and closing a notebook ends its kernel
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none", "scrollPastEnd": False,
                                               "kernelShutdown": True},
}


def missing(reason: str):
    """A skip on a developer's machine; a failure in CI, where the browser test must run."""
    if engine_required():
        pytest.fail(f"CI needs the browser test to run: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Server:
    url: str
    token: str
    log: Path

    def api(self, path: str):
        reply = requests.get(f"{self.url}/api/{path}", params={"token": self.token}, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def log_tail(self, chars: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.is_file() else "(no log)"


@pytest.fixture(scope="module")
def browser_tools():
    """Playwright's Python package and Debian's Chromium, or a skip (a failure in CI)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("the playwright package is not installed: `.venv/bin/pip install -e '.[test]'`")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is missing: `sh scripts/install_browser.sh` (Debian's package `chromium`)")


@pytest.fixture(scope="module")
def live_engine(browser_tools):
    """The engine and base image the notebooks will use live, or a skip (a failure in CI)."""
    from helpers.engine import Engine
    from helpers.errors import EngineUnavailable
    from helpers.settings import load

    config = load()
    try:
        engine = Engine(config.registry)
    except EngineUnavailable as e:
        missing(f"no Docker engine: {e.problem}")
    if not engine.has_image(config.base_image):
        pytest.fail(f"the base image {config.base_image} is missing: run `make up`")
    return engine, config


@pytest.fixture(scope="module")
def jupyter(live_engine):
    """`jupyter lab` from the lab's venv on a free loopback port, live mode; stopped (kernels too) afterwards."""
    if not os.access(JUPYTER, os.X_OK):
        pytest.fail(f"{JUPYTER} is missing: run `make venv`")
    home = Path(tempfile.mkdtemp(prefix="layer-lab-browser-"))
    for plugin, values in LAB_SETTINGS.items():
        path = home / "settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (home / "workspaces").mkdir()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS / "browser-jupyterlab.log"
    port, token = free_port(), secrets.token_hex(16)
    command = [str(JUPYTER), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={ROOT}",
               f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = dict(os.environ, LAYER_LAB_MODE="live", LAYER_LAB_PROGRESS="1", JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                server.api("status")
                break
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer /api/status within 90 s:\n{server.log_tail()}")
            time.sleep(0.5)
        yield server
    finally:
        _stop(process)
        shutil.rmtree(home, ignore_errors=True)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM lets the server shut its kernels down; its own process group is killed if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def page(browser_tools):
    """A page in headless Chromium with a fresh user-data dir; the browser is closed afterwards."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="layer-lab-chromium-")
    playwright = sync_playwright().start()
    try:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(30_000)
            yield page
        finally:
            context.close()
    finally:
        playwright.stop()
        shutil.rmtree(profile, ignore_errors=True)
