"""Why each build step came from the cache or not: the classic builder's cache lookup, done by the
lab before a build, then checked against what the build did.

The lab lets a build reuse only its own workspace's earlier builds (``--cache-from`` with those
images and the base), so two notebooks running at once never serve each other's cache. The
builder then reuses a step when one of those images' histories continues the chain built so far
with the same instruction: the same command text, for COPY/ADD the same file checksum (a tarsum
of the file's header fields and bytes, not its mtime), for RUN the same build-arg values.
"""
from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path

from . import dockerfile as docker_file
from .context import Received, changed_files, copy_arguments
from .layers import NOP, History, instruction_of
from .why import Forecast


def _json_args(args: str) -> str:
    """A JSON-array argument as the classic builder's history writes it: ``["python" "app.py"]``."""
    try:
        items = json.loads(args)
    except ValueError:
        return args
    return "[" + " ".join(json.dumps(i) for i in items) + "]" if isinstance(items, list) else args


CHOWN_SPACED = (1, 44)
"""The engine API from which the classic builder writes a space after ``--chown=...`` in the history (Docker 25,
moby#45473); before it, ``--chown=1000:1000file:...``."""


WORKDIR_AS_WRITTEN, WORKDIR_CLEANED = (1, 41), (1, 51)
"""Engine APIs measured here: Docker 20.10 writes an absolute WORKDIR as written (``/a/../b``), Docker 28.5
cleans it (``/b``); between them the lab does not know, and predicts only paths that are already clean."""
_EXPANDED = ("ENV", "LABEL", "USER", "WORKDIR", "EXPOSE", "STOPSIGNAL", "VOLUME")
"""Instructions whose words the classic builder expands (ARG values and ENV) before writing them in the history."""


def created_by(instruction: str, context: Received, args: dict[str, str], declared: dict[str, str | None],
               api: tuple[int, int] = CHOWN_SPACED, env: dict[str, str | None] | None = None) -> str | None:
    """The history text (the cache key's command) the classic builder of engine API ``api`` writes for
    ``instruction``, literally (two spaces stay two spaces).

    Returns None for what the lab cannot predict (ADD of URLs, COPY --from, sources missing from the context).
    ``declared`` collects the ARGs seen so far and ``env`` the ENV values, as the builder does: ENV, LABEL,
    USER, WORKDIR, EXPOSE and COPY/ADD see both expanded; RUN is keyed by the build args ENV does not
    override.
    """
    keyword, rest = docker_file.keyword(instruction), docker_file.rest(instruction)
    env = {} if env is None else env
    values = {k: args.get(k, v) for k, v in declared.items() if args.get(k, v) is not None}
    words = {**values, **env}
    if keyword == "RUN":
        command = rest if not rest.startswith("[") else " ".join(json.loads(rest))
        used = sorted(f"{k}={v}" for k, v in values.items() if k not in env)
        prefix = f"|{len(used)} {' '.join(used)} " if used else ""
        return f"{prefix}/bin/sh -c {command}" if not rest.startswith("[") else prefix + command
    if keyword in ("COPY", "ADD"):
        flags, sources, destination = copy_arguments(rest)
        if set(flags) - {"chown"} or any("://" in s for s in sources):
            return None
        sources = [docker_file.process_word(s, words) for s in sources]
        destination = docker_file.process_word(destination, words)
        name = context.copy_source(sources) if sources else None
        chown = docker_file.process_word(flags.get("chown", ""), words)
        chown = f"--chown={chown}{' ' if api >= CHOWN_SPACED else ''}" if chown else ""
        return None if name is None else f"{NOP}{keyword} {chown}{name} in {destination} "
    if keyword == "ARG":
        docker_file.declare(rest, declared)
    if keyword in ("ENV", "LABEL"):
        found = docker_file.pairs(rest, words)
        if keyword == "ENV":
            env.update(found)
        return f"{NOP} {keyword} {' '.join(f'{k}={v}' for k, v in found)}"
    if keyword == "WORKDIR":  # written as one argument: one space after #(nop); a relative one is not followed
        folder = docker_file.process_word(rest, words)
        cleaned = posixpath.normpath(folder)
        if not folder.startswith("/") or (folder != cleaned and WORKDIR_AS_WRITTEN < api < WORKDIR_CLEANED):
            return None
        return f"{NOP}WORKDIR {cleaned if api >= WORKDIR_CLEANED else folder}"
    if keyword == "EXPOSE":  # the parser sorts the words as written, then each is expanded (to words)
        rest = " ".join(docker_file.process_word(w, words) for w in sorted(rest.split()))
    elif keyword in _EXPANDED:
        rest = " ".join(docker_file.process_word(w, words) for w in rest.split())
    return f"{NOP} {keyword} {_json_args(rest)}"


Entry = tuple[str, int, str | None]
"""One history entry as the cache compares it: its command text, when it was made, its layer."""


def entries(history: History | None) -> list[Entry]:
    """An image's history oldest first, as `Entry`s; empty for None (an image already gone)."""
    if history is None:
        return []
    return [(r.created_by, r.created, r.diff_id) for r in reversed(history.rows)]


