"""Which registry and base image the lab uses, and the names `make up` and the lab share.

Standard library only: `scripts/lab_up.py` loads this file by path before the lab's virtual
environment exists, so every name both sides use is written here once.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = Path(os.environ.get("LAYER_LAB_STATE", Path(__file__).resolve().parent.parent / ".lab"))
"""Where `make up` keeps what it brought up (`.lab/`)."""
STATE_FILE = STATE_DIR / "lab.json"
OFFICIAL_BASE = "python:3.11-slim"
LOCAL_BASE = "layer-lab/python:3.11-bookworm"
"""The base `make up` builds from Debian where the official one cannot be pulled."""
LAB_BUILDX = STATE_DIR / "buildx" / "docker-buildx"
"""The lab's own buildx, which `make up` fetches where the docker CLI has no buildx plugin; not a CLI plugin."""
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""
"""The config of a registry on loopback only (`make up`'s, and the tests' throwaway ones)."""


@dataclass(frozen=True)
class Settings:
    """Where the lab pushes and what it builds ``FROM``, with the reason for the base."""

    registry: str
    base_image: str
    base_reason: str


def registry_host(registry: str) -> str:
    """The host of a registry address that may name a namespace: ``docker.io/alice`` -> ``docker.io``."""
    return registry.partition("/")[0]


def on_loopback(registry: str) -> bool:
    """Whether the registry listens on this machine's loopback (the lab's own registry, spoken to over HTTP)."""
    host = registry_host(registry)
    return host.startswith(("localhost", "127.")) or host == "[::1]" or host.startswith("[::1]:")


def load() -> Settings:
    """``LAYER_LAB_REGISTRY`` / ``LAYER_LAB_BASE`` win; then ``.lab/lab.json``; then the defaults."""
    state = json.loads(STATE_FILE.read_text()) if STATE_FILE.is_file() else {}
    base = os.environ.get("LAYER_LAB_BASE")
    reason = "LAYER_LAB_BASE names it" if base else state.get("base_reason", "the default")
    return Settings(registry=os.environ.get("LAYER_LAB_REGISTRY") or state.get("registry", "localhost:5000"),
                    base_image=base or state.get("base_image", OFFICIAL_BASE), base_reason=reason)
