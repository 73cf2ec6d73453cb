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
from .context import Received, changed_files
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
_EXPANDED = ("USER", "STOPSIGNAL", "VOLUME")
"""Instructions whose words the classic builder expands (ARG values and ENV) before writing them in the history,
each word alone (ENV, LABEL, WORKDIR, EXPOSE and COPY/ADD, which it expands too, have rules of their own)."""


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
    values = _arg_values(args, declared)
    words = {**values, **env}
    if keyword == "RUN":
        command = rest if not rest.startswith("[") else " ".join(json.loads(rest))
        used = sorted(f"{k}={v}" for k, v in values.items() if k not in env)
        prefix = f"|{len(used)} {' '.join(used)} " if used else ""
        return f"{prefix}/bin/sh -c {command}" if not rest.startswith("[") else prefix + command
    if keyword in ("COPY", "ADD"):
        flags, sources, destination = _expanded_copy_arguments(rest, words)
        if set(flags) - {"chown"} or any("://" in s for s in sources):
            return None
        name = context.copy_source(sources) if sources else None
        chown = f"--chown={flags['chown']}{' ' if api >= CHOWN_SPACED else ''}" if flags.get("chown") else ""
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


def _arg_values(args: dict[str, str], declared: dict[str, str | None]) -> dict[str, str]:
    """The declared ARGs that have a value: the build-arg given, else the default."""
    return {k: args.get(k, v) for k, v in declared.items() if args.get(k, v) is not None}


def _expanded_copy_arguments(rest: str, words: dict[str, str | None]) -> tuple[dict[str, str], list[str], str]:
    """A COPY/ADD's flags, sources and destination (`helpers.dockerfile.copy_arguments`), with ``words`` (ARG and
    ENV values) expanded in them as the classic builder does."""
    flags, sources, destination = docker_file.copy_arguments(rest)
    return ({k: docker_file.process_word(v, words) for k, v in flags.items()},
            [docker_file.process_word(s, words) for s in sources], docker_file.process_word(destination, words))


Entry = tuple[str, int]
"""One history entry as the cache compares it: its command text and when it was made. Not its layer: which
entries hold one is not always known (the containerd store drops a RUN's empty layer, overlay2 keeps it)."""


def entries(history: History | None) -> list[Entry]:
    """An image's history oldest first, as `Entry`s; empty for None (an image already gone)."""
    if history is None:
        return []
    return [(r.created_by, r.created) for r in reversed(history.rows)]


_CANNOT = ("the lab cannot predict this instruction (a URL, a relative WORKDIR, or a source the context does "
           "not hold)")


