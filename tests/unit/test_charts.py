"""Charts drawn from recorded reports: what they draw, their labels, and that they stay readable at scale."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from helpers import charts
from helpers.build import BuildReport, BuildStep, join_layers, parse_build_stream
from helpers.buildkit import parse_progress
from helpers.display import human
from helpers.layers import compare, parse_history
from helpers.push import join_manifest, parse_push_stream
from tests.conftest import load

ROOT = Path(__file__).resolve().parents[2]

def build(tag: str, recording: str):
    history = parse_history(tag, load(f"history_{tag}"), load(f"inspect_{tag}"))
    return join_layers(parse_build_stream(tag, load(recording)), history), history


def push(tag: str):
    report = parse_push_stream("r", tag, load(f"push_{tag}"))
    return join_manifest(report, load(f"inspect_{tag}")["RootFS"]["Layers"], load(f"manifest_{tag}"))


@pytest.fixture(autouse=True)
def _agg():
    matplotlib.use("Agg")
    yield
    import matplotlib.pyplot as plt
    plt.close("all")


@pytest.fixture(scope="module")
def r():
    v1, h1 = build("v1", "build_v1_nocache")
    v2, h2 = build("v2", "build_v2_after_change")
    return SimpleNamespace(v1=v1, v2=v2, h1=h1, h2=h2, p1=push("v1"), p2=push("v2"), sharing=compare([h1, h2]))


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


def widths(ax) -> list[float]:
    return [p.get_width() for p in ax.patches]


@pytest.mark.parametrize("nbytes, shown", [
    (0, "0 B"), (161, "161 B"), (999, "999 B"), (1000, "1.0 kB"), (4_987_613, "5.0 MB"),
    (188_829_909, "188.8 MB"), (999_960, "1.0 MB"), (2_500_000_000, "2.5 GB"), (2_500_000_000_000, "2500.0 GB"),
])
def test_human_sizes_are_1000_based_like_the_docker_cli(nbytes, shown):
    assert human(nbytes) == shown


def test_short_labels_cut_digests_and_length():
    assert charts._short("COPY file:dd7b08531f13a06eebef13fa1183b091858398d2261ed1d5b9d414a5ee993c30 in /app.py") \
        == "COPY … /app.py"
    long = charts._short("RUN " + "x" * 80)
    assert len(long) == 40 and long.endswith("…")


def test_layer_sizes_one_bar_per_layer_with_shared_ones_hatched(r):
    fig = charts.layer_sizes(r.h1, r.h2)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    rows = [row for h in (r.h1, r.h2) for row in reversed(h.rows) if row.diff_id is not None]
    shared = {row.diff_id for row in r.sharing.rows if row.shared}
    assert len(ax.patches) == len(rows) == 6
    assert [bool(p.get_hatch()) for p in ax.patches] == [row.diff_id in shared for row in rows]
    assert texts(ax) == [human(row.size) for row in rows]
    assert "log scale" in ax.get_xlabel() and ax.get_xscale() == "log"
    assert ax.xaxis.get_major_formatter()(1e6, 0) == "1.0 MB"  # sizes on the axis as on the bars, not "1e-06"
    assert ax.get_ylabel() and ax.get_title()
    assert all(len(t.get_text()) <= 45 for t in ax.get_yticklabels())


def test_cache_hits_one_cell_per_step_and_build(r):
    fig = charts.cache_hits(r.v1, r.v2)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    image = ax.images[0]
    assert image.get_array().shape == (len(r.v1.rows), 2)
    assert texts(ax) == [f"{s.seconds:.2f} s" for b in (r.v1, r.v2) for s in b.rows]
    colours = image.to_rgba(image.get_array())
    for keyword in ("RUN", "CMD"):
        row = r.v2.rows.index(r.v2.step(keyword))
        assert tuple(colours[row, 1]) == to_rgba(charts.REUSED)
        assert tuple(colours[row, 0]) == to_rgba(charts.NEW)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["v1", "v2"]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert "seconds" in ax.get_legend().get_title().get_text()


def test_cache_hits_names_each_cells_instruction_when_dockerfiles_differ():
    good = BuildReport("good", [BuildStep(1, "FROM b", True, 0.0, None),
                                BuildStep(2, "RUN pip install flask", True, 0.0, None),
                                BuildStep(3, "COPY app.py /app.py", False, 0.1, None)], "x", 0.1)
    bad = BuildReport("bad", [BuildStep(1, "FROM b", True, 0.0, None),
                              BuildStep(2, "COPY app.py /app.py", False, 0.1, None),
                              BuildStep(3, "RUN pip install flask", False, 1.2, None)], "y", 1.3)
    ax = charts.cache_hits(good, bad).axes[0]
    assert texts(ax)[3:] == ["FROM 0.00 s", "COPY 0.10 s", "RUN 1.20 s"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["step 1", "step 2", "step 3"]


def test_cache_hits_stays_readable_with_100_steps_by_30_builds():
    builds = [BuildReport(f"localhost:5000/lab/app:b{b}",
                          [BuildStep(i + 1, f"RUN make target-{i}", i < 3 * b, 0.5, None) for i in range(100)],
                          image_id="x", seconds=50.0)
              for b in range(30)]
    ax = charts.cache_hits(*builds).axes[0]
    assert ax.images[0].get_array().shape == (100, 30)
    assert texts(ax) == []
    assert 0 < len([t for t in ax.get_yticklabels() if t.get_text()]) <= 30
    columns = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert 0 < len(columns) <= 12 and columns[0] == "app:b0"


def test_push_bytes_shows_a_few_hundred_bytes_beside_megabytes_on_a_log_scale(r):
    fig = charts.push_bytes(r.p1, r.p2)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and "log scale" in ax.get_xlabel()
    uploaded, reused = widths(ax)[:2], widths(ax)[2:4]
    assert uploaded == [r.p1.uploaded_bytes, r.p2.uploaded_bytes] and reused[1] == r.p2.reused_bytes
    assert reused[0] < ax.get_xlim()[0] * 1.01  # nothing reused by the first push: no bar to see
    assert uploaded[1] > ax.get_xlim()[0] * 2  # the 200-odd bytes of v2's push show as a bar
    assert f"uploaded {human(r.p2.uploaded_bytes)}" in texts(ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["push of\nr:v1", "push of\nr:v2"]


def test_shared_bytes_weighs_stored_once_against_a_copy_each(r):
    fig = charts.shared_bytes(r.sharing)
    ax = fig.axes[0]
    shared, own = r.sharing.shared_bytes, r.sharing.unique_bytes
    assert widths(ax) == pytest.approx([2 * shared / 1e6, shared / 1e6, own / 1e6, own / 1e6])
    assert texts(ax) == [human(2 * shared + own), human(shared + own)]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["each image its own copy\n(2 images)",
                                                           "shared layers stored once"]
    assert "MB" in ax.get_xlabel() and ax.get_title()


def test_cache_hits_names_each_build_by_what_it_is(r):
    ax = charts.cache_hits(r.v1, r.v2, labels=["cold build", "code change"]).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cold build", "code change"]


def test_the_workshops_pictures_are_drawn_from_measured_layers(r):
    ax = charts.union(r.h1, 45_056, ("/usr/lib/python3.11/os.py", 39_504, 0), "overlay2").axes[0]
    assert len(ax.patches) == len(r.h1.layers) + 1 and "overlay2" in ax.get_title()
    assert any("container's read/write layer (45.1 kB)" in t for t in texts(ax))
    assert any("os.py (39.5 kB)" in t for t in texts(ax))
    ax = charts.stacks(r.h1, r.h2).axes[0]
    assert sum("stored once" in t for t in texts(ax)) == 2 and len(ax.patches) == 4  # 2 shared, 1 own each


@pytest.mark.parametrize("draw", [
    lambda r, ax: charts.layer_sizes(r.h1, r.h2, ax=ax),
    lambda r, ax: charts.cache_hits(r.v1, r.v2, ax=ax),
    lambda r, ax: charts.push_bytes(r.p1, r.p2, ax=ax),
    lambda r, ax: charts.shared_bytes(r.sharing, ax=ax),
], ids=["layer_sizes", "cache_hits", "push_bytes", "shared_bytes"])
def test_each_chart_draws_into_the_given_axes(r, draw):
    fig = Figure()
    ax = fig.add_subplot()
    assert draw(r, ax) is fig
    assert fig.axes == [ax] and ax.get_title()


def test_charts_bypass_pyplot_so_a_notebook_shows_each_once(r):
    import matplotlib.pyplot as plt
    charts.layer_sizes(r.h1, r.h2), charts.cache_hits(r.v1, r.v2)
    charts.push_bytes(r.p1, r.p2), charts.shared_bytes(r.sharing)
    assert plt.get_fignums() == []


def test_importing_the_package_does_not_import_matplotlib():
    code = "import sys, helpers; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_cache_hits_marks_lines_buildkit_ran_no_step_for():
    dockerfile = 'FROM base\nRUN pip install flask\nCMD ["python","app.py"]\nCOPY app.py /app.py\n'
    bk = parse_progress("x/app:bk", [tuple(e) for e in load("buildkit_rawjson_v2_after_change")], dockerfile)
    ax = charts.cache_hits(bk).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts[2] == "no step" and texts[1].endswith(" s")
    assert "no step run (BuildKit:\nsettings only)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert sum(p.get_hatch() == charts.NO_STEP_HATCH for p in ax.patches) == 1
