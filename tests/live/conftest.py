"""Live fixtures: the real engine (a skip without one, a failure in CI), a throwaway registry, a lab."""
from __future__ import annotations

import pytest

from helpers.engine import Engine
from helpers.errors import EngineUnavailable
from helpers.lab import Lab
from helpers.settings import Settings, load
from helpers.workspace import Workspace
from tests.conftest import engine_required
from tests.throwaway import throwaway_registry


@pytest.fixture(scope="session")
def registry():
    with throwaway_registry() as address:
        yield address


@pytest.fixture(scope="session")
def engine(registry):
    try:
        return Engine(registry)
    except EngineUnavailable as e:
        if engine_required():
            pytest.fail(f"CI needs a Docker engine: {e}")
        pytest.skip(f"no Docker engine: {e.problem}")


@pytest.fixture(scope="module")
def lab(engine):
    """A lab on the real engine, pushing to the throwaway registry; cleaned up by label afterwards."""
    lab = Lab(engine, Settings(engine.registry, load().base_image, "tests"), Workspace())
    if not engine.has_image(lab.base_image):
        pytest.fail(f"the base image {lab.base_image} is missing: run `make up`")
    yield lab
    lab.cleanup()
