#!/usr/bin/env python3
"""Bring up what the lab needs: a Docker engine, a registry on loopback, a Python base image and a buildx.

Idempotent: whatever already answers is used as it is, so a second run only checks.
Standard library only, so it runs before the lab's virtual environment exists.
Writes what it chose to `.lab/lab.json`, which `helpers.connect()` reads.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import current_engine  # noqa: E402  (standard library only, like this script)


def _settings():
    """`helpers/settings.py` by path (standard library only), without the helpers package and its dependencies."""
    spec = importlib.util.spec_from_file_location("lab_settings", ROOT / "helpers" / "settings.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


SETTINGS = _settings()
STATE = SETTINGS.STATE_DIR
OFFICIAL_BASE = SETTINGS.OFFICIAL_BASE
LOCAL_BASE = SETTINGS.LOCAL_BASE
BASE_LABEL = "layer-lab.role=base"
CA_IN_IMAGE = "/usr/local/share/layer-lab/ca-bundle.crt"
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BUILDX = SETTINGS.LAB_BUILDX
BUILDX_SUITE = "sid"
"""The Debian suite whose docker-buildx (0.29, a static binary, as current Docker ships) the lab uses; it prints
`--progress=rawjson` and runs on Debian 12, against Docker 20.10's BuildKit as against a current engine's."""


class UpError(Exception):
    """A bring-up step failed; the message names the cause and the fix."""


def say(msg: str) -> None:
    print(f"[lab-up] {msg}", flush=True)


def run(*cmd: str, check: bool = True, timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, timeout=timeout, **kw)


def docker(*args: str, **kw) -> subprocess.CompletedProcess:
    return run("docker", *args, **kw)


# --- engine -------------------------------------------------------------------------------------

def engine_answers() -> bool:
    try:
        return docker("info", "--format", "{{.ServerVersion}}", check=False, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def apt_install(*packages: str) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise UpError(f"{' '.join(packages)} is missing and cannot be installed here (needs apt-get as root). "
                      f"Install it, then run `make up` again.")
    say(f"installing {' '.join(packages)} with apt-get ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", *packages, env=env)


def start_detached(cmd: list[str], log: Path) -> None:
    """Start a daemon in its own session so it outlives this script."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)


def wait_for(check, what: str, seconds: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tail = ""
    if log and log.exists():
        tail = "\n  last log lines:\n    " + "\n    ".join(log.read_text(errors="replace").splitlines()[-5:])
    raise UpError(f"{what} did not answer within {seconds:.0f} s.{tail}")


def ensure_engine() -> str:
    if engine_answers():
        return "an engine was already answering (DOCKER_HOST or the local socket)"
    if os.environ.get("DOCKER_HOST"):
        raise UpError(f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer. Start that engine, "
                      "or unset DOCKER_HOST to use a local one.")
    if sys.platform != "linux" or os.geteuid() != 0:
        raise UpError("No Docker engine answers. Start Docker Desktop (or `sudo systemctl start docker`), "
                      "then run `make up` again.")
    if not shutil.which("dockerd"):
        apt_install("docker.io")
    log = STATE / "dockerd.log"
    say("starting dockerd in the background ...")
    start_detached(["dockerd"], log)
    wait_for(engine_answers, "dockerd", 60, log)
    return "started Debian's dockerd (no engine was answering)"


# --- registry -----------------------------------------------------------------------------------

def registry_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as r:
            return "Docker-Distribution-Api-Version" in r.headers
    except urllib.error.HTTPError as e:  # 401 is a registry too, but one that wants credentials
        return "Docker-Distribution-Api-Version" in e.headers
    except OSError:
        return False


def port_busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_registry(port: int) -> str:
    if registry_answers(port):
        return f"a registry was already answering on 127.0.0.1:{port}"
    if port_busy(port):
        raise UpError(f"Port {port} is busy with something that is not a Docker registry. "
                      f"Free it, or pick another port: LAYER_LAB_REGISTRY_PORT=5050 make up")
    if not shutil.which("docker-registry") and sys.platform == "linux" and os.geteuid() == 0:
        try:
            apt_install("docker-registry")
        except subprocess.CalledProcessError:
            pass
    if shutil.which("docker-registry"):
        home = REGISTRY_HOME
        (home / "data").mkdir(parents=True, exist_ok=True)
        config = home / "config.yml"
        config.write_text(SETTINGS.REGISTRY_CONFIG.format(root=home / "data", port=port))
        say(f"starting a registry on 127.0.0.1:{port} ...")
        start_detached(["docker-registry", "serve", str(config)], home / "registry.log")
        wait_for(lambda: registry_answers(port), "the registry", 30, home / "registry.log")
        return f"started Debian's docker-registry on 127.0.0.1:{port}, storing in {home / 'data'}"
    result = docker("run", "-d", "--restart=unless-stopped", "--label", "layer-lab.role=registry",
                    "-p", f"127.0.0.1:{port}:5000", "--name", "layer-lab-registry", "registry:2",
                    check=False)
    if result.returncode != 0:
        raise UpError("No registry could be started: neither Debian's docker-registry nor the registry:2 "
                      f"image is available ({result.stderr.strip()[:200]}).")
    wait_for(lambda: registry_answers(port), "the registry container", 30)
    return f"started the registry:2 image on 127.0.0.1:{port}"


REGISTRY_HOME = STATE / "registry"


def own_registry_pid() -> int | None:
    """The pid of the registry `make up` started (serving its config), if it still runs."""
    config = str(REGISTRY_HOME / "config.yml")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:1] and argv[0].endswith(b"docker-registry") and config.encode() in argv:
            return int(proc.name)
    return None


