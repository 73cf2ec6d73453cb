"""Charts of the lab's reports: layer sizes, cache hits, pushed bytes and shared bytes, as matplotlib figures."""
from __future__ import annotations

import math
import re

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import LogLocator, NullFormatter

from .build import BuildReport
from .display import human, short_name
from .journey import Journey
from .layers import History, Sharing, compare
from .push import PushReport
from .trial import Trial

REUSED = "#6baed6"
"""Blue: bytes or work reused (shared layers, cache hits, layers the registry already had)."""
NEW = "#fd8d3c"
"""Orange: bytes or work that was new (unique layers, rebuilt steps, uploaded layers)."""
SHARED_HATCH = "//"
NO_STEP_HATCH = ".."
MAX_CELL_TEXT_ROWS = 25
MAX_COLUMN_LABELS = 12
_LEGEND = dict(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
_DIGEST = re.compile(r"\b([0-9a-f]{7})[0-9a-f]{5,}\b")
_SOURCE = re.compile(r"^(COPY|ADD) (?:file|dir|multi):[0-9a-f]+ in ")


def _short(text: str, width: int = 40) -> str:
    """``text`` with a COPY/ADD source's checksum left out (``COPY file:<hex> in /app.py`` -> ``COPY … /app.py``),
    other long hex digests cut to 7 digits, then cut to ``width`` characters."""
    text = _SOURCE.sub(r"\1 … ", text)
    text = _DIGEST.sub(r"\1…", text)
    return text if len(text) <= width else text[:width - 1] + "…"


_name = short_name


def _layer_name(row) -> str:
    """What made a history row's layer; an imported base layer has no instruction of its own."""
    return "(base image)" if row.comment.startswith("Imported") or not row.instruction else row.instruction


def _axes(ax: Axes | None, rows: int) -> Axes:
    """The caller's axes, or those of a new notebook-width figure tall enough for ``rows`` rows."""
    if ax is not None:
        return ax
    height = min(max(3.5, 0.25 * rows + 1.5), 8)
    return Figure(figsize=(8, height), layout="constrained").add_subplot()


def layer_sizes(*histories: History, ax: Axes | None = None) -> Figure:
    """One bar per layer of each image, base first, on a log scale; shared layers hatched.

    Args:
        *histories: the images to show, one group of bars each, in this order.
        ax: axes to draw into; a new figure is made when None.

    Returns:
        The figure drawn into.
    """
    shared = {r.diff_id for r in compare(list(histories)).rows if r.shared}
    rows, ys, y = [], [], 0.0
    for h in histories:
        for r in reversed(h.rows):
            if r.diff_id is not None:
                rows.append((h.image, r))
                ys.append(y)
                y += 1
        y += 0.5
    ax = _axes(ax, len(rows))
    widths = [max(r.files_bytes, 1) for _, r in rows]
    bars = ax.barh(ys, widths, color=[REUSED if r.diff_id in shared else NEW for _, r in rows])
    for bar, (_, r) in zip(bars, rows):
        bar.set_hatch(SHARED_HATCH if r.diff_id in shared else None)
    ax.bar_label(bars, [human(r.files_bytes) for _, r in rows], padding=3, fontsize=8)
    ax.set_yticks(ys, [f"{_name(image)}: {_short(_layer_name(r))}" for image, r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(min(widths) / 3, max(widths) * 300)
    ax.xaxis.set_major_formatter(lambda x, _: human(x))
    ax.set_xlabel("layer size (uncompressed, log scale)")
    ax.set_ylabel("image: step that made the layer")
    ax.set_title("Layer sizes, on a log scale: the base dwarfs your layers; shared ones are stored once")
    ax.legend(handles=[Patch(facecolor=REUSED, hatch=SHARED_HATCH, label="shared"),
                       Patch(facecolor=NEW, label="only in this image")], **_LEGEND)
    return ax.figure


def cache_hits(*builds: BuildReport, labels: list[str] | None = None, ax: Axes | None = None) -> Figure:
    """A grid of Dockerfile steps by builds, coloured by whether each step came from the cache.

    Each cell shows the seconds the step took (and its instruction, when the builds' Dockerfiles
    differ); with more than 25 steps the cells carry no text and only some rows (and, past
    12 builds, some columns) are labelled.

    Args:
        *builds: the builds to compare, one column each, in this order.
        labels: what each build is (``"cold build"``, ``"code change"``), shown under its column instead
            of its tag.
        ax: axes to draw into; a new figure is made when None.

    Returns:
        The figure drawn into.
    """
    n = max(len(b.rows) for b in builds)
    grid = np.ma.masked_all((n, len(builds)))
    for col, b in enumerate(builds):
        for row, s in enumerate(b.rows):
            grid[row, col] = s.cached
    ax = _axes(ax, n)
    cmap = ListedColormap([NEW, REUSED]).with_extremes(bad="white")
    ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    same = len({tuple(s.instruction for s in b.rows) for b in builds}) == 1
    no_step = [(col, row) for col, b in enumerate(builds) for row, s in enumerate(b.rows) if not s.ran]
    for col, row in no_step:  # BuildKit ran nothing for it: its colour only follows the line before
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, hatch=NO_STEP_HATCH, linewidth=0,
                               edgecolor="white"))
    if n <= MAX_CELL_TEXT_ROWS:
        for col, b in enumerate(builds):
            for row, s in enumerate(b.rows):
                seconds = f"{s.seconds:.2f} s" if s.ran else "no step"
                text = seconds if same else f"{s.instruction.split()[0]} {seconds}"
                ax.text(col, row, text, ha="center", va="center", fontsize=8)
    every = math.ceil(n / MAX_CELL_TEXT_ROWS)
    steps = [next(b.rows[i] for b in builds if i < len(b.rows)) for i in range(0, n, every)]
    ax.set_yticks(range(0, n, every), [f"{s.step}. {_short(s.instruction)}" if same else f"step {s.step}"
                                       for s in steps], fontsize=8)
    every = math.ceil(len(builds) / MAX_COLUMN_LABELS)
    names = [_name(b.tag) if labels is None else labels[i] for i, b in list(enumerate(builds))[::every]]
    crowded = len(builds) > 4 or sum(map(len, names)) > 90  # about what the axis fits side by side
    tilt = dict(rotation=45 if len(builds) > 4 else 20, ha="right", rotation_mode="anchor") if crowded else {}
    ax.set_xticks(range(0, len(builds), every), names, fontsize=8, **tilt)
    ax.hlines(np.arange(n + 1) - 0.5, -0.5, len(builds) - 0.5, color="white", linewidth=1)
    ax.vlines(np.arange(len(builds) + 1) - 0.5, -0.5, n - 0.5, color="white", linewidth=1)
    ax.set_xlabel("build" if labels else "build (image tag)")
    ax.set_ylabel("Dockerfile step")
    ax.set_title("Build cache: once a step is rebuilt, every later step is rebuilt too")
    handles = [Patch(facecolor=REUSED, label="from the cache"), Patch(facecolor=NEW, label="rebuilt")]
    if no_step:
        handles.append(Patch(facecolor="lightgrey", hatch=NO_STEP_HATCH, edgecolor="white",
                             label="no step run (BuildKit:\nsettings only)"))
    if np.ma.is_masked(grid):
        handles.append(Patch(facecolor="white", edgecolor="grey", label="no such step in that build"))
    ax.legend(handles=handles,
              title="cell text: seconds" if n <= MAX_CELL_TEXT_ROWS else None, title_fontsize=8, **_LEGEND)
    return ax.figure


def _stacked(ax: Axes, names: list[str], first: list[int], second: list[int], labels: list[str],
             first_style: dict, second_style: dict) -> None:
    """One horizontal bar per name, ``first`` then ``second`` bytes (in MB), labelled at its end."""
    a, b, ys = np.array(first) / 1e6, np.array(second) / 1e6, range(len(names))
    ax.barh(ys, a, **first_style)
    ax.bar_label(ax.barh(ys, b, left=a, **second_style), labels, padding=4, fontsize=8)
    ax.set_yticks(ys, names)
    ax.set_xlim(0, max((a + b).max(), 1e-6) * 1.6)
    ax.invert_yaxis()
    ax.legend(**_LEGEND)


def push_bytes(*pushes: PushReport, ax: Axes | None = None) -> Figure:
    """Per push, two bars on a log scale: the compressed bytes it uploaded and those the registry already had.

    A log scale, so that a push of a few hundred bytes shows beside one of megabytes; each bar says its bytes.

    Args:
        *pushes: the pushes to compare, one pair of bars each, labelled by image, in this order.
        ax: axes to draw into; a new figure is made when None.

    Returns:
        The figure drawn into.
    """
    ax = _axes(ax, 2 * len(pushes))
    ys = np.arange(len(pushes)) * 2.6
    values = [p.uploaded_bytes for p in pushes] + [p.reused_bytes for p in pushes]
    low = min([v for v in values if v] or [1]) / 3  # a push that uploaded nothing draws no bar
    sent = ax.barh(ys, [max(p.uploaded_bytes, low) for p in pushes], color=NEW, label="uploaded (pushed)")
    kept = ax.barh(ys + 1, [max(p.reused_bytes, low) for p in pushes], color=REUSED,
                   label="not uploaded: the registry had it")
    ax.bar_label(sent, [f"uploaded {human(p.uploaded_bytes)}" for p in pushes], padding=3, fontsize=8)
    ax.bar_label(kept, [f"already there {human(p.reused_bytes)}" for p in pushes], padding=3, fontsize=8)
    ax.set_yticks(ys + 0.5, [f"push of\n{_name(p.repository)}:{p.tag}" for p in pushes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(low, max(values) * 300)
    ax.xaxis.set_major_locator(LogLocator(base=100))
    ax.xaxis.set_minor_locator(LogLocator(base=10))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_formatter(lambda x, _: human(x))
    ax.set_xlabel("layer bytes (compressed, log scale)")
    ax.set_title("Push: only new layers are uploaded; the registry reuses the rest")
    ax.legend(**_LEGEND)
    return ax.figure


def shared_bytes(sharing: Sharing, ax: Axes | None = None) -> Figure:
    """What the images of a `Sharing` report would take if each had its own copy of its layers, beside what
    they take with shared layers stored once; each bar split into shared and own bytes.

    Args:
        sharing: what `compare` returned for the images.
        ax: axes to draw into; a new figure is made when None.

    Returns:
        The figure drawn into.
    """
    images = list(dict.fromkeys(i for r in sharing.rows for i in r.images))
    shared = sum(r.size for r in sharing.rows if r.shared)
    own = sum(r.size for r in sharing.rows if not r.shared)
    copies = sum(r.size * len(r.images) for r in sharing.rows if r.shared)
    ax = _axes(ax, 2)
    _stacked(ax, [f"each image its own copy\n({len(images)} images)", "shared layers stored once"],
             [copies, shared], [own, own], [f"{human(copies + own)}", f"{human(shared + own)}"],
             dict(color=REUSED, hatch=SHARED_HATCH, label="in layers the images share"),
             dict(color=NEW, label="in layers only one image has"))
    ax.set_xlabel("bytes of the layers' files (MB, uncompressed)")
    ax.set_title(f"{', '.join(_name(i) for i in images)}: shared layers are stored once")
    return ax.figure


def journey(report: Journey, ax: Axes | None = None) -> Figure:
    """One bar per layer of an image, its compressed size on a log scale, coloured by whether the push sent it.

    Args:
        report: what `helpers.journey` returned for a build and the push of its image.
        ax: axes to draw into; a new figure is made when None.

    Returns:
        The figure drawn into.
    """
    ax = _axes(ax, len(report.rows))
    sizes = [max(r.compressed, 1) for r in report.rows]
    bars = ax.barh(range(len(sizes)), sizes, color=[NEW if r.uploaded else REUSED for r in report.rows])
    ax.bar_label(bars, [f"{'sent' if r.uploaded else 'not sent'}: {human(r.compressed)}" for r in report.rows],
                 padding=3, fontsize=8)
    ax.set_yticks(range(len(sizes)), [f"{r.step}. {_short(r.instruction, 28)}\n({'cached' if r.cached else 'built'}, "
                                      f"{r.push})" for r in report.rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(min(sizes) / 3, max(sizes) * 300)
    ax.xaxis.set_major_formatter(lambda x, _: human(x))
    ax.set_xlabel("layer size in the registry (compressed, log scale)")
    ax.set_ylabel("layer (step that made it)")
    ax.set_title(f"{_name(report.tag)}: reused layers were already in the registry; only new ones travel")
    ax.legend(handles=[Patch(facecolor=NEW, label="sent by the push"),
                       Patch(facecolor=REUSED, label="not sent: the registry had it")], **_LEGEND)
    return ax.figure


def line_order(good: list[BuildReport], bad: list[BuildReport], good_pushes: list[PushReport],
               bad_pushes: list[PushReport], axes: tuple[Axes, Axes] | None = None,
               labels: tuple[str, str] = ("COPY last (workshop order)", "COPY first"), changes: list[str] | None = None,
               title: str = "The same code changes cost far more when COPY comes before the install") -> Figure:
    """Cumulative rebuild seconds and uploaded bytes over the same series of changes, for two orders.

    Args:
        good, bad: the rebuilds after each change, one list per Dockerfile order, in change order.
        good_pushes, bad_pushes: the pushes after each change, likewise.
        axes: two axes to draw into (seconds, bytes); a new two-panel figure is made when None.
        labels: the two orders' names, ``good`` first.
        changes: what each change was (the file edited), for the x axis; numbered when None.
        title: the figure's title.

    Returns:
        The figure drawn into.
    """
    if axes is None:
        axes = Figure(figsize=(9, 3.5), layout="constrained").subplots(1, 2)
    numbers = np.arange(1, len(good) + 1)
    for series, label, colour in ((good, labels[0], REUSED), (bad, labels[1], NEW)):
        axes[0].plot(numbers, np.cumsum([b.seconds for b in series]), marker="o", color=colour, label=label)
    for series, colour in ((good_pushes, REUSED), (bad_pushes, NEW)):
        axes[1].plot(numbers, np.maximum(np.cumsum([p.uploaded_bytes for p in series]), 1), marker="o", color=colour)
    axes[0].set_ylabel("rebuild time, cumulative (s)")
    axes[1].set_yscale("log")  # a few hundred bytes a change beside megabytes
    axes[1].yaxis.set_major_locator(LogLocator(base=100))
    axes[1].yaxis.set_minor_formatter(NullFormatter())
    axes[1].yaxis.set_major_formatter(lambda y, _: human(y))
    axes[1].set_ylabel("bytes uploaded, cumulative (log)")
    for ax in axes:
        ax.set_xlabel("code change number" if changes is None else "file edited")
        if changes is None:
            ax.set_xticks(numbers)
        else:
            ax.set_xticks(numbers, [_short(c, 18) for c in changes], rotation=20)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[0].figure.suptitle(title)
    return axes[0].figure


def trial(result: Trial, axes: tuple[Axes, Axes] | None = None) -> Figure:
    """`line_order` for a `helpers.trial.Trial`: your Dockerfile and the advised one over the same edits."""
    edits = slice(1, None)  # the cold builds are where both start, not a change
    return line_order(result.builds["advised"][edits], result.builds["yours"][edits], result.pushes["advised"][edits],
                      result.pushes["yours"][edits], axes, ("advised order", "your order"), result.edits,
                      "The same edits through your Dockerfile and the advised one")


def _layer_boxes(history: History) -> list[tuple[str, int]]:
    """An image's layers base first, as (what made it, bytes of its files)."""
    return [(_short(_layer_name(r), 34), r.files_bytes)
            for r in reversed(history.rows) if r.diff_id is not None]


def union(history: History, rw_bytes: int, copied: tuple[str, int, int] | None = None, store: str = "",
          ax: Axes | None = None) -> Figure:
    """The workshop's first picture, measured: a container is its image's read-only layers, stacked by the union
    file system, with a thin read/write layer of its own on top, into which a changed file is copied up.

    Args:
        history: the image's history (its layers, base first, with their bytes).
        rw_bytes: the container's read/write layer, in bytes (``SizeRw``).
        copied: a file the container changed: its path, its bytes, and the index (base = 0) of the image
            layer it was copied up from.
        store: how the engine stacks layers, for the title (``overlay2``).
        ax: axes to draw into; a new figure is made when None.

    Returns:
        The figure drawn into.
    """
    layers = _layer_boxes(history)
    ax = _axes(ax, len(layers) + 2)
    for level, (made, size) in enumerate(layers):
        ax.add_patch(Rectangle((0, level), 6, 0.9, facecolor=REUSED, edgecolor="white"))
        ax.text(3, level + 0.45, f"{made}   ({human(size)})", ha="center", va="center", fontsize=8)
    top = len(layers) + 0.3
    ax.add_patch(Rectangle((0, top), 6, 0.6, facecolor=NEW, edgecolor="grey", linestyle="--"))
    ax.text(3, top + 0.3, f"container's read/write layer ({human(rw_bytes)})", ha="center", va="center", fontsize=8)
    if copied is not None:
        path, size, level = copied
        ax.annotate(f"copy-up on first write:\n{path.rsplit('/', 1)[-1]} ({human(size)})", xy=(6.1, top + 0.3),
                    xytext=(6.4, level + 0.45), fontsize=8, va="center",
                    arrowprops=dict(arrowstyle="->", color=NEW, connectionstyle="arc3,rad=0.3"))
    ax.text(-0.2, len(layers) / 2, "image: read-only layers, shared", rotation=90, ha="right", va="center",
            fontsize=8)
    ax.set_xlim(-0.6, 9.5)
    ax.set_ylim(-0.2, top + 0.9)
    ax.set_axis_off()
    how = f" ({store})" if store else ""
    ax.set_title(f"A running container: the image's layers, stacked by the union file system{how}, and a thin "
                 "read/write layer on top", fontsize=9)
    return ax.figure


def stacks(*histories: History, ax: Axes | None = None) -> Figure:
    """The workshop's second picture, measured: images side by side as stacks of layers, the layers they share
    (same digest, same place) drawn once across them.

    Args:
        *histories: the images' histories, one stack each, in this order.
        ax: axes to draw into; a new figure is made when None.

    Returns:
        The figure drawn into.
    """
    columns = [[r for r in reversed(h.rows) if r.diff_id is not None] for h in histories]
    sizes = {r.diff_id: r.files_bytes for rows in columns for r in rows}
    ax = _axes(ax, max(map(len, columns)) + 2)
    width = 4.0
    for level in range(max(map(len, columns))):
        here = [rows[level] if level < len(rows) else None for rows in columns]
        ids = {r.diff_id for r in here if r is not None}
        if len(ids) == 1 and None not in here and len(histories) > 1:
            r = here[0]
            ax.add_patch(Rectangle((0, level), width * len(histories), 0.9, facecolor=REUSED, hatch=SHARED_HATCH,
                                   edgecolor="white"))
            label = f"{_short(_layer_name(r), 40)} ({human(sizes[r.diff_id])}) - stored once"
            ax.text(width * len(histories) / 2, level + 0.45, label, ha="center", va="center", fontsize=8)
            continue
        for col, r in enumerate(here):
            if r is not None:
                ax.add_patch(Rectangle((col * width, level), width - 0.1, 0.9, facecolor=NEW, edgecolor="white"))
                label = f"{_short(_layer_name(r), 24)}\n({human(sizes[r.diff_id])})"
                ax.text(col * width + width / 2, level + 0.45, label, ha="center", va="center", fontsize=7)
    for col, h in enumerate(histories):
        ax.text(col * width + width / 2, max(map(len, columns)) + 0.2, _name(h.image), ha="center", fontsize=9,
                fontweight="bold")
    ax.set_xlim(-0.2, width * len(histories) + 0.2)
    ax.set_ylim(-0.2, max(map(len, columns)) + 0.8)
    ax.set_axis_off()
    ax.set_title("Images share the layers they have in common: stored once on disk, pulled and pushed once",
                 fontsize=9)
    ax.legend(handles=[Patch(facecolor=REUSED, hatch=SHARED_HATCH, label="shared by both"),
                       Patch(facecolor=NEW, label="this image's own")], **_LEGEND)
    return ax.figure
