"""A throwaway registry for tests and recordings: empty, on a free loopback port, gone afterwards."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
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
