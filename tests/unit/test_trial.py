"""The trial's arithmetic: what each order cost per edit, and what the advised one saved (cold builds left out)."""
from __future__ import annotations

from types import SimpleNamespace

from helpers.trial import Trial


def build(seconds, *cached):
    return SimpleNamespace(seconds=seconds, cached=list(cached), rows=list(cached))


def push(uploaded):
    return SimpleNamespace(uploaded_bytes=uploaded)


def test_savings_count_the_edits_not_the_cold_builds():
    trial = Trial()
    for order, cold, edit in (("yours", 30.0, 6.0), ("advised", 31.0, 1.5)):
        trial.add(order, 0, "", build(cold, False, False, False), push(50_000_000))
        trial.add(order, 1, "app.py", build(edit, True, *([False, False] if order == "yours" else [True, False])),
                  push(12_000_000 if order == "yours" else 300))
    assert trial.saved_seconds == 4.5 and trial.saved_bytes == 11_999_700 and trial.edits == ["app.py"]
    assert [r.rebuilt for r in trial.rows] == [3, 2, 3, 1]
    frame = trial.frame
    assert list(frame["edit"]) == ["cold build", 1] and list(frame["yours: rebuilt"]) == ["3 of 3", "2 of 3"]
    assert list(frame["advised: uploaded"]) == ["50.0 MB", "300 B"]
    assert trial.title == "the same 1 edit through both Dockerfiles: the advised order saved 4.5 s of rebuilds and " \
                          "12.0 MB of uploads"
