"""Shared test fixtures: recorded engine payloads, and the rule that live tests fail in CI."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def load(name: str):
    """A recorded payload from tests/data; streams come back as lists of (seconds, chunk) tuples."""
    payload = json.loads((DATA / f"{name}.json").read_text())
    if isinstance(payload, list) and payload and isinstance(payload[0], list):
        return [tuple(event) for event in payload]
    return payload


def recorded(prefix: str) -> list[str]:
    """Names of every recorded file starting with ``prefix``, so parser tests run over all of them."""
    return sorted(p.stem for p in DATA.glob(f"{prefix}*.json"))


def engine_required() -> bool:
    return os.environ.get("LAYER_LAB_REQUIRE_ENGINE") == "1" or os.environ.get("CI") == "true"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import sys
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