def untagged_repositories(repositories: Path) -> list[Path]:
    """The repository folders of the registry's storage that hold no tag any more."""
    return [m.parent for m in repositories.rglob("_manifests") if not any((m / "tags").glob("*"))]


def collect_garbage() -> str:
    """Delete from the lab's own registry what no tag names any more: stop it, run Distribution's
    garbage collector, drop repositories left without tags, and start it again if it ran."""
    config, repositories = REGISTRY_HOME / "config.yml", REGISTRY_HOME / "data/docker/registry/v2/repositories"
    if not config.is_file() or not shutil.which("docker-registry"):
        return "nothing to collect (no registry of the lab's own)"
    if not untagged_repositories(repositories):
        return "nothing to collect (every repository has a tag)"
    pid, port = own_registry_pid(), int(re.search(r"addr: 127\.0\.0\.1:(\d+)", config.read_text())[1])
    if pid is not None:
        os.kill(pid, 15)
        wait_for(lambda: not Path(f"/proc/{pid}").exists() or own_registry_pid() is None, "the registry's stop", 20)
    data = REGISTRY_HOME / "data"
    before = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    run("docker-registry", "garbage-collect", "--delete-untagged", str(config), timeout=600)
    emptied = untagged_repositories(repositories)
    for repository in emptied:
        shutil.rmtree(repository)
    for folder in sorted(repositories.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    after = sum(f.stat().st_size for f in data.rglob("*") if f.is_file())
    if pid is not None:
        ensure_registry(port)
    return f"removed {len(emptied)} repositories without tags, freed {(before - after) / 1e6:.1f} MB"


# --- base image ---------------------------------------------------------------------------------

def image_labels(name: str) -> dict | None:
    r = docker("image", "inspect", "--format", "{{json .Config.Labels}}", name, check=False)
    return json.loads(r.stdout or "null") or {} if r.returncode == 0 else None


def default_ca_bundle() -> Path | None:
    """The CA bundle pip on this host trusts, if it names one (how TLS-intercepting proxies are trusted)."""
    if os.environ.get("LAYER_LAB_CA_BUNDLE"):
        path = Path(os.environ["LAYER_LAB_CA_BUNDLE"])
        if not path.is_file():
            raise UpError(f"LAYER_LAB_CA_BUNDLE={path} is not a file. Point it at a PEM bundle, or unset it.")
        return path
    cert = os.environ.get("PIP_CERT")
    if not cert:
        r = run(sys.executable, "-m", "pip", "config", "get", "global.cert", check=False)
        cert = r.stdout.strip() if r.returncode == 0 else ""
    return Path(cert) if cert and Path(cert).is_file() else None


def build_local_base(ca: Path | None, ca_sum: str) -> None:
    if not shutil.which("mmdebstrap"):
        apt_install("mmdebstrap")
    if not APT_SOURCES.is_file():
        raise UpError(f"{APT_SOURCES} is missing: mmdebstrap needs the host's apt sources to build the base.")
    tar = STATE / "base-rootfs.tar"
    tar.parent.mkdir(parents=True, exist_ok=True)
    hooks = []
    if ca:
        hooks = [f"--customize-hook=mkdir -p \"$1{Path(CA_IN_IMAGE).parent}\"",
                 f"--customize-hook=cp {ca} \"$1{CA_IN_IMAGE}\""]
    say("building a Debian Python base image with mmdebstrap (about a minute) ...")
    excludes = [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("man", "doc", "locale", "info")]
    log = STATE / "mmdebstrap.log"
    with open(APT_SOURCES) as sources, open(log, "w") as out:
        proc = subprocess.Popen(["mmdebstrap", "--variant=minbase", "--quiet",
                                 "--include=python3,python3-pip,python-is-python3,ca-certificates",
                                 *excludes, *hooks, "bookworm", str(tar), "-"],
                                stdin=sources, stdout=out, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while proc.poll() is None:  # never silent for long: a heartbeat every five seconds
            time.sleep(5)
            if proc.poll() is None:
                say(f"  ... still building the base image ({time.monotonic() - started:.0f} s)")
    if proc.returncode != 0:
        tail = "\n    ".join(log.read_text(errors="replace").strip().splitlines()[-5:])
        raise UpError(f"mmdebstrap could not build the base image:\n    {tail}\n"
                      "  Check that apt-get works on this host, then run `make up` again.")
    changes = ["ENV PIP_BREAK_SYSTEM_PACKAGES=1", "ENV PIP_ROOT_USER_ACTION=ignore",
               "ENV PIP_NO_CACHE_DIR=1", "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
               'CMD ["python3"]', f"LABEL {BASE_LABEL} layer-lab.ca-sha256={ca_sum}"]
    if ca:
        changes.insert(0, f"ENV PIP_CERT={CA_IN_IMAGE} REQUESTS_CA_BUNDLE={CA_IN_IMAGE}")
    args = [a for c in changes for a in ("--change", c)]
    try:
        docker("import", *args, str(tar), LOCAL_BASE)
    finally:
        tar.unlink(missing_ok=True)


def wrap_official_base(ca: Path, ca_sum: str) -> None:
    """The official image plus the CA bundle, for learners behind a TLS-intercepting proxy."""
    ctx = STATE / "base-context"
    ctx.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ca, ctx / "ca-bundle.crt")
    (ctx / "Dockerfile").write_text(
        f"FROM {OFFICIAL_BASE}\nCOPY ca-bundle.crt {CA_IN_IMAGE}\n"
        f"ENV PIP_CERT={CA_IN_IMAGE} REQUESTS_CA_BUNDLE={CA_IN_IMAGE}\n"
        f"LABEL {BASE_LABEL} layer-lab.ca-sha256={ca_sum}\n")
    docker("build", "-q", "-t", LOCAL_BASE, str(ctx))


def ensure_base() -> tuple[str, str]:
    ca = default_ca_bundle()  # a CA bundle named but missing is named whatever base is asked for
    wanted = os.environ.get("LAYER_LAB_BASE")
    if wanted:
        if image_labels(wanted) is None and docker("pull", wanted, check=False, timeout=600).returncode != 0:
            raise UpError(f"LAYER_LAB_BASE={wanted} is not on the engine and cannot be pulled. "
                          "Pull or build it first, or unset LAYER_LAB_BASE.")
        return wanted, "LAYER_LAB_BASE names it"
    ca_sum = hashlib.sha256(ca.read_bytes()).hexdigest()[:16] if ca else "none"
    labels = image_labels(LOCAL_BASE)
    if labels is not None and labels.get("layer-lab.ca-sha256") == ca_sum:
        return LOCAL_BASE, "built earlier by `make up` (kept: same CA bundle)"
    have_official = image_labels(OFFICIAL_BASE) is not None or \
        docker("pull", OFFICIAL_BASE, check=False, timeout=300).returncode == 0
    if have_official and not ca:
        return OFFICIAL_BASE, "the official Python image is available"
    if have_official:
        wrap_official_base(ca, ca_sum)
        return LOCAL_BASE, f"the official Python image plus the CA bundle {ca}"
    build_local_base(ca, ca_sum)
    why = "Docker Hub is not reachable, so a Debian Python base was built with mmdebstrap"
    return LOCAL_BASE, why + (f", trusting the CA bundle {ca}" if ca else "")


# --- buildx -------------------------------------------------------------------------------------

def debian_entry() -> str | None:
    """A deb822 entry for BUILDX_SUITE's main, with the URIs (and keyring) of the host's entry for its release."""
    release = re.search(r"^VERSION_CODENAME=(\S+)", Path("/etc/os-release").read_text(), re.M)
    found = []  # (URIs, Signed-By or "") of each entry for deb, main and the host's release
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")):
        for paragraph in re.split(r"\n[ \t]*\n", path.read_text()):
            fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*(?:\n[ \t]+.*)*)", paragraph, re.M))
            words = {key: fields.get(key, "").split() for key in ("Types", "Suites", "Components")}
            if "deb" in words["Types"] and release and release[1] in words["Suites"] and "main" in words["Components"] \
                    and fields.get("Enabled") != "no":
                found.append((fields["URIs"], fields.get("Signed-By", "")))
    for path in [sources.parent / "sources.list", *sorted(sources.glob("*.list"))]:
        for line in path.read_text().splitlines() if path.is_file() else []:
            m = re.match(r"deb\s+(?:\[(.*?)\]\s+)?(\S+)\s+(\S+)\s+(.*)", line.strip())
            if m and release and m[3] == release[1] and "main" in m[4].split():
                found.append((m[2], next(iter(re.findall(r"signed-by=(\S+)", m[1] or "")), "")))
    if not found:
        return None
    uris, keyring = found[0]
    return f"Types: deb\nURIs: {uris}\nSuites: {BUILDX_SUITE}\nComponents: main\n" + \
        (f"Signed-By: {keyring}\n" if keyring else "")


