"""Which registry and base image the lab uses: environment variables, then what `make up` chose."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = Path(os.environ.get("LAYER_LAB_STATE", Path(__file__).resolve().parent.parent / ".lab")) / "lab.json"
OFFICIAL_BASE = "python:3.11-slim"


@dataclass(frozen=True)
class Settings:
    """Where the lab pushes and what it builds ``FROM``, with the reason for the base."""

    registry: str
    base_image: str
    base_reason: str


def registry_host(registry: str) -> str:
    """The host of a registry address that may name a namespace: ``docker.io/alice`` -> ``docker.io``."""
    return registry.partition("/")[0]


def load() -> Settings:
    """``LAYER_LAB_REGISTRY`` / ``LAYER_LAB_BASE`` win; then ``.lab/lab.json``; then the defaults."""
    state = json.loads(STATE_FILE.read_text()) if STATE_FILE.is_file() else {}
    base = os.environ.get("LAYER_LAB_BASE")
    reason = "LAYER_LAB_BASE names it" if base else state.get("base_reason", "the default")
    return Settings(registry=os.environ.get("LAYER_LAB_REGISTRY") or state.get("registry", "localhost:5000"),
                    base_image=base or state.get("base_image", OFFICIAL_BASE), base_reason=reason)
