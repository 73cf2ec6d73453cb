"""Starting the app: a host port taken between the check and the start is a retry on a port Docker picks."""
from __future__ import annotations

import pytest

from helpers.containers import start
from helpers.errors import ContainerFailed, PortBusy


class Engine:
    """Answers like an engine where another learner's container takes the port just before ours starts."""

    def __init__(self, taken: bool):
        self.taken, self.runs, self.clock = taken, [], 0.0

    def monotonic(self) -> float:
        self.clock += 0.1
        return self.clock

    def port_free(self, port: int) -> bool:
        return True  # free when asked ...

    def run(self, image, labels, ports=None, command=None) -> str:
        self.runs.append(ports)
        if self.taken and len(self.runs) == 1:  # ... and taken when the container starts
            raise PortBusy("Bind for 127.0.0.1:5001 failed: port is already allocated")
        return f"c{len(self.runs)}"

    def inspect_container(self, cid, size=False) -> dict:
        port = "5001" if self.runs[-1]["5000/tcp"][1] else "49153"
        return {"NetworkSettings": {"Ports": {"5000/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}]}},
                "State": {"Running": True, "ExitCode": 0}}

    def http_get(self, url, timeout=2.0):
        return 200, "hello world!"

    def logs(self, cid) -> str:
        return ""


@pytest.mark.parametrize("taken, port, note", [
    (False, 5001, "host port 5001 -> container port 5000"),
    (True, 49153, "host port 5001 was taken as the app started, so Docker picked port 49153"),
])
def test_a_port_taken_as_the_app_starts_is_retried_on_one_docker_picks(taken, port, note):
    engine = Engine(taken)
    app = start(engine, "x:v1", {}, port=5001)
    assert (app.host_port, app.note) == (port, note)
    assert [p["5000/tcp"] for p in engine.runs] == [("127.0.0.1", 5001)] + ([("127.0.0.1", None)] if taken else [])


def test_an_app_that_exits_at_once_is_a_container_failure():
    engine = Engine(False)
    engine.inspect_container = lambda cid, size=False: {"NetworkSettings": {"Ports": {}},
                                                        "State": {"Running": False, "ExitCode": 1}}
    with pytest.raises(ContainerFailed, match="exited with code 1"):
        start(engine, "x:v1", {}, port=5001)


def test_a_container_whose_published_port_stays_silent_is_replaced_once_and_said():
    from helpers.errors import NotAnswering
    engine = Engine(False)
    removed = []
    engine.remove_container = removed.append

    def http_get(url, timeout=2.0):
        if len(engine.runs) == 1:
            raise NotAnswering(f"Nothing answers at {url}.")
        return 200, "hello world!"

    engine.http_get = http_get
    app = start(engine, "x:v1", {}, port=5001, wait=2.0)
    assert removed == ["c1"] and app.id == "c2"
    assert app.note.endswith("the first container's port 5001 never answered, so this one replaced it")


def test_an_app_silent_in_two_containers_is_a_container_failure_within_the_wait():
    from helpers.errors import NotAnswering
    engine = Engine(False)
    engine.remove_container = lambda cid: None

    def silent(url, timeout=2.0):
        raise NotAnswering(f"Nothing answers at {url}.")

    engine.http_get = silent
    with pytest.raises(ContainerFailed, match="did not answer .* within 2 s, in two containers"):
        start(engine, "x:v1", {}, port=5001, wait=2.0)
