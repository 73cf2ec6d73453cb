"""Progress bars follow each kind of recorded stream to its end and pass every event through unchanged."""
from __future__ import annotations

import pytest

from helpers import progress
from tests.conftest import load

BUILDS = {"build_v1_nocache": "4/4", "buildkit_v1_nocache": "3/3", "buildkit_rawjson_v1_nocache": "3/3"}


@pytest.fixture(autouse=True)
def bars_on(monkeypatch):
    monkeypatch.setenv("LAYER_LAB_PROGRESS", "1")


@pytest.mark.parametrize("name", BUILDS)
def test_build_bar_counts_the_steps_of_each_stream_kind(name, capsys):
    events = [tuple(e) for e in load(name)]
    assert list(progress.build(iter(events), "x:v1")) == events
    shown = capsys.readouterr().err
    assert f"{BUILDS[name]} " in shown and "done in" in shown


def test_push_bars_end_saying_what_happened_to_each_layer(capsys):
    events = [tuple(e) for e in load("push_v2")]
    assert list(progress.push(iter(events), "localhost:5000/x")) == events
    shown = capsys.readouterr().err
    assert "pushed" in shown and "exists" in shown


def test_no_bars_when_turned_off(monkeypatch, capsys):
    monkeypatch.setenv("LAYER_LAB_PROGRESS", "0")
    events = [tuple(e) for e in load("buildkit_rawjson_v1_nocache")]
    assert list(progress.build(iter(events), "x:v1")) == events
    assert capsys.readouterr().err == ""