def forecast(dockerfile: str, context: Path, base: History | None, sources: dict[str, History | None],
             args: dict[str, str] | None = None, nocache: bool = False, isolated: bool = True,
             dockerfile_name: str = "Dockerfile", api: tuple[int, int] = CHOWN_SPACED,
             copied: dict[str, dict[str, str]] | None = None,
             bases: dict[str, History | None] | None = None,
             environments: dict[str, dict[str, str]] | None = None) -> Forecast:
    """Walk the Dockerfile the way the classic builder's cache does, stage by stage.

    Each FROM starts a chain: the base image's history, or an earlier stage's chain as this walk
    predicted it (rebuilt from the step where it was). A ``COPY --from`` an earlier stage is keyed by the
    files of that stage's image: when the stage was reused whole they are the files an earlier build copied,
    so its key is the one the earlier build wrote for that destination; after a rebuilt stage the lab cannot
    know them.

    Args:
        dockerfile: the Dockerfile's text.
        context: the build context folder (for COPY checksums).
        base: the history of the image the first FROM names.
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
        bases: the histories of the images later stages start FROM (None for one not on the engine).
        environments: the ENV each base image sets (its config's), which ENV, LABEL, COPY ... may expand.
    """
    args, bases, environments = args or {}, bases or {}, environments or {}
    received = Received.of(context, dockerfile_name)
    stages = docker_file.stages(dockerfile, args)
    candidates = {s: entries(h) for s, h in sources.items()}
    steps: list[tuple[bool | None, str]] = []
    finished: dict[str, tuple[list[Entry] | None, int | None, dict[str, str | None]]] = {}
    chain: list[Entry] | None = None
    declared: dict[str, str | None] = {}
    env: dict[str, str | None] = {}
    broken: int | None = None
    unknown: int | None = None  # a step of this stage the lab could not predict: the chain after it is unknown
    stage, on_base = -1, True
    for n, line in enumerate(docker_file.instructions(dockerfile), start=1):
        keyword = docker_file.keyword(line)
        if keyword == "FROM":
            if stage >= 0:
                finished[stages[stage].name] = finished[str(stage)] = (None if unknown else chain, broken, env)
            stage, unknown = stage + 1, None
            declared, origin = {}, stages[stage].base.lower()
            if origin in finished:
                chain, broken, env = finished[origin][0], finished[origin][1], dict(finished[origin][2])
                steps.append((True, f"FROM the stage {origin}: its chain of steps goes on"))
            else:
                history = base if stage == 0 else bases.get(stages[stage].base)
                chain, broken = entries(history) if stage == 0 or history is not None else None, None
                env = dict(environments.get(stages[stage].base) or {})
                steps.append((True, "FROM uses the base image as it is"))
            on_base = origin not in finished
            continue
        if stage < 0:  # an ARG before the first FROM: a value for FROM lines, no step of its own to reuse
            steps.append((False, "an ARG before the first FROM only gives FROM lines a value: nothing to reuse"))
            continue
        flags = docker_file.copy_arguments(docker_file.rest(line))[0] if keyword in ("COPY", "ADD") else {}
        if "from" in flags:
            key, why_not = _copied_from(line, flags["from"].lower(), finished, chain, candidates, declared, env,
                                        args)
        else:
            key, why_not = created_by(line, received, args, declared, api, env), _CANNOT
        if copied is not None and key is not None and keyword in ("COPY", "ADD") and "from" not in flags:
            sources = _expanded_copy_arguments(docker_file.rest(line), {**_arg_values(args, declared), **env})[1]
            copied.setdefault(key, received.contents(sources) or {})  # a later build may name what changed
        if nocache:
            steps.append((False, "the build was asked not to use the cache (--no-cache)"))
        elif broken:
            steps.append((False, f"its parent changed: step {broken} was rebuilt, so every later step is too"))
        elif unknown:
            steps.append((None, f"the lab cannot predict this step: it follows step {unknown}, which it could not "
                                "predict (reused, it would be looked up on that image; rebuilt, this step is too)"))
        elif chain is None:
            steps.append((None, f"the lab cannot predict this stage: its base {stages[stage].base} is not on "
                                "the engine yet"))
        elif key is None:
            steps.append((None, why_not))
            unknown = n
        else:
            after = {s: e[len(chain)] for s, e in candidates.items() if len(e) > len(chain) and e[:len(chain)] == chain}
            matches = [s for s, entry in after.items() if entry[0] == key]
            match = max(matches, key=lambda s: after[s][1], default=None)  # the newest, as the builder picks
            if match:
                chain = candidates[match][:len(chain) + 1]
                who = f"the earlier build {_short_name(match)}" if isolated else f"the image {_engine_name(match)}"
                steps.append((True, f"cache hit: {who} made this step on "
                                    f"the same parent{' from the same file' if 'file:' in key else ''}"))
            else:
                steps.append((False, _miss(key, [e[0] for e in after.values()], on_base, copied)))
                broken = n
        on_base = False
    return Forecast(steps)


def _copied_from(line: str, origin: str, finished: dict, chain: list[Entry] | None,
                 candidates: dict[str, list[Entry]], declared: dict, env: dict, args: dict) -> tuple[str | None, str]:
    """The key of a ``COPY --from`` an earlier stage, when that stage was reused whole: the one an earlier
    build wrote for the same destination on the same parent; else None and why."""
    if origin not in finished:
        return None, f"the lab cannot predict a COPY --from {origin}: the files of an image it did not build"
    if finished[origin][1] is not None or finished[origin][0] is None:
        return None, f"the lab cannot predict this COPY: stage {origin} was rebuilt, and its files may differ"
    destination = _expanded_copy_arguments(docker_file.rest(line), {**_arg_values(args, declared), **env})[2]
    written = re.compile(rf"^{re.escape(NOP)}(COPY|ADD) (--chown=\S+ ?)?(file|dir|multi):\w+ in "
                         rf"{re.escape(destination)} $")
    at = len(chain or [])
    keys = {e[at][0] for e in candidates.values()
            if chain is not None and len(e) > at and e[:at] == chain and written.match(e[at][0])}
    if len(keys) == 1:
        return keys.pop(), ""
    return None, (f"the lab cannot predict this COPY: no earlier build copied from stage {origin} to {destination} "
                  "on this parent" if not keys else "the lab cannot predict this COPY: earlier builds copied "
                  "different files there")


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