def ensure_buildx() -> str:
    """A buildx for the lab's BuildKit path: the CLI's plugin, or Debian's docker-buildx kept in .lab only.

    It is no CLI plugin, so `docker build` keeps its own builder; apt downloads and verifies it.
    """
    if docker("buildx", "version", check=False).returncode == 0:  # the lab's builds use it first (helpers.cli)
        return "the docker CLI has the buildx plugin"
    if BUILDX.is_file():
        return f"the lab's own buildx is in {BUILDX.parent}"
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise UpError("no apt-get here to fetch Debian's docker-buildx")
    entry = debian_entry()
    if entry is None:
        raise UpError("no entry for this Debian release in /etc/apt/sources.list(.d)")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lab-buildx-") as tmp:
        tmp = Path(tmp)
        tmp.chmod(0o755)  # apt downloads as the user _apt where it can
        (tmp / f"{BUILDX_SUITE}.sources").write_text(entry)
        for d in ("lists/partial", "cache/archives/partial"):
            (tmp / d).mkdir(parents=True)
        apt = ["apt-get", "-qq", "-o", f"Dir::Etc::SourceList={tmp / BUILDX_SUITE}.sources",
               "-o", "Dir::Etc::SourceParts=/nonexistent", "-o", f"Dir::State::Lists={tmp / 'lists'}",
               "-o", f"Dir::Cache={tmp / 'cache'}", "-o", "Acquire::Languages=none", "-o", "Acquire::Retries=0",
               "-o", "Acquire::http::Timeout=20", "-o", "Acquire::Check-Valid-Until=false"]
        run(*apt, "update", "--error-on=any", timeout=300)
        run(*apt, "download", f"docker-buildx/{BUILDX_SUITE}", cwd=tmp, timeout=300)
        deb = next(tmp.glob("docker-buildx_*.deb"))
        run("dpkg-deb", "-x", str(deb), str(tmp / "root"))
        BUILDX.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(tmp / "root/usr/libexec/docker/cli-plugins/docker-buildx", BUILDX)
    version = run(str(BUILDX), "version", check=False, timeout=20)
    if version.returncode != 0:
        BUILDX.unlink()
        raise UpError(f"{deb.name} does not run here: {(version.stderr or version.stdout).strip()[:200]}")
    return f"fetched {deb.name} into {BUILDX.parent} ({time.monotonic() - started:.1f} s)"


