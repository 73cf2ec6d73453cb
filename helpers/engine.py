"""The engine boundary: every call to the Docker engine or the registry, returning raw payloads.

`Engine` satisfies `helpers.boundary.EngineLike`; everything else in `helpers` parses what these
methods return, so the same parsing code runs on a live engine and on a recording. Engine and HTTP
errors are translated into `LabError`s here only. A new engine call goes into `EngineLike` and here.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests
import urllib3

from . import context as build_context
from .boundary import Event
from .cli import cli_build
from .errors import (
    BadDockerfile,
    CredentialsRejected,
    EngineRefused,
    EngineUnavailable,
    ImageMissing,
    LabError,
    NotAnswering,
    PortBusy,
    RegistryUnavailable,
    classify,
    parse_error_detail,
)
from .export import read_copied, read_export
from .layer_folders import read_layers
from .settings import on_loopback, registry_host

MIN_API = (1, 41)
"""Docker Engine 20.10's API, the oldest the lab is tested on."""

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])
"""Image manifests and the indexes that list them (BuildKit on the containerd store pushes an index holding
the image's manifest and its provenance attestation's)."""


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """Turn engine and HTTP failures raised while doing ``action`` into short `LabError`s."""
    try:
        yield
    except LabError:
        raise
    except docker.errors.ImageNotFound as e:
        raise ImageMissing(f"While trying to {action}: {e.explanation}") from e
    except docker.errors.APIError as e:
        kind = classify(str(e.explanation))
        if kind == "dockerfile":
            raise BadDockerfile(f"The Dockerfile does not parse: {parse_error_detail(e.explanation)}.") from e
        if kind == "port":
            raise PortBusy(f"The engine could not {action}: {e.explanation}") from e
        raise EngineRefused(f"The engine refused to {action}: {e.explanation or e}") from e
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, docker.errors.DockerException) as e:
        raise EngineUnavailable(f"The Docker engine stopped answering while trying to {action}.") from e


def _stamped(chunks) -> Iterator[Event]:
    start = time.monotonic()
    for chunk in chunks:
        yield round(time.monotonic() - start, 4), chunk


