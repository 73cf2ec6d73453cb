"""The one object a notebook talks to: a connected engine, a registry, a base image and a workspace."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import os
import re
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from . import buildkit, buildkit_cache, cache, cli, containers, errors, progress, recording, settings, store, why
from . import context as build_context
from . import dockerfile as docker_file
from . import files as files_module
from .advice import Advice, advise
from .boundary import EngineLike
from .build import BuildReport, join_layers, parse_build_stream
from .cleanup import CONTAINER_LABEL, LABEL, Cleaned, container_label, made_on
from .cleanup import plan as cleanup_plan
from .containers import App, Changes, parse_diff
from .display import short_name
from .engine import Engine
from .errors import BadDockerfile, BadInput, BuildFailed, EngineUnavailable, ImageMissing, RegistryUnavailable, classify
from .layers import History, parse_history
from .notebook import install_error_display
from .project import Project, open_project
from .push import PushReport, join_manifest, parse_pull_stream, parse_push_stream, referenced, resolve_index
from .trial import ORDERS, Trial
from .workspace import Workspace, lab_dockerfile

__all__ = ["CONTAINER_LABEL", "LABEL", "Cleaned", "Lab", "choose_mode", "connect", "docker_build_builder"]

APP_IMAGE = "python-hello-world"
WORKSPACE_REPOSITORY = re.compile(r"^lab-[0-9a-f]{6}/")
"""A repository the lab pushed, in its workspace's namespace."""
CACHE_SOURCES = 12
"""How many of the lab's latest builds a build may reuse steps of (each one brings its whole chain)."""
CLEANUP_ROUNDS = 8
"""At most this many passes of a cleanup: on the containerd store an image's untagged parents stay when it
goes, so each pass finds the ones the last one left."""
HEREDOC_API = (1, 42)
"""The engine API of Docker 23, the first whose BuildKit reads heredocs."""
HEREDOC_FIX = ("Build with BuildKit (builder=\"buildkit\") on Docker 23 or later, or write the heredoc's lines as one "
               "RUN joined with && (or as a file to COPY).")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")


BUILDERS = {"classic": "classic (the workshop's `Step N/M` and `Using cache` output)",
            "buildkit": "BuildKit (Docker 23's default: `[k/n]` and `CACHED` output)"}


def _check_builder(builder: str) -> str:
    if builder not in BUILDERS:
        raise BadInput(f"{builder!r} is not a builder.", "Use 'classic' or 'buildkit'.")
    return builder


def docker_build_builder() -> str:
    """The builder `docker build` would use here: BuildKit where the docker CLI has buildx or
    DOCKER_BUILDKIT=1 asks for it, else the classic one (a CLI without buildx, like Debian's docker.io)."""
    return "buildkit" if cli.docker_build_uses_buildkit() else "classic"