# --- main ---------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("LAYER_LAB_REGISTRY_PORT", 5000)),
                        help="registry port on 127.0.0.1 (default 5000, or LAYER_LAB_REGISTRY_PORT)")
    parser.add_argument("--gc-only", action="store_true",
                        help="only garbage-collect the lab's own registry (`make clean` does)")
    parser.add_argument("--engine", choices=("default", "current"), default=os.environ.get("ENGINE") or "default",
                        help="default: the engine the docker CLI finds (or Debian 12's dockerd 20.10); current: "
                             "also Debian sid's Docker 28 with the containerd image store beside it (prints its "
                             "DOCKER_HOST)")
    parser.add_argument("--stop", action="store_true", help="stop the current engine (with --engine current)")
    args = parser.parse_args()
    if os.environ.get("DOCKER_HOST") == current_engine.docker_host(STATE):
        del os.environ["DOCKER_HOST"]  # the default engine is the local one; the current one is brought up beside it
    started = time.monotonic()
    try:
        if args.gc_only:
            say(f"registry garbage: {collect_garbage()}")
            return 0
        if args.stop:
            say(f"current engine: {current_engine.stop(STATE)}")
            return 0
        engine = ensure_engine()
        say(f"engine: {engine}")
        say(f"registry garbage: {collect_garbage()}")
        registry = ensure_registry(args.port)
        say(f"registry: {registry}")
        base, why = ensure_base()
        say(f"base image: {base} ({why})")
        try:
            say(f"buildx: {ensure_buildx()}")
        except (UpError, OSError, subprocess.SubprocessError) as e:
            lines = (getattr(e, "stderr", "") or str(e)).strip().splitlines() or ["?"]
            detail = next((line for line in lines if line.startswith("E:")), lines[0])[:200]
            say(f"buildx: none for the lab ({detail}); its BuildKit path falls back to plain progress")
        if args.engine == "current":
            say(f"current engine: {current_engine.ensure(STATE, base, SETTINGS.REGISTRY_CONFIG, say)}")
    except subprocess.CalledProcessError as e:
        cmd = " ".join(map(str, e.cmd))[:120]
        say(f"FAILED: `{cmd}` exited {e.returncode}: {(e.stderr or '').strip()[-300:]}")
        return 1
    except (UpError, current_engine.EngineError) as e:
        say(f"FAILED: {e}")
        return 1
    STATE.mkdir(parents=True, exist_ok=True)
    state = {"registry": f"localhost:{args.port}", "base_image": base, "base_reason": why,
             "engine": engine, "registry_note": registry}
    (STATE / "lab.json").write_text(json.dumps(state, indent=2) + "\n")
    say(f"ready in {time.monotonic() - started:.1f} s (state in {STATE / 'lab.json'})")
    if args.engine == "current":
        print(f"DOCKER_HOST={current_engine.docker_host(STATE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