def forecast(dockerfile: str, context: Path, base: History | None, sources: dict[str, History | None],
             args: dict[str, str] | None = None, nocache: bool = False, isolated: bool = True,
             dockerfile_name: str = "Dockerfile", api: tuple[int, int] = CHOWN_SPACED,
             copied: dict[str, dict[str, str]] | None = None) -> Forecast:
    """Walk the Dockerfile the way the classic builder's cache does.

    Args:
        dockerfile: the Dockerfile's text.
        context: the build context folder (for COPY checksums).
        base: the history of the image the FROM line names.
        sources: the histories of the images the build may reuse steps of, by name or id: with
            ``isolated``, this workspace's builds (``--cache-from``); else every image the classic builder
            made on the base on this engine. None for one that is gone (another lab's cleanup).
        args: build-arg values.
        nocache: the build will not use the cache.
        isolated: the build reuses only ``sources`` (``--cache-from``), not the engine's whole cache.
        dockerfile_name: the Dockerfile's path in ``context`` (the engine drops it from the context when the
            ``.dockerignore`` excludes it).
        api: the engine's API version (`created_by`).
        copied: what the lab remembers of the files each COPY key copied; this forecast's COPY keys are added,
            so a later miss names the files that changed.
    """
    args = args or {}
    received = Received.of(context, dockerfile_name)
    lines = docker_file.instructions(dockerfile)
    chain = entries(base)
    candidates = {s: entries(h) for s, h in sources.items()}
    steps = [(True, "FROM uses the base image as it is")]
    declared, env, broken = {}, {}, None
    for n, line in enumerate(lines[1:], start=2):
        key = created_by(line, received, args, declared, api, env)
        if nocache:
            steps.append((False, "the build was asked not to use the cache (--no-cache)"))
        elif broken:
            steps.append((False, f"its parent changed: step {broken} was rebuilt, so every later step is too"))
        elif key is None:
            steps.append((None, "the lab cannot predict this instruction (a URL, COPY --from, a variable in its "
                                "sources, or a source the context does not hold)"))
            broken = n
        else:
            if copied is not None and docker_file.keyword(line) in ("COPY", "ADD"):
                copied.setdefault(key, received.contents(copy_arguments(docker_file.rest(line))[1]) or {})
            after = {s: e[len(chain)] for s, e in candidates.items() if len(e) > len(chain) and e[:len(chain)] == chain}
            matches = [s for s, entry in after.items() if entry[0] == key]
            match = max(matches, key=lambda s: after[s][1], default=None)  # the newest, as the builder picks
            if match:
                chain = candidates[match][:len(chain) + 1]
                who = f"the earlier build {_short_name(match)}" if isolated else f"the image {_engine_name(match)}"
                steps.append((True, f"cache hit: {who} made this step on "
                                    f"the same parent{' from the same file' if 'file:' in key else ''}"))
            else:
                steps.append((False, _miss(key, [e[0] for e in after.values()], n == 2, copied)))
                broken = n
    return Forecast(steps)


def _engine_name(image: str) -> str:
    """An image of the engine's cache as the engine names it: its whole tag (it may be another lab's), or its id."""
    return image[7:19] if image.startswith("sha256:") else image


def _short_name(image: str) -> str:
    return image.rsplit("/", 1)[-1] if not image.startswith("sha256:") else image[7:19]


_SOURCE = re.compile(r"(?:file|dir|multi):\w+")


def _miss(key: str, siblings: list[str], on_base: bool, copied: dict[str, dict[str, str]] | None = None) -> str:
    """The first cause of a miss, from the instructions built before on the same parent; ``copied`` holds the
    files each COPY key the lab predicted copied (`helpers.context.Received.contents`), to name those that
    changed."""
    if not siblings:
        return ("no cache existed: this workspace had built nothing on " +
                ("this base image" if on_base else "this parent") + " before")
    keyword = re.sub(r"^(\|\d+ \S+ )*(/bin/sh -c (#\(nop\) +)?)?", "", key).split(" ")[0]
    for old in sorted(siblings, key=lambda o: not (copied and o in copied)):  # those whose files it knows first
        if _SOURCE.search(key) and _SOURCE.search(old) and key.split(" in ")[-1] == old.split(" in ")[-1]:
            before, after = _SOURCE.search(old)[0], _SOURCE.search(key)[0]
            named = copied and key in copied and old in copied
            if named and not after.startswith("file:"):
                return f"a COPY source changed: {changed_files(copied[old], copied[key])}"
            what = "file copied" if after.startswith("file:") else "files copied"
            return (f"a COPY source changed: {changed_files(copied[old], copied[key]) + ': ' if named else ''}"
                    f"the {what} to {key.split(' in ')[-1].strip()} was {before[:17]}…, now {after[:17]}…")
        args_before, args_now = re.match(r"^\|\d+ (.*?) /bin/sh", old), re.match(r"^\|\d+ (.*?) /bin/sh", key)
        if (args_before or args_now) and old.split("/bin/sh -c ", 1)[-1] == key.split("/bin/sh -c ", 1)[-1]:
            was = args_before[1] if args_before else "none"
            return f"a build arg changed: {was} -> {args_now[1] if args_now else 'none'}"
    same_kind = [o for o in siblings if keyword and keyword in o] or siblings
    return f"the instruction changed: built before here was `{instruction_of(same_kind[0])[:70]}`"