class Lab:
    """The lab's engine, registry, base image and workspace, with one method per workshop action.

    Its images are named in its workspace's namespace (``lab-xxxxxx/python-hello-world:v1``) and its
    containers carry the label ``layer-lab.container=<workspace name>``; `cleanup` removes those, and the
    untagged images below them, and nothing else.
    """

    def __init__(self, engine: EngineLike, config: settings.Settings, workspace: Workspace, builder: str = "classic",
                 notebook: str | None = None):
        self.engine, self.settings, self.workspace, self.notebook = engine, config, workspace, notebook
        self.labels = {LABEL: workspace.name, CONTAINER_LABEL: workspace.name}
        """The labels of the containers it starts (its images carry none: their builds run as written)."""
        self.builder = _check_builder(builder)
        self.built: list[str] = []
        """Ids of the images this lab's classic builds made (each stage's last), oldest first: its own build cache."""
        self.made: set[str] = set()
        """Short ids of every step image this lab's classic builds made (an unused stage's too), and the ids of its
        BuildKit builds' images: an image whose tag a later build took carries no name of the lab's any more."""
        self.pushed: list[tuple[str, str]] = []
        """``(repository, tag)`` of each push to the lab's own registry, for cleanup to delete."""
        self.base_blobs: set[str] = set()
        """The registry digests of the base image's layers, as this lab's pushes sent or linked them: cleanup leaves
        them linked (`_unpush`)."""
        self.copied: dict[str, dict[str, str]] = {}
        """The files each COPY/ADD of the lab's classic builds copied, by the step's history text (its cache key)."""
        self.copies: dict[str, set[str]] = {}
        """The keys of the lab's classic ``COPY --from`` steps, by the image each copied from (`cache.copies_made`)."""
        self.stage_files: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}
        """What each ``COPY --from`` a stage took in the lab's BuildKit builds, by the stage's last key and the sources
        (`_read_stage`)."""
        self.files_copied: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}
        """What a ``COPY --from`` of some sources takes from an image, by image and sources (`_files_copied`)."""
        self.built_with_buildkit: dict[str, tuple[buildkit_cache.Step, str]] = {}
        """The steps this lab's BuildKit builds made, by cache key, with the tag that made each."""
        self.image_ids: dict[str, str] = {}
        """The ids of the images BuildKit builds start FROM, read once a session, and of those the lab built with it."""
        self.onbuild: dict[str, list[str]] = {}
        """The ONBUILD triggers of the images BuildKit builds start FROM, read with their ids."""
        self.histories: dict[str, History] = {}
        """The history of each image the lab's builds made, by its config's digest (BuildKit) or its id (classic):
        the config holds its history and its layers' digests, so a build to an image read before (a fully
        cached one) needs no engine call."""
        self.layer_bytes: dict[str, int] = {}
        """Bytes of each layer's files, by diff_id, as read from exports (on the containerd store)."""

    def __repr__(self) -> str:
        return f"<Lab {self.mode}: {self.banner()}>"

    def _repr_html_(self) -> str:
        colour = "#fff3cd" if self.mode == "REPLAY" else "#e7f1ff"
        return (f'<div style="background:{colour};padding:6px 10px;border-radius:4px">'
                f"<b>{self.mode}</b>: {html.escape(self.banner())}</div>")

    @property
    def mode(self) -> str:
        """``LIVE`` or ``REPLAY``: whether the engine answers come from a real engine or a recording."""
        return "REPLAY" if isinstance(self.engine, recording.ReplayEngine) else "LIVE"

    def banner(self) -> str:
        """One line saying where the answers come from; in replay, when and with what they were recorded."""
        if self.mode == "REPLAY":
            m = self.engine.meta
            return (f"no Docker engine here, so this notebook replays a real run recorded {m['recorded']} "
                    f"with Docker Engine {m['engine']} ({m['builder']} builder, {m['storage_driver']}), "
                    f"base image {m['base_image']}. Tables and charts are drawn from that run's engine answers.")
        version = self.engine.version()
        recorded = " (and recorded for replay)" if isinstance(self.engine, recording.RecordingEngine) else ""
        return (f"Docker Engine {version['Version']} (API {version['ApiVersion']}), {self.builder} builder, "
                f"registry {self.registry}, base image {self.base_image}, workspace {self.workspace.name}{recorded}")

    @functools.cached_property
    def api(self) -> tuple[int, int]:
        """The engine's API version, e.g. ``(1, 41)`` for Docker 20.10."""
        major, minor = self.engine.version()["ApiVersion"].split(".")[:2]
        return int(major), int(minor)

    @functools.cached_property
    def store(self) -> str:
        """The engine's image store: `helpers.store.CONTAINERD` or `helpers.store.GRAPHDRIVER`."""
        return store.kind(self.engine.info())

    @property
    def image_store(self) -> str:
        """The engine's image store in words: ``overlay2 graph driver``, ``containerd image store (...)``."""
        return store.describe(self.engine.info())

    @property
    def size_meaning(self) -> str:
        """What the sizes this engine reports for layers and containers count (files' bytes, or disk blocks)."""
        return store.size_meaning(self.engine.info())

    @property
    def base_image(self) -> str:
        return self.settings.base_image

    @property
    def registry(self) -> str:
        return self.settings.registry

    def about(self) -> dict[str, str]:
        """What the lab is connected to, for the notebook's first output."""
        version = self.engine.version()
        info = self.engine.info()
        return {"engine": f"Docker Engine {version['Version']} (API {version['ApiVersion']})",
                "image store": store.describe(info),
                "builder": f"{BUILDERS[self.builder]}; `docker build` here would use {docker_build_builder()}",
                "registry": f"{self.registry} ({'answering' if self.engine.registry_answers() else 'NOT answering'})",
                "base image": f"{self.base_image} ({self.settings.base_reason})",
                "workspace": str(self.workspace.path)}

    def check(self) -> dict[str, str]:
        """Check that the engine, the registry and the base image are ready.

        Raises:
            RegistryUnavailable: the registry does not answer.
            ImageMissing: the base image is not on the engine.
        """
        self.engine.version()
        if not self.engine.registry_answers():
            raise RegistryUnavailable(f"The registry at {self.registry} does not answer.")
        if not self.engine.has_image(self.base_image):
            raise ImageMissing(f"The base image {self.base_image} is not on the engine.")
        return {"engine": "ready", "registry": "ready", "base image": "ready"}

    # -- files -------------------------------------------------------------------------------
    def write_app(self, message: str = "hello world!", filename: str = "app.py") -> str:
        """Write the Flask app answering ``message`` and return its text."""
        return self.workspace.write_app(message, filename).read_text()

    def write_requirements(self, *packages: str) -> str:
        """Write ``requirements.txt`` listing ``packages`` and return its text."""
        return self.workspace.write_requirements(*packages).read_text()

    def write_dockerfile(self, text: str | None = None, filename: str = "Dockerfile", app: str = "app.py") -> str:
        """Write a Dockerfile (by default the workshop's four lines for ``app``) and return its text."""
        text = text if text is not None else lab_dockerfile(self.base_image, app)
        return self.workspace.write(filename, text).read_text()

    # -- images ------------------------------------------------------------------------------
    def image(self, tag: str, name: str = APP_IMAGE) -> str:
        """The workspace's local name for an image, like the workshop's ``<dockerid>/name:tag``.

        Raises:
            BadInput: ``tag`` or ``name`` is not a valid Docker tag or repository name.
        """
        if not _TAG.match(tag):
            raise BadInput(f"{tag!r} is not a valid image tag.", "Use letters, digits, '_', '.' or '-', e.g. 'v2'.")
        if not _NAME.match(name):
            raise BadInput(f"{name!r} is not a valid image name.", "Use lower-case letters, digits and '-', "
                           "e.g. 'python-hello-world'.")
        return f"{self.workspace.name}/{name}:{tag}"

    def build(self, tag: str, name: str = APP_IMAGE, dockerfile: str = "Dockerfile", nocache: bool = False,
              explain: bool = False, args: dict[str, str] | None = None, builder: str | None = None,
              context: str | os.PathLike | None = None) -> BuildReport:
        """Build the workspace (or ``context``) with ``dockerfile`` as ``image(tag, name)`` and report every step.

        On the overlay2 store the classic builder may reuse only this lab's own recent builds
        (``--cache-from`` them and the base image), so labs running at once never serve each other's
        cache. On the containerd store ``--cache-from`` hits an engine bug (Docker 26 to 28: restoring a
        cached step fails with "failed to restore cached image"), so there the classic builder uses the
        engine's own cache: the newest image built on the same parent with the same instruction, whoever
        built it. BuildKit's cache is the engine's: any earlier build on it may serve a step. A classic
        build that failed because an image the engine's cache lookup had just found was removed
        meanwhile (another lab's cleanup, in a room on one engine) runs once more.

        Args:
            tag, name: the image's tag and name (see `image`).
            dockerfile: the Dockerfile's file name in the workspace.
            nocache: do not use the build cache (``docker build --no-cache``).
            explain: before building, look up the cache as the builder will and say why each step
                will be reused or rebuilt; the report's ``why`` then holds that, checked against
                what the engine did.
            args: build-arg values (``--build-arg``).
            builder: ``classic`` or ``buildkit``; by default the lab's (see `connect`).
            context: a folder of your own to build instead of the workspace, as ``docker build FOLDER`` does:
                its ``.dockerignore`` applied by Docker's rules (`helpers.context`), ``dockerfile`` a path in it.

        Raises:
            BuildFailed: a step failed (the error names it and shows its last output lines).
            ImageMissing: the base image is not on the engine and cannot be pulled.
            BadDockerfile: the Dockerfile does not parse.
            BadInput: ``context`` is not a folder holding ``dockerfile``, or holds a file that cannot be read.
        """
        image = self.image(tag, name)
        if context is None:
            folder, text = self.workspace.path, self.workspace.read(dockerfile)
        else:
            folder = build_context.check(context, dockerfile)
            text = (folder / dockerfile).read_text()
        base = docker_file.base_image(text, args)
        heredoc = next((line.split("\n", 1)[0] for line in docker_file.instructions(text)
                        if docker_file.heredoc_ends(line)), None)
        if _check_builder(builder or self.builder) == "classic":
            if heredoc:  # Docker 20.10's parser fails on it; later ones run `RUN <<EOT` without the lines below it
                raise BadDockerfile(f"`{heredoc}` opens a heredoc, which the classic builder does not run (Docker "
                                    "28.5's ran `/bin/sh -c <<EOT` and made no files).", HEREDOC_FIX)
            return self._build_classic(image, folder, text, base, dockerfile, nocache, explain, args)
        try:
            return self._build_with_buildkit(image, folder, text, base, dockerfile, nocache, explain, args)
        except BadDockerfile as e:
            if heredoc is None or self.api >= HEREDOC_API:
                raise
            raise BadDockerfile(f"{e.problem} `{heredoc}` opens a heredoc: this engine's BuildKit (API "
                                f"{self.api[0]}.{self.api[1]}) reads its lines as instructions.", HEREDOC_FIX) from e

    def _build_classic(self, image: str, folder: Path, text: str, base: str, dockerfile: str, nocache: bool,
                       explain: bool, args: dict[str, str] | None) -> BuildReport:
        isolated = self.store != store.CONTAINERD  # --cache-from meets the engine bug on the containerd store
        sources = [base] + self.built[::-1][:CACHE_SOURCES] if isolated else None  # newest first, as Docker's
        before, foresee, rebuilt = None, None, {}
        if explain:
            later = {s.base for s in docker_file.stages(text, args)[1:] if not s.from_stage}
            histories = ({source: self._history_if_there(source) for source in sources} if isolated
                         else {k: v for image in [base, *later] for k, v in self._built_on(image).items()})
            foresee = functools.partial(
                cache.forecast, text, folder, histories.get(base) or self._history_if_there(base), histories, args,
                nocache, isolated, dockerfile, self.api, self.copied, {image: self._history_if_there(image)
                                                                        for image in later},
                {image: self._config(image) for image in [base, *later]}, self.copies, self._copied_images(text, args),
                rebuilt)
            before = foresee()

        def run() -> BuildReport:
            return parse_build_stream(image, progress.build(self.engine.build(
                str(folder), image, dockerfile, nocache, args, sources), image))

        started = time.time()  # the engine's clock where it runs here; made_on allows a second of skew
        try:
            report = run()
        except BuildFailed as e:  # the engine's cache lookup found another lab's step, which its cleanup then removed
            self.made |= set(e.made)  # the steps before the failure stay as cache: the lab's own, cleaned up
            if (e.instruction or "").upper().startswith("FROM "):  # an ONBUILD trigger failed: those before it made
                bases = [s.base for s in docker_file.stages(text, args) if not s.from_stage]
                self.made |= made_on(self.engine.images(), self._ids(*bases, *e.made), started)
            if classify(e.message) != "vanished":
                raise
            report = run()
        # an earlier stage is no ancestor of the image: named too
        self.built += [*filter(None, report.stage_ends[:-1]), report.image_id]
        self.made |= {s.image_id for s in report.rows if s.image_id and not s.cached}
        self.image_ids.pop(image, None)  # a later BuildKit build FROM it reads its new id
        self.workspace.note(self.notebook, "build", short_name(image))
        history = self.histories.get(report.image_id) or self._history(image)
        if report.image_id:
            self.histories[report.image_id] = history
        for source, keys in cache.copies_made(text, args, [(r.instruction, r.image_id) for r in report.rows],
                                              history, self._copied_images(text, args)).items():
            self.copies.setdefault(source, set()).update(keys)
        report = join_layers(report, history)
        while foresee is not None and any(copy.same is None for copy in rebuilt.values()):
            self._read_rebuilt(rebuilt, text, args, report)  # a COPY --from a rebuilt stage: its files exist now
            before = foresee()  # which may reach a later one
        if before is not None:
            report.why = why.explain(report, before)
        return report

    def _read_rebuilt(self, rebuilt: dict[int, cache.RebuiltCopy], text: str, args: dict[str, str] | None,
                      report: BuildReport) -> None:
        """Fill in each `cache.RebuiltCopy` from the files its stage's new image holds and those of the images
        earlier builds copied from for the same keys (`Lab.copies`)."""
        ends = report.stage_ends
        stages = {name: stage.index for stage in docker_file.stages(text, args)
                  for name in (stage.name.lower(), str(stage.index))}
        for copy in (copy for copy in rebuilt.values() if copy.same is None):
            new = self._files_copied(ends[stages[copy.stage]], copy.sources)
            earlier = [(key, image) for image, keys in self.copies.items() for key in keys & copy.keys]
            files = {}
            for _, image in earlier:
                with contextlib.suppress(ImageMissing):  # removed since (by the lab's cleanup, or by hand)
                    files[image] = self._files_copied(image, copy.sources)
            copy.same = {key for key, image in earlier if files.get(image) == new}
            copy.changed = build_context.changed_files(next(reversed(files.values()), {}), new)

    def _files_copied(self, image: str, sources: list[str]) -> dict[str, str]:
        """What a ``COPY --from`` of ``sources`` takes from ``image`` (`Engine.copied_files`): each entry's header
        and checksum by its name; read once per image."""
        key = (image, tuple(sources))
        if key not in self.files_copied:
            self.files_copied[key] = files_module.copied_files(self.engine.copied_files(image, sources, self.labels))
        return self.files_copied[key]

    def _built_on(self, base: str) -> dict[str, History | None]:
        """The histories of every image the classic builder made on ``base`` on this engine (the leaves of
        its tree of parents), whoever built them: the engine's own cache, as a build without ``--cache-from``
        looks it up."""
        images = self.engine.images()
        try:
            base_id = self.engine.inspect_image(base)["Id"]
        except ImageMissing:
            return {}
        children: dict[str, list[str]] = {}
        for i in images:
            if i.get("ParentId"):
                children.setdefault(i["ParentId"], []).append(i["Id"])
        leaves, todo = [], [base_id]
        while todo:
            below = children.get(todo.pop(), [])
            todo += below
            leaves += [i for i in below if i not in children]
        names = {i["Id"]: next((t for t in i.get("RepoTags") or [] if t != "<none>:<none>"), i["Id"]) for i in images}
        return {names[leaf]: self._history_if_there(leaf) for leaf in leaves}

    def _ids(self, *images: str) -> set[str]:
        """The full ids of those of ``images`` (names or ids) on the engine."""
        found = set()
        for image in images:
            with contextlib.suppress(ImageMissing):
                found.add(self.engine.inspect_image(image)["Id"])
        return found

    def _config(self, image: str) -> dict:
        """An image's config (its ENV, shell, working folder ...); empty for one not on the engine."""
        try:
            return self.engine.inspect_image(image).get("Config") or {}
        except ImageMissing:
            return {}

    def _copied_images(self, text: str, args: dict[str, str] | None) -> dict[str, str]:
        """The short id of each image the Dockerfile copies ``--from`` (not a stage) that is on the engine, by
        lower-case name."""
        found = {}
        for name in docker_file.copied_images(text, args):
            with contextlib.suppress(ImageMissing):
                found[name.lower()] = self.engine.inspect_image(name)["Id"].split(":")[-1][:12]
        return found

    def _build_with_buildkit(self, image: str, folder: Path, text: str, base: str, dockerfile: str, nocache: bool,
                             explain: bool, args: dict[str, str] | None) -> BuildReport:
        """`build` through the docker CLI with BuildKit. Its cache is the engine's; the workspace's name keys this
        lab's RUN steps, and all after them, apart from other labs' (`cli.cli_build`'s ``owner``)."""
        bases = {base, *docker_file.copied_images(text, args)} | {s.base for s in docker_file.stages(text, args)
                                                                 if not s.from_stage}
        for name in bases - self.image_ids.keys():  # read once a session (slow on the containerd store)
            try:
                found = self.engine.inspect_image(name)
                self.image_ids[name], self.onbuild[name] = found["Id"], _triggers(found)
            except ImageMissing:  # not pulled yet, or scratch: BuildKit resolves it, the lab keys on its name
                self.image_ids[name] = name
        triggers = {name: self.onbuild.get(name, []) for name in bases}
        plan_steps = functools.partial(buildkit_cache.plan, text, folder,
                                       {name: self.image_ids[name] for name in bases}, args or {}, dockerfile,
                                       triggers, self.stage_files)
        steps = plan_steps()
        before = buildkit_cache.forecast(steps, self.built_with_buildkit, nocache) if explain else None
        with ThreadPoolExecutor(max_workers=1) as pool:
            early: list[Future[History]] = []

            def exported(config: str) -> None:  # read the new image's history while the CLI exits
                if config not in self.histories:
                    early.append(pool.submit(self._history, image))

            def run() -> BuildReport:
                return buildkit.parse_progress(image, progress.build(buildkit.on_export(self.engine.build_cli(
                    str(folder), image, dockerfile, nocache, args, self.workspace.name), exported), image), text,
                    triggers)

            try:
                report = run()
            except BuildFailed as e:  # the containerd store lost a snapshot as it unpacked the image: once more
                if classify(e.message) != "snapshot":
                    raise
                report = run()
            if report.image_id and report.config in self.histories:  # a config read before: same steps and layers
                history = self.histories[report.config]
            else:
                history = self._history_of_build(image, report.image_id, early)
                if report.config:  # a CLI that names no config leaves nothing to key it by
                    self.histories[report.config] = history
        report.image_id = report.image_id or history.image_id
        self.made.add(report.image_id)  # untagged once the tag is built again: cleanup then finds it here
        self.image_ids[image] = report.image_id
        report = buildkit.join_history(report, history)
        for _ in steps:  # each COPY --from a stage keyed by the files it takes, read once the stage ran
            if not any([self._read_stage(step, image, folder, text, dockerfile, args) for step in steps
                        if step.needs and not step.unused]):
                break
            steps = plan_steps()  # a stage that copies from a stage that was read has a new key: read in turn
            before = buildkit_cache.forecast(steps, self.built_with_buildkit, nocache) if explain else None
        buildkit_cache.share(steps, report)
        buildkit_cache.remember(steps, report, self.built_with_buildkit)
        if before is not None:
            report.why = buildkit_cache.explain(report, before)
        self.workspace.note(self.notebook, "build", short_name(image))
        return report

    def _read_stage(self, step: buildkit_cache.Step, image: str, folder: Path, text: str, dockerfile: str,
                    args: dict[str, str] | None) -> bool:
        """Read what a ``COPY --from`` a stage takes (`buildkit_cache.plan`'s ``copied``), from that stage built alone
        (``--target``: every step cached by the build just made) as an image, removed once read; False when read
        before. BuildKit builds a stage alone only by its name: an unnamed one is named in a copy of the Dockerfile
        kept outside the context (a stage's name is in none of its keys)."""
        flags, sources, _ = docker_file.copy_arguments(step.target)
        if (step.needs, tuple(sources)) in self.stage_files:
            return False
        stage = next(s for s in docker_file.stages(text, args) if flags["from"].lower() in (s.name, str(s.index)))
        alone = f"{image}-stage-{stage.index}"
        with tempfile.TemporaryDirectory(prefix="layer-lab-stage-") as elsewhere:
            name = stage.name
            if name == str(stage.index):
                own_ignore, name = folder / f"{dockerfile}.dockerignore", f"layer-lab-stage-{stage.index}"
                dockerfile = str(Path(elsewhere) / "Dockerfile")
                Path(dockerfile).write_text(docker_file.named(text, {stage.index: name}))
                if own_ignore.is_file():  # a Dockerfile's own ignore file lies beside it
                    shutil.copyfile(own_ignore, f"{dockerfile}.dockerignore")
            built = buildkit.parse_progress(alone, self.engine.build_cli(str(folder), alone, dockerfile, False, args,
                                                                         self.workspace.name, name))
        self.made |= {built.image_id} - {""}
        try:
            found = self.engine.copied_files(built.image_id or alone, sources, self.labels)
        finally:
            self.engine.remove_image(alone)
        self.stage_files[(step.needs, tuple(sources))] = files_module.copied_files(found)
        return True

    def history(self, image: str) -> History:
        """The image's history like `docker image history`, sizes in bytes, with layer digests and the bytes
        of each layer's files (on the containerd store, where history counts disk blocks, read from the
        image's export once per layer)."""
        found = self.engine.inspect_image(image)
        content = None
        if self.store == store.CONTAINERD:
            if not set(found["RootFS"]["Layers"]) <= self.layer_bytes.keys():
                self.layer_bytes |= {r.diff_id: r.bytes for r in self.files(image).rows if r.diff_id}
            content = self.layer_bytes
        return parse_history(image, self.engine.history(image), found, content, self.engine.now())

    def _history(self, image: str) -> History:
        """The image's history as the engine gives it, without reading any layer's files (its ONBUILD triggers are
        noted on the way, for a later build FROM it)."""
        history, found = self.engine.history(image), self.engine.inspect_image(image)
        self.onbuild[image] = _triggers(found)
        return parse_history(image, history, found)

    def _history_of_build(self, image: str, image_id: str, early: list[Future[History]]) -> History:
        """The history of the image a build named ``image_id``: the one read as the exporter finished when it is of
        that image (a tag still on the image before, or an answer that failed, is read again), else read now."""
        with contextlib.suppress(errors.LabError):
            if early and (history := early[-1].result()).image_id == image_id:
                return history
        return self._history(image)

    def _history_if_there(self, image: str) -> History | None:
        """The image's history (`_history`), or None when it is gone (another lab's cleanup removed it)."""
        try:
            return self._history(image)
        except ImageMissing:
            return None

    def login(self, username: str, password: str) -> None:
        """Log in to the lab's registry (needed for Docker Hub; not for the lab's own registry).

        Raises:
            CredentialsRejected: the registry refused the user name or password.
            BadInput: this is a replay, with no registry to log in to.
        """
        self.engine.login(username, password)

    def files(self, image: str) -> files_module.ImageFiles:
        """The files of each of ``image``'s layers, read from the engine's export of it (headers only)."""
        return files_module.parse_layer_files(self.engine.layer_files(image))

    def push(self, image: str) -> PushReport:
        """Tag ``image`` for the registry, push it, and report what happened to each layer.

        Raises:
            PushFailed: the engine reported an error inside the push stream.
            RegistryUnavailable: the registry did not answer.
        """
        name, tag = image.rsplit(":", 1)
        path = self.registry_path(name)
        repository = f"{settings.registry_host(self.registry)}/{path}"
        self.engine.tag(image, repository, tag)
        if settings.on_loopback(self.registry):  # the lab's own registry; never a learner's Docker Hub repository
            self.pushed.append((path, tag))
        report = parse_push_stream(repository, tag, progress.push(self.engine.push(repository, tag), repository))
        found = self.engine.inspect_image(image)
        top = self.engine.manifest(path, tag)
        image_manifest, attestations = resolve_index(top["manifest"], {"os": found.get("Os", "linux"),
                                                                       "architecture": found.get("Architecture", "")})
        manifest = top["manifest"] if image_manifest is None else self.engine.manifest(path, image_manifest)["manifest"]
        report = join_manifest(report, found["RootFS"]["Layers"], manifest,
                               [self.engine.manifest(path, digest)["manifest"] for digest in attestations])
        report.digest = report.digest or top["digest"]
        if settings.on_loopback(self.registry):
            base = self._layers_of(self.base_image)
            self.base_blobs |= {r.digest for r in report.layers if r.digest and r.diff_id in base}
        self.workspace.note(self.notebook, "push", short_name(image))
        return report

    def _layers_of(self, image: str) -> set[str]:
        """The diff ids of an image's layers; none for an image not on the engine."""
        try:
            return set(self.engine.inspect_image(image)["RootFS"]["Layers"])
        except ImageMissing:
            return set()

    def pull_fresh(self, image: str) -> str:
        """Remove ``image`` from the engine and pull it back from the registry it was pushed to, as a machine that
        never built it would get it; return the name it was pulled under.

        Raises:
            ImageMissing: it was not pushed, or a container still uses it.
            PushFailed: the registry refused the pull.
        """
        name, tag = image.rsplit(":", 1)
        repository = f"{settings.registry_host(self.registry)}/{self.registry_path(name)}"
        if (self.registry_path(name), tag) not in self.pushed:
            raise ImageMissing(f"{short_name(image)} was not pushed yet.", "Push it first: lab.push(image).")
        for ref in (image, f"{repository}:{tag}"):
            self.engine.remove_image(ref)
        parse_pull_stream(f"{repository}:{tag}", progress.push(self.engine.pull(repository, tag), repository))
        return f"{repository}:{tag}"

    def mounts(self, app: App) -> containers.Overlay:
        """How the kernel mounted the container's root: its overlay of read-only layers under one writable folder,
        as the container itself sees it (``/proc/self/mountinfo``)."""
        return containers.parse_root_mount(self.exec(app, "grep", " / / ", "/proc/self/mountinfo"))

    def registry_path(self, name: str) -> str:
        """Where ``name`` goes in the registry: under the registry's namespace if it names one
        (``docker.io/alice`` puts ``lab-1a2b3c/python-hello-world`` at ``alice/python-hello-world``)."""
        namespace = self.registry.partition("/")[2]
        return f"{namespace}/{name.rsplit('/', 1)[-1]}" if namespace else name

    # -- your own project --------------------------------------------------------------------
    def project(self, folder: str | os.PathLike | None = None, dockerfile: str = "Dockerfile") -> Project:
        """Your folder (the sample project when None) as ``docker build FOLDER`` sees it: the files its context sends
        and those ``.dockerignore`` keeps out; what it sends is copied into the workspace, where the lab may edit
        and build it (your folder is only read).

        Raises:
            BadInput: the folder does not exist, holds no such Dockerfile, or holds a file that cannot be read.
        """
        return open_project(folder, self.workspace, dockerfile)

    def advise(self, project: Project) -> Advice:
        """The project's Dockerfile reordered so that a code change keeps the install cached (`helpers.advice`)."""
        return advise(project.text, project.sent, project.read)

    def try_orders(self, project: Project, advised: Advice, edits: list[str], name: str = "my-project",
                   args: dict[str, str] | None = None, builder: str | None = None) -> Trial:
        """Build and push both Dockerfiles cold, then make each edit (`Project.edit`) to both copies and rebuild and
        push each: the measured cost of each order (`helpers.trial`). Images are ``name:vN`` and
        ``name-advised:vN``; each build explains its steps (``report.why``: the cold ones so that the lab knows the
        files each COPY copied, and names those an edit changed)."""
        trial, twin = Trial(), project.twin("advised", advised.advised)
        for n, edited in enumerate([None, *edits]):
            for order, copy in zip(ORDERS, (project, twin)):
                if edited:
                    copy.edit(edited)
                report = self.build(f"v{n}", name=name if order == "yours" else f"{name}-advised", nocache=not n,
                                    explain=True, args=args, builder=builder, context=copy.folder,
                                    dockerfile=project.dockerfile)
                trial.add(order, n, edited or "", report, self.push(report.tag))
        return trial

    # -- containers --------------------------------------------------------------------------
    def run(self, image: str, port: int | None = 5001, wait: float = 30.0) -> App:
        """Run the app from ``image`` with host ``port`` (None: one Docker picks) mapped to its port 5000; wait until
        it answers.

        Raises:
            ContainerFailed: the app exited, or did not answer within ``wait`` seconds.
        """
        if not self.engine.has_image(image):
            raise ImageMissing(f"There is no image {image} yet.")
        app = containers.start(self.engine, image, self.labels, port, wait)
        self.workspace.note(self.notebook, "run", short_name(image))
        return app

    def get(self, app: App, path: str = "/") -> str:
        """GET ``path`` from the app, like ``curl``, and return the body."""
        return self.engine.http_get(app.url + path.lstrip("/"))[1]

    def logs(self, app: App) -> str:
        return self.engine.logs(app.id)

    def exec(self, app: App, *command: str) -> str:
        """Run ``command`` inside the app's container (no shell) and return its output."""
        code, out = self.engine.exec(app.id, list(command))
        if code:
            raise BadInput(f"{' '.join(command)!r} exited with code {code} in the container: {out.strip()}")
        return out

    def diff(self, app: App) -> Changes:
        """What the container changed on top of its image (`docker diff`)."""
        return parse_diff(app.id, self.engine.diff(app.id))

    def sizes(self, app: App) -> dict[str, int]:
        """Bytes in the container's own read/write layer and in its whole view of the file system."""
        found = self.engine.inspect_container(app.id, size=True)
        return {"size_rw": found.get("SizeRw", 0), "size_root_fs": found.get("SizeRootFs", 0)}

    def stop(self, app: App) -> None:
        """Stop and remove the app's container."""
        self.engine.remove_container(app.id)

    # -- cleanup -----------------------------------------------------------------------------
    def cleanup(self, all_workspaces: bool = False) -> Cleaned:
        """Remove the containers, images and registry tags the lab created in this workspace (or in all of them).

        Only the lab's containers (by their label), the images named in its namespace, the untagged
        images below those and the step images its own builds made (an unused stage's result) are
        touched; an image also tagged by someone else keeps those other tags and so survives, and an
        image a container of someone else's uses is kept whole (``kept`` names it). In the lab's own
        registry, the manifests it pushed are deleted (with ``all_workspaces``, those of every
        ``lab-xxxxxx/`` repository).
        """
        workspace = None if all_workspaces else self.workspace.name
        cleaned = Cleaned(0, 0)
        for _ in range(CLEANUP_ROUNDS):  # the containerd store keeps an image's untagged parents: a pass more sees them
            plan = cleanup_plan(self.engine.containers(container_label(workspace)), self.engine.containers(),
                                self.engine.images(), self.made, workspace)
            for cid in plan.containers:
                self.engine.remove_container(cid)
            for ref in plan.images:
                self.engine.remove_image(ref)
            cleaned = Cleaned(cleaned.containers + len(plan.containers), cleaned.tags + len(plan.images), plan.kept)
            if not plan.containers and not plan.images:
                break
        pushed = self.pushed
        if all_workspaces and settings.on_loopback(self.registry):
            mine = [r for r in self.engine.catalog() if WORKSPACE_REPOSITORY.match(r)]
            pushed = [(repository, tag) for repository in mine for tag in self.engine.tags(repository)]
        deleted = sum(self._unpush(repository, tag) for repository, tag in dict.fromkeys(pushed))
        self.workspace.note(self.notebook, "cleanup", "everything of the notebook's")
        self.built.clear()  # BuildKit's cache outlives the images, so built_with_buildkit stays
        self.made.clear()
        self.pushed = []
        self.base_blobs.clear()
        return dataclasses.replace(cleaned, manifests=deleted)


    def _unpush(self, repository: str, tag: str) -> bool:
        """Delete ``repository:tag`` from the lab's registry, and unlink its blobs from the repository, so no later
        push (another run's, another learner's) mounts a layer of this lab's from it; False if it was not there.

        The base image's layers (`base_blobs`) stay linked: they are every learner's, and the engine mounts a
        layer only from a repository it pushed it to before, so a push that finds none uploads the whole base
        again (190 MB to compress on Docker 20.10, in each learner's first push of each notebook).
        """
        try:
            top = self.engine.manifest(repository, tag)
        except ImageMissing:
            return False
        manifests, blobs = referenced(top["manifest"])
        for digest in manifests:
            with contextlib.suppress(ImageMissing):
                blobs += referenced(self.engine.manifest(repository, digest)["manifest"])[1]
        deleted = self.engine.delete_manifest(repository, tag)
        for digest in dict.fromkeys(blobs):
            if digest not in self.base_blobs:
                self.engine.delete_blob(repository, digest)
        return deleted


