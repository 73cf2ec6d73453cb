"""Which of the suite's engines a test session talks to, and how to stop and restart that one: Debian 12's
dockerd (`make up`) or the current one beside it (`make up ENGINE=current`, reached through DOCKER_HOST)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers.settings import STATE_DIR

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import current_engine  # noqa: E402  (the bring-up's own module: one place knows where that engine lives)

DEFAULT_PIDFILE = Path("/var/run/docker.pid")


def current_host() -> str:
    """The DOCKER_HOST of the current engine `make up ENGINE=current` runs."""
    return current_engine.docker_host(STATE_DIR)


def current_answers() -> bool:
    return current_engine.answers(STATE_DIR)


def is_current() -> bool:
    """Whether DOCKER_HOST points at the current engine `make up ENGINE=current` runs."""
    return os.environ.get("DOCKER_HOST") == current_host()


def pid() -> int | None:
    """The pid of the dockerd this session talks to, if `make up` started it on this machine."""
    pidfile = current_engine.home(STATE_DIR) / "run" / "dockerd.pid" if is_current() else DEFAULT_PIDFILE
    try:
        found = int(pidfile.read_text())
    except (OSError, ValueError):
        return None
    return found if Path(f"/proc/{found}").exists() else None


def restart() -> None:
    """Bring the engine back as `make up` (or `make up ENGINE=current`) does."""
    argv = [sys.executable, str(ROOT / "scripts" / "lab_up.py"), *(["--engine", "current"] if is_current() else [])]
    subprocess.run(argv, check=True, capture_output=True)
