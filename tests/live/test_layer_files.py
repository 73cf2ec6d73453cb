"""Each layer's files on a real engine: v1 to v2 changes only /app.py; a deleted big file still ships.

The timing test asserts nothing about speed (timings belong in benchmarks): run with ``-s`` to see
the stream reader's median next to `docker save` plus extracting the export and every layer.
"""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import time

import pytest

from helpers import store
from helpers.export import read_export
from helpers.files import changes_between, parse_layer_files, waste
from helpers.layer_folders import read_layers
from helpers.recording import RecordingEngine, ReplayEngine, read

pytestmark = pytest.mark.live

BIG = 20_000_000
SAVE_AND_EXTRACT = """set -e
docker save "$1" -o "$2/image.tar"
mkdir "$2/image"
tar -xf "$2/image.tar" -C "$2/image"
python3 -c 'import json, sys; print("\\n".join(json.load(open(sys.argv[1]))[0]["Layers"]))' "$2/image/manifest.json" |
while read -r layer; do mkdir -p "$2/layers/$layer"; tar -xf "$2/image/$layer" -C "$2/layers/$layer"; done
"""


@pytest.fixture(scope="module")
def images(lab):
    """v1 and v2 of the workshop app, and an image that writes /big.bin in one step and deletes it in the next."""
    lab.write_dockerfile()
    lab.write_app("hello world!")
    lab.build("v1")
    lab.write_app("hello beautiful world!")
    lab.build("v2")
    lab.write_dockerfile(f"FROM {lab.base_image}\nRUN head -c {BIG} /dev/urandom > /big.bin\nRUN rm /big.bin\n",
                         "Dockerfile.waste")
    lab.build("waste", dockerfile="Dockerfile.waste")
    return {tag: lab.image(tag) for tag in ("v1", "v2", "waste")}


@pytest.fixture(scope="module")
def files(lab, images):
    return {tag: parse_layer_files(lab.engine.layer_files(image)) for tag, image in images.items()}


def test_layers_match_the_image_and_its_history(lab, images, files):
    inspect = lab.engine.inspect_image(images["v1"])
    assert [r.diff_id for r in files["v1"].rows] == inspect["RootFS"]["Layers"]
    assert [r.instruction.split()[0] for r in files["v1"].rows[1:]] == ["RUN", "COPY"]
    assert files["v1"].rows[0].files > 1000
    assert list(files["v1"].rows[2].entries) == ["/app.py"]


def test_v1_to_v2_changes_exactly_app_py(files, images):
    shared = [r.diff_id for r in files["v1"].rows[:-1]] == [r.diff_id for r in files["v2"].rows[:-1]]
    assert shared, "v2 must reuse v1's base and RUN layers for this comparison"
    changes = changes_between(files["v1"], files["v2"])
    print(f"\n{changes.title}\n{changes.frame.to_string(index=False)}")
    assert [(r.path, r.change) for r in changes.rows] == [("/app.py", "changed")]
    row = changes.rows[0]
    assert row.size_after - row.size_before == len("beautiful ")
    assert (row.image, row.layer) == (images["v2"].rsplit("/", 1)[-1], 2) and row.instruction.startswith("COPY ")


def test_a_big_file_deleted_in_a_later_step_is_wasted(files):
    report = waste(files["waste"])
    print(f"\n{report.title}\n{report.frame.to_string(index=False)}")
    big = report.rows[0]
    assert (big.path, big.bytes, big.how) == ("/big.bin", BIG, "deleted")
    assert big.instruction.startswith("RUN head -c") and big.by_instruction == "RUN rm /big.bin"
    assert report.wasted_bytes == BIG and report.efficiency < 0.95
    assert waste(files["v1"]).wasted_bytes == 0


def test_layer_files_records_each_layer_once_and_replays(lab, images, tmp_path):
    path = tmp_path / "recording.jsonl"
    recorder = RecordingEngine(lab.engine, path, {"registry": lab.registry, "recorded": "now"})
    live = [recorder.layer_files(images[name]) for name in ("waste", "v1")]
    once = len(path.read_text())
    recorder.layer_files(images["v1"])
    assert len(path.read_text()) - once < 2_000, "a second export of the same layers is stored as digests"
    replayed = ReplayEngine(read(path), "test")
    assert [replayed.layer_files(images[name]) for name in ("waste", "v1")] == json.loads(json.dumps(live))


def _median_seconds(action, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _save_and_extract(image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="layer-lab-save-") as folder:
        subprocess.run(["bash", "-c", SAVE_AND_EXTRACT, "save", image, folder], check=True)


def test_reading_the_stream_vs_save_and_extract(lab, images, files):
    """Prints both medians of 3 for the lab's v1 (about 195 MB); asserts only that both ran."""
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI to compare with")
    image = images["v1"]
    size = lab.engine.inspect_image(image)["Size"]
    reader = _median_seconds(lambda: lab.engine.layer_files(image))
    cli = _median_seconds(lambda: _save_and_extract(image))
    print(f"\n{image} ({size / 1e6:.0f} MB): Engine.layer_files median {reader:.2f} s; "
          f"docker save + tar -x of the export and of every layer median {cli:.2f} s (3 runs each)")
    assert reader > 0 and cli > 0


ODD_LAYERS = """FROM {base}
RUN mkdir -p /odd/keep /odd/replaced /odd/gone && echo a > /odd/keep/a && echo b > /odd/replaced/b \\
 && echo c > /odd/gone/c && echo d > "/odd/with space é" && ln /odd/keep/a /odd/keep/a-link \\
 && ln -s keep/a /odd/symlink && mkfifo /odd/fifo \\
 && python -c "import socket; socket.socket(socket.AF_UNIX).bind('/odd/socket')"
RUN rm -rf /odd/gone /odd/replaced /odd/keep/a && mkdir /odd/replaced && echo new > /odd/replaced/new \\
 && ln "/odd/with space é" /odd/keep/z-link && touch /odd/keep/a-link
"""


def test_layer_folders_list_what_the_export_lists(lab):
    """Read in place (overlay2 here) or not, each layer's entries equal those of `docker save`'s stream:
    whiteouts, an opaque folder, hard and symbolic links, a fifo, a socket, a name with a space."""
    lab.write_dockerfile(ODD_LAYERS.format(base=lab.base_image), "Dockerfile.odd")
    image = lab.build("odd", dockerfile="Dockerfile.odd").tag
    inspected, info = lab.engine.api.inspect_image(image), lab.engine.api.info()
    in_place = read_layers(image, inspected, info)
    exported = read_export(lab.engine.api.get_image(image), image)
    if store.kind(lab.engine.info()) == store.CONTAINERD:
        assert in_place is None, "the containerd store keeps no overlay2 layer folders to read"
        return
    assert in_place is not None, "Docker 20.10 with overlay2 on this machine: the folders are read in place"
    assert lab.engine.layer_files(image)["layout"] == "overlay2 folders"
    for folder, tar in zip(in_place["layers"], exported["layers"], strict=True):
        assert {k: v for k, v in folder.items() if k != "member"} == {k: v for k, v in tar.items() if k != "member"}
    top = dict((path, (size, kind)) for path, size, kind in in_place["layers"][-1]["entries"])
    assert {"/odd/.wh.gone", "/odd/keep/.wh.a", "/odd/replaced/.wh..wh..opq"} <= set(top)
    assert "/odd/socket" not in dict((p, s) for p, s, _ in in_place["layers"][-2]["entries"])
