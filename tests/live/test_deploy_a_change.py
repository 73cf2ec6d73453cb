"""The workshop's Lab 2, steps 1-6, on a real engine and a real registry, in order."""
from __future__ import annotations

import pytest

from helpers.store import BLOCK

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def run(lab):
    """Everything the workshop does, once; the tests below check what each step showed."""
    done = {"dockerfile": lab.write_dockerfile(), "app_v1": lab.write_app("hello world!")}
    done["build_v1"] = lab.build("v1", nocache=True)
    app = lab.run(lab.image("v1"))
    done["get_v1"], done["logs_v1"] = lab.get(app), lab.logs(app)
    lab.stop(app)
    done["push_v1"] = lab.push(lab.image("v1"))
    lab.write_app("hello beautiful world!")
    done["build_v2"] = lab.build("v2")
    app = lab.run(lab.image("v2"))
    done["get_v2"] = lab.get(app)
    lab.exec(app, "sh", "-c", "echo '# edited in the container' >> /app.py && touch /tmp/new")
    done["diff"], done["sizes"] = lab.diff(app), lab.sizes(app)
    lab.stop(app)
    done["push_v2"] = lab.push(lab.image("v2"))
    done["history_v1"], done["history_v2"] = lab.history(lab.image("v1")), lab.history(lab.image("v2"))
    return done


def test_v1_cold_build_runs_every_step_as_the_workshop_prints_them(run):
    assert [s.instruction.split()[0] for s in run["build_v1"].rows] == ["FROM", "RUN", "CMD", "COPY"]
    assert run["build_v1"].cached == [True, False, False, False]
    assert [line.split(" :")[0] for line in run["build_v1"].printed.splitlines() if line.startswith("Step ")] == \
        ["Step 1/4", "Step 2/4", "Step 3/4", "Step 4/4"]


def test_v1_answers_hello_world_and_logs_the_request(run):
    assert run["get_v1"] == "hello world!"
    assert '"GET / HTTP/1.1" 200' in run["logs_v1"]


def test_first_push_uploads_every_layer(run):
    """Every layer is new to the repository: uploaded, or for the base mounted, when an earlier test of the session
    pushed the base to this registry (the engine then links it in from that repository, as the lesson says)."""
    push = run["push_v1"]
    assert push.rows[0].outcome in ("pushed", "mounted") and [r.outcome for r in push.rows[1:]] == ["pushed"] * 2
    assert push.uploaded_bytes == sum(r.size for r in push.rows if r.outcome == "pushed") > 1_000_000


def test_v2_reuses_run_and_cmd_and_rebuilds_copy(run):
    build = run["build_v2"]
    assert build.step("RUN").cached and build.step("CMD").cached
    assert not build.step("COPY").cached
    assert build.step("RUN").diff_id == run["build_v1"].step("RUN").diff_id


def test_v2_answers_the_change(run):
    assert run["get_v2"] == "hello beautiful world!"


def test_second_push_uploads_exactly_the_changed_layer(run):
    push = run["push_v2"]
    assert push.count("pushed") == 1 and push.count("exists") == 2
    pushed = next(r for r in push.rows if r.outcome == "pushed")
    assert pushed.diff_id == run["build_v2"].step("COPY").diff_id
    assert push.uploaded_bytes < 1_000


def test_v1_and_v2_share_all_layers_but_the_app(run):
    v1, v2 = run["history_v1"].layers, run["history_v2"].layers
    assert v1[:2] == v2[:2] and v1[2] != v2[2]


def test_container_layer_holds_only_what_the_container_changed(run):
    diff = run["diff"]
    assert diff.kind_of("/app.py") == "changed"
    assert diff.kind_of("/tmp/new") == "added"
    blocks = BLOCK * len(diff.rows)  # the containerd store counts each changed path's disk blocks
    assert 0 < run["sizes"]["size_rw"] < 10_000 + blocks < run["sizes"]["size_root_fs"]
