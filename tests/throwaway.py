"""A throwaway registry for tests and recordings: empty, on a free loopback port, gone afterwards."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from helpers.settings import REGISTRY_CONFIG

AUTH = "auth:\n  htpasswd:\n    realm: layer-lab-tests\n    path: {path}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(address: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if "Docker-Distribution-Api-Version" in requests.get(f"http://{address}/v2/", timeout=1).headers:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the throwaway registry at {address} did not answer")


@contextlib.contextmanager
def throwaway_registry(users: dict[str, str] | None = None) -> Iterator[str]:
    """Run an empty registry (Debian's docker-registry) and yield its ``localhost:PORT``.

    Args:
        users: if given, the registry demands these user names and passwords (htpasswd, bcrypt).
    """
    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry is not installed: run `make up` (or apt-get install docker-registry)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="layer-lab-registry-") as home:
        config = Path(home) / "config.yml"
        config.write_text(REGISTRY_CONFIG.format(root=Path(home) / "data", port=port))
        if users is not None:
            import bcrypt
            htpasswd = Path(home) / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt()).decode()}\n"
                                        for u, p in users.items()))
            with open(config, "a") as out:
                out.write(AUTH.format(path=htpasswd))
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait(f"127.0.0.1:{port}")
            yield f"localhost:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


class CuttingProxy:
    """A TCP proxy on a free loopback port in front of a registry that goes away mid-push: once ``cut_after``
    bytes have passed towards the registry, it drops every connection and refuses new ones until `resume`.

    Unlike stopping the registry after a delay, it cuts every push in the middle, however fast the engine
    uploads (the containerd store sends the base layer in a fraction of a second).
    """

    def __init__(self, target_port: int, cut_after: int):
        self.target_port, self.cut_after, self.sent = target_port, cut_after, 0
        self.cut = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut.is_set():
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, counted: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if counted:
                    self.sent += len(data)
                    if self.sent > self.cut_after and not self.cut.is_set():
                        self._cut()
                        return
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def _cut(self) -> None:
        self.cut.set()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
        self.connections = []

    def resume(self) -> None:
        """Let connections through again, with no limit."""
        self.cut_after = float("inf")
        self.cut.clear()

    def close(self) -> None:
        self.listener.close()
        self._cut()