def _triggers(inspected: dict) -> list[str]:
    """An image's ONBUILD triggers, from the engine's inspect answer."""
    return list((inspected.get("Config") or {}).get("OnBuild") or [])


MODES = ("auto", "live", "record", "replay")


def _check_mode(asked: str) -> str:
    if asked not in MODES:
        raise BadInput(f"LAYER_LAB_MODE={asked!r} is not a mode.", "Use live, record or replay.")
    return asked


def choose_mode(asked: str, engine_answers: bool, notebook: str | None, recorded: bool) -> str:
    """``live``, ``record`` or ``replay``: what `connect` does, decided from what it found.

    Args:
        asked: ``auto``, ``live``, ``record`` or ``replay`` (``LAYER_LAB_MODE``).
        engine_answers: whether an engine answered (not asked in replay).
        notebook: the notebook's name, if given.
        recorded: whether that notebook has a recording with the builder asked for.

    Raises:
        BadInput: ``asked`` is no mode, or replay or record has no notebook name.
        EngineUnavailable: no engine answers and there is nothing to replay.
    """
    _check_mode(asked)
    if asked == "replay" or (asked == "auto" and not engine_answers and notebook is not None and recorded):
        if notebook is None:
            raise BadInput("Replay needs the notebook's name.", 'Call helpers.connect("01-build-run-push").')
        return "replay"
    if not engine_answers:
        raise EngineUnavailable("No Docker engine answers (tried DOCKER_HOST, then the local socket).")
    if asked == "record" and notebook is None:
        raise BadInput("Recording needs the notebook's name.", 'Call helpers.connect("01-build-run-push").')
    return "record" if asked == "record" else "live"


