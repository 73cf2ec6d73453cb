"""Image history, layer digests, sharing between images and docker diff, from recordings."""
from __future__ import annotations

import pytest

from helpers.containers import parse_diff
from helpers.layers import compare, instruction_of, makes_layer, parse_history
from tests.conftest import load


@pytest.mark.parametrize("image", ["v1", "v2"])
def test_history_assigns_every_layer_digest_to_the_row_that_made_it(image):
    history = parse_history(image, load(f"history_{image}"), load(f"inspect_{image}"))
    made = [r.diff_id for r in reversed(history.rows) if r.diff_id]
    assert made == history.layers == load(f"inspect_{image}")["RootFS"]["Layers"]
    assert history.size == sum(h["Size"] for h in load(f"history_{image}"))


def test_history_leaves_digests_unset_when_counts_disagree():
    inspect = dict(load("inspect_v1"), RootFS={"Layers": ["sha256:only-one"]})
    assert all(r.diff_id is None for r in parse_history("v1", load("history_v1"), inspect).rows)


@pytest.mark.parametrize("created_by, size, expected", [
    ("/bin/sh -c #(nop)  CMD [\"python\" \"app.py\"]", 0, False),
    ("/bin/sh -c #(nop)  LABEL a=b", 0, False),
    ("/bin/sh -c #(nop) COPY file:abc in /app.py ", 0, True),
    ("/bin/sh -c pip install flask", 0, True),
    ("", 188829909, True),
])
def test_which_history_entries_make_a_layer(created_by, size, expected):
    assert makes_layer(created_by, size) is expected


def test_instruction_of_reads_like_the_dockerfile():
    assert instruction_of("/bin/sh -c pip install flask") == "RUN pip install flask"
    assert instruction_of('/bin/sh -c #(nop)  CMD ["python" "app.py"]') == 'CMD ["python" "app.py"]'


def test_v1_and_v2_share_base_and_install_layers_but_not_the_app():
    sharing = compare([parse_history("v1", load("history_v1"), load("inspect_v1")),
                       parse_history("v2", load("history_v2"), load("inspect_v2"))])
    assert [r.shared for r in sharing.rows] == [True, True, False, False]
    assert sharing.rows[1].instruction == "RUN pip install flask"
    assert sharing.shared_bytes > 100 * sharing.unique_bytes


def test_sharing_on_the_containerd_store_counts_the_files_bytes_not_the_disk_blocks():
    histories = []
    for image in ("v1", "v2"):
        inspect = load(f"inspect_{image}_containerd")
        files_bytes = {d: 1000 + n for n, d in enumerate(inspect["RootFS"]["Layers"])}  # as read from the export
        histories.append(parse_history(image, load(f"history_{image}_containerd"), inspect, files_bytes))
    assert any(r.size % 4096 == 0 and r.size != r.content for r in histories[0].rows if r.diff_id)  # disk blocks
    sharing = compare(histories)
    assert [r.size for r in sharing.rows] == [1000, 1001, 1002, 1002]
    assert sharing.shared_bytes == 2001


def test_docker_diff_kinds():
    changes = parse_diff("c" * 64, load("diff_app"))
    assert changes.kind_of("/app.py") == "changed"
    assert changes.kind_of("/tmp/new") == "added"
    assert changes.kind_of("/usr/bin/apt") == "deleted"
    assert [c.path for c in changes.rows] == sorted(c.path for c in changes.rows)


def test_a_classic_workdir_that_made_its_folder_holds_a_layer_of_size_0():
    history = [{"Id": "sha256:c", "CreatedBy": '/bin/sh -c #(nop)  CMD ["x"]', "Size": 0},
               {"Id": "sha256:w", "CreatedBy": "/bin/sh -c #(nop) COPY dir:ab in /deps ", "Size": 500},
               {"Id": "sha256:e", "CreatedBy": "/bin/sh -c #(nop)  ENV A=1", "Size": 0},
               {"Id": "sha256:d", "CreatedBy": "/bin/sh -c #(nop) WORKDIR /app", "Size": 0},
               {"Id": "sha256:r", "CreatedBy": "/bin/sh -c true", "Size": 0},
               {"Id": "sha256:b", "CreatedBy": "", "Size": 1000}]
    found = parse_history("x", history, {"RootFS": {"Layers": ["sha256:L0", "sha256:L1", "sha256:L2"]}})
    assert [r.diff_id for r in found.rows] == [None, "sha256:L2", None, "sha256:L1", None, "sha256:L0"]
    empty_workdir = parse_history("x", history, {"RootFS": {"Layers": ["sha256:L0", "sha256:L1"]}})
    assert [r.diff_id for r in empty_workdir.rows] == [None, "sha256:L1", None, None, None, "sha256:L0"]
