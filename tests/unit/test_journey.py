"""One table by layer digest from build to push, on recorded payloads."""
from __future__ import annotations

import pytest
from matplotlib.colors import to_hex

from helpers import charts
from helpers.build import join_layers, parse_build_stream
from helpers.errors import BadInput
from helpers.journey import journey
from helpers.layers import parse_history
from helpers.push import join_manifest, parse_push_stream
from tests.conftest import load


def build(tag, recording):
    return join_layers(parse_build_stream(tag, load(recording)), parse_history(tag, load(f"history_{tag}"),
                                                                               load(f"inspect_{tag}")))


def push(tag):
    return join_manifest(parse_push_stream("r", tag, load(f"push_{tag}")), load(f"inspect_{tag}")["RootFS"]["Layers"],
                         load(f"manifest_{tag}"))


def test_journey_joins_each_layer_from_its_step_to_its_push():
    trip = journey(build("v2", "build_v2_after_change"), push("v2"))
    assert [(r.instruction.split()[0], r.cached, r.push) for r in trip.rows] == [
        ("FROM", True, "exists"), ("RUN", True, "exists"), ("COPY", False, "pushed")]
    assert trip.rows[2].uploaded == trip.rows[2].compressed > 0 and trip.rows[2].saved == 0
    assert sum(r.saved for r in trip.rows) == push("v2").reused_bytes


def test_journey_refuses_a_push_of_another_image():
    with pytest.raises(BadInput, match="same image"):
        journey(build("v2", "build_v2_after_change"), push("v1"))


def test_journey_chart_has_one_bar_per_layer_coloured_by_what_the_push_sent():
    trip = journey(build("v2", "build_v2_after_change"), push("v2"))
    ax = charts.journey(trip).axes[0]
    bars = [p for p in ax.patches if p.get_width() > 0][:len(trip.rows)]
    assert len(bars) == len(trip.rows)
    assert [to_hex(b.get_facecolor()) for b in bars] == [charts.NEW if r.uploaded else charts.REUSED for r in trip.rows]
    assert "log scale" in ax.get_xlabel() and ax.get_xscale() == "log" and ax.get_title()
    assert ax.xaxis.get_major_formatter()(1000, 0) == "1.0 kB"


def test_line_order_chart_draws_cumulative_lines_for_both_orders():
    cold, change = build("v1", "build_v1_nocache"), build("v2", "build_v2_after_change")
    fig = charts.line_order([change] * 3, [cold] * 3, [push("v2")] * 3, [push("v1")] * 3)
    seconds, sent = fig.axes
    assert [round(y, 4) for y in seconds.lines[1].get_ydata()] == [round(cold.seconds * n, 4) for n in (1, 2, 3)]
    assert sent.lines[0].get_ydata()[-1] == pytest.approx(3 * push("v2").uploaded_bytes)
    assert "(s)" in seconds.get_ylabel() and sent.get_yscale() == "log" and "(log)" in sent.get_ylabel()