class Engine:
    """A connected Docker engine plus the registry the lab pushes to.

    Args:
        registry: ``host:port`` of the registry (``localhost:5000`` for the lab's own).
        client: an existing `docker.DockerClient`; by default one is made the way the docker CLI
            finds its engine (``DOCKER_HOST``, then the local socket), negotiating the API version.

    Raises:
        EngineUnavailable: no engine answers.
    """

    def __init__(self, registry: str, client: docker.DockerClient | None = None):
        self.registry = registry
        version = os.environ.get("DOCKER_API_VERSION") or "auto"
        try:
            self.client = client or docker.from_env(version=version, timeout=300)
            self.client.ping()
        except (docker.errors.APIError, docker.errors.InvalidVersion) as e:
            raise EngineUnavailable(f"The engine refuses API version {version}: {getattr(e, 'explanation', e)}.",
                                    "Unset DOCKER_API_VERSION so the lab negotiates a version both sides speak, "
                                    "or update Docker.") from e
        except (docker.errors.DockerException, requests.exceptions.ConnectionError) as e:
            raise EngineUnavailable("No Docker engine answers (tried DOCKER_HOST, then the local socket).") from e
        self.api = self.client.api
        if tuple(map(int, self.api.api_version.split("."))) < MIN_API:
            raise EngineUnavailable(f"This Docker Engine speaks API {self.api.api_version}; the lab needs "
                                    f"{'.'.join(map(str, MIN_API))} (Docker 20.10) or newer.", "Update Docker.")

    def __repr__(self) -> str:
        return f"<Engine {self.api.base_url} registry={self.registry}>"

    # -- facts -------------------------------------------------------------------------------
    def version(self) -> dict:
        with translated("read its version"):
            return self.api.version()

    def info(self) -> dict:
        """The engine's settings the lab shows and reads (not the whole `docker info`, which names host paths):
        its version, storage driver and ``DriverStatus`` (which names the containerd snapshotter when the
        engine stores images in containerd), OS and architecture."""
        with translated("read its settings"):
            info = self.api.info()
        status = [pair for pair in info.get("DriverStatus") or [] if pair and pair[0] == "driver-type"]
        found = {k: info.get(k) for k in ("ServerVersion", "Driver", "OSType", "Architecture")}
        return {**found, "DriverStatus": status}

    def monotonic(self) -> float:
        """The clock the lab times containers with; an engine method so a replay repeats the times."""
        return time.monotonic()

    def now(self) -> float:
        """The wall clock, seconds since the epoch (for "5 minutes ago"); an engine method so a replay repeats it."""
        return time.time()

    def port_free(self, port: int) -> bool:
        """Whether ``port`` on 127.0.0.1 can be bound on the machine the engine publishes ports on."""
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    # -- images ------------------------------------------------------------------------------
    def build(self, path: str, tag: str, dockerfile: str = "Dockerfile", nocache: bool = False,
              args: dict[str, str] | None = None, cache_from: list[str] | None = None) -> Iterator[Event]:
        """Stream a classic-builder build of the context at ``path``, as written (no label, so no extra step).

        ``args`` are build-arg values; ``cache_from`` limits the cache to those images' steps.
        """
        with translated(f"build {tag}"), build_context.tar(Path(path), dockerfile) as context:
            yield from _stamped(self.api.build(fileobj=context, custom_context=True, tag=tag,
                                               dockerfile=dockerfile, nocache=nocache, buildargs=args,
                                               cache_from=cache_from, rm=True, forcerm=True, decode=True))

    def build_cli(self, path: str, tag: str, dockerfile: str = "Dockerfile", nocache: bool = False,
                  args: dict[str, str] | None = None, owner: str | None = None,
                  target: str | None = None) -> Iterator[Event]:
        """Stream a BuildKit build through the docker CLI (`helpers.cli.cli_build`): ``{"json": ...}`` and
        ``{"line": ...}`` chunks, then ``{"exit": code}``."""
        yield from cli_build(path, tag, dockerfile, nocache, args, owner, target=target)

    def inspect_image(self, ref: str) -> dict:
        with translated(f"inspect the image {ref}"):
            return self.api.inspect_image(ref)

    def has_image(self, ref: str) -> bool:
        try:
            self.inspect_image(ref)
            return True
        except ImageMissing:
            return False

    def history(self, ref: str) -> list[dict]:
        with translated(f"read the history of {ref}"):
            return self.api.history(ref)

    def layer_files(self, image: str) -> dict:
        """Each layer's file list: read in place from the overlay2 store's layer folders when the engine keeps them
        on this machine (`helpers.layer_folders`), else from the streamed export of ``image`` (headers only)."""
        with translated(f"read the files of {image}"):
            in_place = read_layers(image, self.api.inspect_image(image), self.api.info())
            return in_place if in_place is not None else read_export(self.api.get_image(image), image)

    def copied_files(self, image: str, paths: list[str], labels: dict[str, str]) -> dict[str, list[list] | None]:
        """What a ``COPY --from`` of each of ``paths`` in ``image`` would take (`export.read_copied`); None for a path
        it does not hold. Read with `docker cp` from a container made for it (``labels``), never started, removed."""
        with translated(f"read files of {image}"):
            cid = self.api.create_container(image, command=["true"], labels=labels)["Id"]
            try:
                return {path: self._copied(cid, path) for path in paths}
            finally:
                self.api.remove_container(cid, force=True)

    def _copied(self, cid: str, path: str) -> list[list] | None:
        parts = ("/" + path.strip("/")).split("/")
        wild = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), len(parts))
        try:
            stream, _ = self.api.get_archive(cid, "/".join(parts[:wild]) or "/")
        except docker.errors.NotFound:
            return None
        return read_copied(stream, parts[wild:] or None)

    def images(self) -> list[dict]:
        """Every image, intermediate ones included (``docker images -a``)."""
        with translated("list images"):
            return self.api.images(all=True)

    def tag(self, image: str, repository: str, tag: str) -> None:
        with translated(f"tag {image}"):
            self.api.tag(image, repository, tag)

    def remove_image(self, ref: str) -> None:
        with translated(f"remove the image {ref}"), contextlib.suppress(docker.errors.NotFound):
            self.api.remove_image(ref, force=True)

    def push(self, repository: str, tag: str) -> Iterator[Event]:
        """Stream a push; errors arrive inside the stream and are the parser's to raise.

        Raises:
            EngineUnavailable: the stream broke off and the engine no longer answers.
            RegistryUnavailable: the stream broke off while the engine still answers.
        """
        try:
            yield from _stamped(self.api.push(repository, tag=tag, stream=True, decode=True))
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, docker.errors.DockerException) as e:
            try:
                self.api.ping()
            except (requests.exceptions.RequestException, docker.errors.DockerException):
                raise EngineUnavailable(f"The Docker engine stopped answering during the push of "
                                        f"{repository}:{tag}.") from e
            raise RegistryUnavailable(f"The push of {repository}:{tag} broke off: {e}") from e

    def pull(self, repository: str, tag: str) -> Iterator[Event]:
        """Stream a pull of ``repository:tag``; errors arrive inside the stream, as in a push."""
        with translated(f"pull {repository}:{tag}"):
            yield from _stamped(self.api.pull(repository, tag=tag, stream=True, decode=True))

    # -- registry ---------------------------------------------------------------------------
    @property
    def registry_url(self) -> str:
        """Base URL of the registry's API: plain HTTP on loopback, HTTPS elsewhere (Docker Hub's API host)."""
        host = registry_host(self.registry)
        if host in ("docker.io", "index.docker.io"):
            return "https://registry-1.docker.io"
        return f"{'http' if on_loopback(self.registry) else 'https'}://{host}"

    def manifest(self, repository: str, reference: str) -> dict:
        """The registry's manifest (or index) for ``repository:reference``, a tag or a digest (``repository``
        without the registry host): ``{"digest": its digest, "manifest": its JSON}``.

        Registries that want a token (Docker Hub) get one with the credentials of `docker login`.

        Raises:
            ImageMissing: the registry holds no such manifest.
        """
        r = self._registry("GET", f"{repository}/manifests/{reference}",
                           f"give the manifest of {repository}:{reference}", missing_ok=True)
        if r.status_code == 404:
            raise ImageMissing(f"The registry at {self.registry} holds no {repository}:{reference}.",
                               "Push it first, or check the name.")
        return {"digest": r.headers.get("Docker-Content-Digest"), "manifest": r.json()}

    def delete_manifest(self, repository: str, tag: str) -> bool:
        """Delete the manifest ``repository:tag`` points at (and so every tag of it); False if there is none.

        Raises:
            RegistryUnavailable: the registry does not answer, or does not allow deletes.
        """
        r = self._registry("HEAD", f"{repository}/manifests/{tag}", f"find {repository}:{tag}", missing_ok=True)
        if r.status_code == 404:
            return False
        digest = r.headers["Docker-Content-Digest"]
        self._registry("DELETE", f"{repository}/manifests/{digest}", f"delete {repository}:{tag}", missing_ok=True)
        return True

    def delete_blob(self, repository: str, digest: str) -> bool:
        """Unlink the blob ``digest`` from ``repository`` (its bytes go at the registry's next garbage collection),
        so no later push mounts it from there; False if the repository did not link it."""
        r = self._registry("DELETE", f"{repository}/blobs/{digest}", f"delete a blob of {repository}", missing_ok=True)
        return r.status_code != 404

    def catalog(self) -> list[str]:
        """The repositories the registry holds (some may hold no tag any more), a page of 1000 at a time."""
        found: list[str] = []
        while True:
            after = f"&last={found[-1]}" if found else ""
            page = self._registry("GET", f"_catalog?n=1000{after}", "list its repositories").json()
            found += page.get("repositories") or []
            if len(page.get("repositories") or []) < 1000:
                return found

    def tags(self, repository: str) -> list[str]:
        """The tags of ``repository``; none for a repository the registry does not hold."""
        r = self._registry("GET", f"{repository}/tags/list", f"list the tags of {repository}", missing_ok=True)
        return (r.json().get("tags") or []) if r.status_code != 404 else []

    def _registry(self, method: str, path: str, action: str, missing_ok: bool = False) -> requests.Response:
        """One registry API request (``/v2/<path>``); registries that want a token (Docker Hub) get one with
        the credentials of `docker login`."""
        url, accept = f"{self.registry_url}/v2/{path}", {"Accept": MANIFEST_TYPES}
        try:
            r = requests.request(method, url, headers=accept, timeout=10)
            challenge = r.headers.get("WWW-Authenticate", "")
            if r.status_code == 401 and challenge.startswith("Bearer"):
                r = requests.request(method, url, headers={**accept, "Authorization": f"Bearer {self._token(r)}"},
                                     timeout=10)
            elif r.status_code == 401 and challenge.startswith("Basic"):
                r = requests.request(method, url, headers=accept, auth=self._login(), timeout=10)
            if r.status_code == 405:
                raise RegistryUnavailable(f"The registry at {self.registry} refused to {action}: it does not "
                                          "allow that here.", "Run `make up`: the registry it starts allows deletes.")
            if not (missing_ok and r.status_code == 404):
                r.raise_for_status()
        except requests.RequestException as e:
            raise RegistryUnavailable(f"The registry at {self.registry} did not {action} "
                                      f"({e.__class__.__name__}).") from e
        return r

    def login(self, username: str, password: str) -> None:
        """Log in to the registry, as `docker login` does; the password is kept by the SDK only.

        Raises:
            CredentialsRejected: the registry refused them (the message never repeats the password).
        """
        try:
            self.client.login(username=username, password=password, registry=registry_host(self.registry))
        except docker.errors.APIError:  # not chained: the failed request's body holds the password
            raise CredentialsRejected(f"The registry at {self.registry} rejected the login of {username!r}.") from None
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as e:
            raise EngineUnavailable("The Docker engine stopped answering while logging in.") from e

    def _login(self) -> tuple[str, str] | None:
        """The user name and password of the last login to the registry, if any."""
        auth = self.api._auth_configs.resolve_authconfig(registry_host(self.registry)) or {}
        return (auth["username"], auth["password"]) if auth.get("username") else None

    def _token(self, challenge: requests.Response) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge.headers["WWW-Authenticate"]))
        realm = params.pop("realm")
        r = requests.get(realm, params=params, auth=self._login(), timeout=10)
        r.raise_for_status()
        return r.json().get("token") or r.json()["access_token"]

    def registry_answers(self) -> bool:
        try:
            return "Docker-Distribution-Api-Version" in requests.get(
                f"{self.registry_url}/v2/", timeout=3).headers
        except requests.RequestException:
            return False

    # -- containers --------------------------------------------------------------------------
    def run(self, image: str, labels: dict[str, str], ports: dict[str, Any] | None = None,
            command: list[str] | None = None) -> str:
        """Start a detached container and return its id. Never privileged, no host mounts.

        A container that was made but could not start (its host port was taken meanwhile) is removed.

        Raises:
            PortBusy: a host port in ``ports`` was taken when the container started.
        """
        with translated(f"start a container from {image}"):
            container = self.client.containers.create(image, command=command, labels=labels, ports=ports or {})
            try:
                container.start()
            except docker.errors.APIError:
                container.remove(force=True)
                raise
            return container.id

    def inspect_container(self, cid: str, size: bool = False) -> dict:
        with translated("inspect a container"):
            if size:
                found = self.api.containers(all=True, filters={"id": cid}, size=True)
                if found:
                    return found[0]
            return self.api.inspect_container(cid)

    def logs(self, cid: str) -> str:
        with translated("read a container's logs"):
            return self.api.logs(cid).decode(errors="replace")

    def exec(self, cid: str, command: list[str]) -> tuple[int, str]:
        with translated("run a command in a container"):
            code, out = self.client.containers.get(cid).exec_run(command)
            return code, out.decode(errors="replace")

    def diff(self, cid: str) -> list[dict]:
        with translated("diff a container"):
            return self.api.diff(cid) or []

    def containers(self, label: str | None = None, ancestor: str | None = None) -> list[dict]:
        """Containers, running or not, carrying ``label`` and/or made from ``ancestor`` or an image built on it."""
        filters = {k: v for k, v in (("label", label), ("ancestor", ancestor)) if v}
        with translated("list containers"):
            return self.api.containers(all=True, filters=filters)

    def remove_container(self, cid: str) -> None:
        with translated("remove a container"), contextlib.suppress(docker.errors.NotFound):
            self.api.remove_container(cid, force=True)

    def http_get(self, url: str, timeout: float = 2.0) -> tuple[int, str]:
        """GET ``url`` from the host, like ``curl``.

        Raises:
            NotAnswering: nothing answered there within ``timeout`` seconds.
        """
        try:
            r = requests.get(url, timeout=timeout)
        except requests.RequestException as e:
            raise NotAnswering(f"Nothing answers at {url} ({e.__class__.__name__}).") from e
        return r.status_code, r.text
