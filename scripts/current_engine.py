"""A current Docker beside the host's engine: Debian sid's docker.io with its own containerd and the
containerd image store on, run from a root file system of its own in a private mount namespace.

`scripts/lab_up.py --engine current` (`make up ENGINE=current`) calls `ensure`; `--stop` calls `stop`.
Standard library only. The facts this follows (mount namespace and pivot_root, its own containerd,
data root, socket and bridge, no iptables of its own) are in the team's notes on these machines.
Everything lives under ``.lab/engines/current/``: ``rootfs/`` (the engine's whole world, its images
included) and ``run/`` (its socket, pid files and logs, bound into the namespace as ``/lab``).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SUITE = "sid"
"""The Debian suite whose docker.io (28.5), containerd (2.1) and buildx (0.29) the engine runs."""
PACKAGES = "docker.io,docker-cli,docker-buildx,containerd,runc,iptables,ca-certificates,tini,mount,procps"
BRIDGE = "lab-current0"
SUBNET = "172.30.99.0/24"
GATEWAY = "172.30.99.1/24"
TAG = "layer-lab-current"
"""The comment on the NAT and forward rules this engine needs, so they can be found and removed."""
CONTAINERD_CONFIG = """\
version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "/run/containerd/containerd.sock"
"""
DAEMON_JSON = {"features": {"containerd-snapshotter": True}}
INSIDE = r"""
set -eu
R=$1; RUN=$2
mount --bind "$R" "$R"
mkdir -p "$R/proc" "$R/sys" "$R/dev" "$R/run" "$R/lab" "$R/.oldroot"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs tmpfs "$R/run"
mount --bind "$RUN" "$R/lab"
cd "$R"
pivot_root . .oldroot
umount -l /.oldroot
cd /
containerd --config /etc/containerd/layer-lab.toml >/lab/containerd.log 2>&1 &
echo $! > /lab/containerd.pid
for i in $(seq 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
exec dockerd --containerd /run/containerd/containerd.sock --data-root /var/lib/docker --exec-root /run/docker \
  --pidfile /lab/dockerd.pid --host unix:///lab/docker.sock --iptables=false --ip6tables=false \
  --bridge BRIDGE --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent TAG >/lab/dockerd.log 2>&1
""".replace("BRIDGE", BRIDGE).replace("TAG", TAG)
"""Run by ``unshare --mount`` as ``sh -c INSIDE sh ROOTFS RUN``: the namespace's root becomes the root file
system (a chroot is not enough: ``docker exec`` lands on the namespace's root), then containerd and dockerd."""


class EngineError(Exception):
    """The current engine could not be brought up; the message names the cause and the fix."""


def home(state: Path) -> Path:
    return state / "engines" / "current"


def socket_path(state: Path) -> Path:
    return home(state) / "run" / "docker.sock"


def docker_host(state: Path) -> str:
    """The ``DOCKER_HOST`` that points the docker CLI, the SDK and the notebooks at this engine."""
    return f"unix://{socket_path(state)}"


def buildx(state: Path) -> Path:
    """sid's buildx in the engine's root file system; it runs on the host too, as a CLI plugin or standalone."""
    return home(state) / "rootfs" / "usr/libexec/docker/cli-plugins/docker-buildx"


def _docker(state: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", "--host", docker_host(state), *args], text=True, capture_output=True, **kw)


def answers(state: Path) -> bool:
    if not socket_path(state).is_socket():
        return False
    try:
        return _docker(state, "version", "--format", "{{.Server.Version}}", timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _sid_sources() -> str:
    """The host's first Debian entry (its URIs and keyring), pointed at sid: no mirror host is written here."""
    text = Path("/etc/apt/sources.list.d/debian.sources").read_text()
    for paragraph in re.split(r"\n[ \t]*\n", text):
        fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*)$", paragraph, re.M))
        if "deb" in fields.get("Types", "").split() and "security" not in fields.get("URIs", ""):
            keyring = f"Signed-By: {fields['Signed-By']}\n" if fields.get("Signed-By") else ""
            return f"Types: deb\nURIs: {fields['URIs']}\nSuites: {SUITE}\nComponents: main\n{keyring}"
    raise EngineError("/etc/apt/sources.list.d/debian.sources names no Debian archive to build the engine from.")


def _heartbeat(proc: subprocess.Popen, what: str, say: Callable[[str], None]) -> int:
    started = time.monotonic()
    while proc.poll() is None:
        time.sleep(5)
        if proc.poll() is None:
            say(f"  ... still {what} ({time.monotonic() - started:.0f} s)")
    return proc.returncode


def build_rootfs(state: Path, say: Callable[[str], None]) -> None:
    """Debian sid with docker.io, containerd, runc and buildx, built by mmdebstrap (a few minutes, once)."""
    rootfs, log = home(state) / "rootfs", home(state) / "mmdebstrap.log"
    partial = rootfs.with_name("rootfs.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    say(f"building a root file system with Debian {SUITE}'s docker.io, containerd and buildx (a few minutes) ...")
    with open(log, "w") as out:
        proc = subprocess.Popen(["mmdebstrap", "--variant=apt", "--quiet", f"--include={PACKAGES}",
                                 "--aptopt=Acquire::Check-Valid-Until \"false\"",
                                 "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
                                 SUITE, str(partial), "-"],
                                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, text=True)
        proc.stdin.write(_sid_sources())
        proc.stdin.close()
        code = _heartbeat(proc, "building the engine's root file system", say)
    if code != 0:
        tail = "\n    ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
        shutil.rmtree(partial, ignore_errors=True)
        raise EngineError(f"mmdebstrap could not build the current engine's root file system:\n    {tail}\n"
                          "  Check that apt-get reaches Debian's archive, then run `make up ENGINE=current` again.")
    partial.rename(rootfs)


def _configure(rootfs: Path) -> None:
    (rootfs / "etc/containerd").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/containerd/layer-lab.toml").write_text(CONTAINERD_CONFIG)
    (rootfs / "etc/docker").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/docker/daemon.json").write_text(json.dumps(DAEMON_JSON) + "\n")
    resolv = rootfs / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)  # may be a link into the host's /run
    shutil.copyfile("/etc/resolv.conf", resolv)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], text=True, capture_output=True, check=check)


RULES = [
    ("nat", "POSTROUTING", ["-s", SUBNET, "!", "-o", BRIDGE, "-j", "MASQUERADE"]),
    ("filter", "FORWARD", ["-i", BRIDGE, "-j", "ACCEPT"]),
    ("filter", "FORWARD", ["-o", BRIDGE, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]),
]
"""What the engine's containers need to reach the network (dockerd runs with ``--iptables=false``, so it
leaves the host engine's chains alone): masquerade its subnet, forward in and out. Forward rules go first:
the host engine's dockerd sets the FORWARD policy to DROP."""


def _iptables(table: str, action: str, chain: str, rule: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["iptables", "-w", "-t", table, action, chain, *rule, "-m", "comment", "--comment", TAG],
                          text=True, capture_output=True)


def _network_up() -> None:
    """The engine's own bridge on its own subnet, and the tagged rules it needs; both idempotent."""
    if _ip("link", "show", BRIDGE, check=False).returncode != 0:
        routes = _ip("-4", "route").stdout
        if SUBNET.split("/")[0].rsplit(".", 1)[0] + "." in routes:
            raise EngineError(f"The subnet {SUBNET} is already routed on this machine; the current engine needs it "
                              f"for its bridge {BRIDGE}.")
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", GATEWAY, "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")
    for table, chain, rule in RULES:
        if _iptables(table, "-C", chain, rule).returncode != 0:
            done = _iptables(table, "-A" if table == "nat" else "-I", chain, rule)
            if done.returncode != 0:
                raise EngineError(f"iptables refused a rule the current engine needs: {done.stderr.strip()}")


def _network_down() -> None:
    for table, chain, rule in RULES:
        while _iptables(table, "-D", chain, rule).returncode == 0:
            pass
    _ip("link", "delete", BRIDGE, check=False)


def start(state: Path, say: Callable[[str], None]) -> None:
    """Start containerd and dockerd in a mount namespace whose root is the engine's root file system."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise EngineError("The current engine needs root and util-linux's unshare (a mount namespace of its own).")
    rootfs, run = home(state) / "rootfs", home(state) / "run"
    _configure(rootfs)
    _network_up()
    run.mkdir(parents=True, exist_ok=True)
    socket_path(state).unlink(missing_ok=True)
    say(f"starting Docker {SUITE} with the containerd image store in a mount namespace of its own ...")
    with open(run / "unshare.log", "ab") as out:
        subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", INSIDE, "sh",
                          str(rootfs), str(run)], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    deadline = time.monotonic() + 60
    while not answers(state):
        if time.monotonic() > deadline:
            tail = "\n    ".join((run / "dockerd.log").read_text(errors="replace").splitlines()[-5:]) \
                if (run / "dockerd.log").is_file() else "(no log)"
            raise EngineError(f"The current engine did not answer within 60 s:\n    {tail}")
        time.sleep(0.5)


def _pids(state: Path) -> list[int]:
    """The pids of every process in the engine's mount namespace, found from dockerd's or containerd's pid file
    (dockerd removes its own when it stops, leaving containerd running)."""
    namespaces = set()
    for name in ("dockerd.pid", "containerd.pid"):
        with contextlib.suppress(OSError, ValueError):
            namespaces.add(os.readlink(f"/proc/{int((home(state) / 'run' / name).read_text())}/ns/mnt"))
    namespaces.discard(os.readlink("/proc/self/ns/mnt"))  # a stale pid now used by a process of the host's
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if os.readlink(proc / "ns/mnt") in namespaces:
                found.append(int(proc.name))
    return found


def stop(state: Path) -> str:
    """Stop dockerd, containerd and what runs beside them, and remove the bridge and the rules."""
    pids = _pids(state)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 15
        while (pids := [p for p in pids if Path(f"/proc/{p}").exists()]) and time.monotonic() < deadline:
            time.sleep(0.2)
    _network_down()
    socket_path(state).unlink(missing_ok=True)
    return "stopped" if not pids else f"stopped, but processes {pids} would not end"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_base(state: Path, base: str, registry_config: str, say: Callable[[str], None]) -> None:
    """Give the engine ``base`` as a pull would: through a registry of its own for the move, so its layers are
    stored compressed, as on a learner's engine (``docker save | docker load`` would store them uncompressed
    and every first push would upload them so). The lab's own registry is not used: the host engine would
    then remember that repository and mount from it in later pushes."""
    binary = shutil.which("docker-registry")
    if binary is None:
        raise EngineError("docker-registry is missing: run `make up` first (it installs it).")
    port = _free_port()
    moved = f"localhost:{port}/{base}"
    say(f"moving the base image {base} into the current engine through a registry of its own ...")
    with tempfile.TemporaryDirectory(prefix="layer-lab-move-") as tmp:
        config = Path(tmp) / "config.yml"
        config.write_text(registry_config.format(root=Path(tmp) / "data", port=port))
        registry = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                time.sleep(0.1)
            steps = [(["docker", "tag", base, moved]), (["docker", "push", moved]),
                     (["docker", "--host", docker_host(state), "pull", moved]),
                     (["docker", "--host", docker_host(state), "tag", moved, base]),
                     (["docker", "--host", docker_host(state), "rmi", moved]), (["docker", "rmi", moved])]
            for argv in steps:
                done = subprocess.run(argv, text=True, capture_output=True, timeout=600)
                if done.returncode != 0:
                    raise EngineError(f"`{' '.join(argv)}` failed: {(done.stderr or done.stdout).strip()[-300:]}")
        finally:
            registry.terminate()
            registry.wait(timeout=10)


def has_image(state: Path, image: str) -> bool:
    return _docker(state, "image", "inspect", "--format", "{{.Id}}", image).returncode == 0


def ensure(state: Path, base: str, registry_config: str, say: Callable[[str], None]) -> str:
    """Bring the current engine up, with ``base`` on it; a second call only checks."""
    if not shutil.which("mmdebstrap"):
        raise EngineError("mmdebstrap is missing: run `make up` first (it installs it).")
    notes = []
    if not (home(state) / "rootfs" / "usr/sbin/dockerd").is_file():
        started = time.monotonic()
        build_rootfs(state, say)
        notes.append(f"built its root file system ({time.monotonic() - started:.0f} s)")
    if answers(state):
        notes.append("already answering")
    else:
        stop(state)  # whatever is left of an earlier run: its processes, bridge and rules
        start(state, say)
        notes.append("started")
    if not has_image(state, base):
        load_base(state, base, registry_config, say)
        notes.append(f"moved {base} into it")
    version = _docker(state, "version", "--format", "{{.Server.Version}}").stdout.strip()
    store = _docker(state, "info", "--format", "{{json .DriverStatus}}").stdout
    kind = "containerd image store" if "io.containerd.snapshotter" in store else "graph driver store"
    return f"Docker {version}, {kind} ({', '.join(notes)})"