def _live(engine: Engine, config: settings.Settings, notebook: str | None, builder: str, record: bool) -> Lab:
    """A lab on a live engine; with ``record``, every engine answer is also stored for replay."""
    workspace = Workspace()
    if record:
        meta = recording.meta_for(engine, notebook, workspace.name, config.base_image, builder)
        engine = recording.RecordingEngine(engine, recording.recording_path(notebook, builder), meta)
    return Lab(engine, config, workspace, builder, notebook)


def _replay(notebook: str, builder: str) -> Lab:
    """A lab answering from the recording of ``notebook`` run with ``builder``."""
    recorded = recording.load(notebook, builder)
    meta = recorded["meta"]
    config = settings.Settings(meta["registry"], meta["base_image"], f"as recorded on {meta['recorded']}")
    return Lab(recording.ReplayEngine(recorded, notebook), config, Workspace(name=meta["workspace"]), meta["builder"],
               notebook)


def connect(notebook: str | None = None, mode: str | None = None, builder: str | None = None) -> Lab:
    """Connect to the engine the docker CLI would use, or replay a recording where there is none.

    Args:
        notebook: the notebook's name (e.g. ``"01-build-run-push"``): what to record or replay.
        mode: ``live``, ``record`` (live, and store every engine answer under
            ``notebooks/recordings/``) or ``replay``; by default ``LAYER_LAB_MODE``, else live
            when an engine answers and replay when none does.
        builder: ``classic`` or ``buildkit`` for the lab's builds; by default ``LAYER_LAB_BUILDER``,
            else the one `docker build` uses here (`docker_build_builder`). A replay replays the run
            recorded with that builder; by default the classic one, whose outputs the notebooks store.

    Raises:
        EngineUnavailable: no engine answers and there is no recording to replay.
        BadInput: ``mode`` or ``builder`` is not one of the known ones.
    """
    install_error_display()
    asked = _check_mode(mode or os.environ.get("LAYER_LAB_MODE") or "auto")  # named before any engine is asked
    builder = builder or os.environ.get("LAYER_LAB_BUILDER") or None
    replayed = _check_builder(builder or "classic")
    config = settings.load()
    engine, unavailable = None, None
    if asked != "replay":
        try:
            engine = Engine(config.registry)
        except EngineUnavailable as e:
            unavailable = e
    recorded = notebook is not None and recording.recording_path(notebook, replayed).is_file()
    try:
        chosen = choose_mode(asked, engine is not None, notebook, recorded)
    except EngineUnavailable as e:
        raise (unavailable or e) from e
    if chosen == "replay":
        return _replay(notebook, replayed)
    return _live(engine, config, notebook, _check_builder(builder or docker_build_builder()), chosen == "record")
