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
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from . import dockerfile as docker_file
from .context import Received, changed_files
from .layers import NOP, History, instruction_of
from .why import Forecast, with_triggers


def _json_list(text: str) -> list | None:
    """A JSON array's items, or None for text that is not one."""
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, list) else None


def _json_args(args: str) -> str:
    """A JSON-array argument as the classic builder's history writes it (Go's ``%q``): ``["python" "app.py"]``."""
    items = _json_list(args)
    return args if items is None else "[" + " ".join(_go_quote(str(i)) for i in items) + "]"


CHOWN_SPACED = (1, 44)
"""The engine API from which the classic builder writes a space after ``--chown=...`` in the history (Docker 25,
moby#45473); before it, ``--chown=1000:1000file:...``."""


WORKDIR_AS_WRITTEN, WORKDIR_CLEANED = (1, 41), (1, 51)
"""Engine APIs measured here: Docker 20.10 writes an absolute WORKDIR as written (``/a/../b``), Docker 28.5
cleans it (``/b``); between them the lab does not know, and predicts only paths that are already clean."""
_EXPANDED = ("USER", "STOPSIGNAL")
"""Instructions whose words the classic builder expands (ARG values and ENV) before writing them in the history,
each word alone (ENV, LABEL, WORKDIR, EXPOSE and COPY/ADD, which it expands too, have rules of their own)."""


def created_by(instruction: str, context: Received, args: dict[str, str], declared: dict[str, str | None],
               api: tuple[int, int] = CHOWN_SPACED, env: dict[str, str | None] | None = None,
               meta: dict[str, str | None] | None = None, shell: list[str] | None = None,
               workdir: str | None = "", escape: str = "\\") -> str | None:
    """The history text (the cache key's command) the classic builder of engine API ``api`` writes for
    ``instruction``, literally (two spaces stay two spaces).

    Returns None for what the lab cannot predict (ADD of URLs, COPY --from, sources missing from the context).
    ``declared`` collects the ARGs seen so far and ``env`` the ENV values, as the builder does: ENV, LABEL,
    USER, WORKDIR, EXPOSE and COPY/ADD see both expanded; RUN is keyed by the build args ENV does not
    override. ``meta``: the ARGs before the first FROM (`helpers.dockerfile.meta_args`), whose values a
    stage's ``ARG NAME`` without a default takes. ``shell``: what a shell-form RUN runs in (the last ``SHELL``
    line's, `shell_of`; ``/bin/sh -c`` without one). ``workdir``: the working folder so far, which a relative
    ``WORKDIR`` is joined to (None where it is not known).
    """
    keyword, rest = docker_file.keyword(instruction), docker_file.rest(instruction)
    if keyword == "SHELL":  # written with Go's %v, after the new shell: /bin/bash -c #(nop)  SHELL [/bin/bash -c]
        shell = shell_of(rest)
        return None if shell is None else f"{_nop(shell)} SHELL [{' '.join(shell)}]"
    nop = _nop(shell or DEFAULT_SHELL)  # a step that runs nothing is written after the shell a RUN would use
    env = {} if env is None else env
    values = docker_file.arg_values(args, declared)
    words = {**values, **env}
    if keyword == "RUN":
        command = rest if not rest.startswith("[") else " ".join(json.loads(rest))
        used = sorted(f"{k}={v}" for k, v in values.items() if k not in env)
        prefix = f"|{len(used)} {' '.join(used)} " if used else ""
        return f"{prefix}{' '.join(shell or DEFAULT_SHELL)} {command}" if not rest.startswith("[") else prefix + command
    if keyword in ("COPY", "ADD"):
        flags, sources, destination = _expanded_copy_arguments(rest, words, escape)
        if set(flags) - {"chown"} or any("://" in s for s in sources):
            return None
        name = context.copy_source(sources) if sources else None
        chown = f"--chown={flags['chown']}{' ' if api >= CHOWN_SPACED else ''}" if flags.get("chown") else ""
        return None if name is None else f"{nop}{keyword} {chown}{name} in {destination} "
    if keyword == "ARG":
        docker_file.declare(rest, declared, inherited=meta, escape=escape)
    if keyword == "HEALTHCHECK":
        return healthcheck_text(rest, api, nop)
    if keyword in ("ENV", "LABEL"):
        found = docker_file.pairs(rest, words, escape)
        if keyword == "ENV":
            env.update(found)
        return f"{nop} {keyword} {' '.join(f'{k}={v}' for k, v in found)}"
    if keyword == "WORKDIR":  # written as one argument: one space after #(nop)
        written = workdir_written(docker_file.process_word(rest, words, escape), workdir, api)
        return None if written is None else f"{nop}WORKDIR {written}"
    if keyword in ("CMD", "ENTRYPOINT"):  # the shell form runs in the shell: ["/bin/sh" "-c" "python app.py"]
        items = _json_list(rest)
        command = items if items is not None else [*(shell or DEFAULT_SHELL), rest]
        return f"{nop} {keyword} [{' '.join(_go_quote(str(w)) for w in command)}]"
    if keyword == "VOLUME":  # the folders (a JSON array's items, or the words) expanded, written with Go's %v
        folders = _json_list(rest) or rest.split()
        return f"{nop} VOLUME [{' '.join(docker_file.process_word(f, words, escape) for f in folders)}]"
    if keyword == "EXPOSE":  # the parser sorts the words as written, then each is expanded (to words)
        rest = " ".join(docker_file.process_word(w, words, escape) for w in sorted(rest.split()))
    elif keyword in _EXPANDED:
        rest = " ".join(docker_file.process_word(w, words, escape) for w in rest.split())
    return f"{nop} {keyword} {_json_args(rest)}"


DEFAULT_SHELL = ["/bin/sh", "-c"]


def _clean(path: str) -> str:
    """A path cleaned as Go's ``path.Clean`` does (``posixpath.normpath`` keeps a leading ``//``)."""
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def workdir_written(folder: str, current: str | None, api: tuple[int, int] = CHOWN_SPACED) -> str | None:
    """The working folder the classic builder writes for ``WORKDIR folder`` (expanded) after ``current``: a relative
    one joined to it and cleaned (Go's ``path.Join``), on every engine; an absolute one as written by Docker 20.10,
    cleaned by 28.5 (`WORKDIR_AS_WRITTEN`). None where the lab does not know it."""
    if not folder.startswith("/"):
        return None if current is None else _clean(posixpath.join("/", current, folder))
    if folder != _clean(folder) and WORKDIR_AS_WRITTEN < api < WORKDIR_CLEANED:
        return None
    return _clean(folder) if api >= WORKDIR_CLEANED else folder


def environment_of(config: dict) -> dict[str, str]:
    """The ENV an image's config (`docker image inspect`'s ``Config``) sets: ``PATH``, ``PYTHON_VERSION`` ..."""
    return dict(e.partition("=")[::2] for e in config.get("Env") or [])


def _nop(shell: list[str]) -> str:
    """How the classic builder's history starts a step that runs no command, under ``shell``."""
    return f"{' '.join(shell)} #(nop) "


def shell_of(rest: str) -> list[str] | None:
    """The shell a ``SHELL`` line sets (its JSON array), or None for a line the engine would refuse."""
    found = _json_list(rest)
    return found if found and all(isinstance(w, str) for w in found) else None


HEALTHCHECK_QUOTED, HEALTHCHECK_PRINTED = (1, 41), (1, 51)
"""Engine APIs measured here: Docker 20.10 writes a HEALTHCHECK's settings with Go's ``%q`` (``&{["CMD-SHELL"
"curl x"] "30s" "0s" "0s" '\\x03'}``), Docker 28.5 with ``%v`` and a start interval (``&{[CMD-SHELL curl x] 30s 0s
0s 0s 3}``); between them the lab does not know the text, and predicts none."""
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NANOSECONDS = {"ns": 1, "us": 10**3, "µs": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


def _nanoseconds(text: str) -> int:
    """A Go duration (``1m30s``, ``500ms``; empty is 0) in nanoseconds, as ``time.ParseDuration`` reads it."""
    if not text or text == "0":
        return 0
    if "".join(m.group(0) for m in _DURATION.finditer(text)) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(round(float(m.group(1)) * _NANOSECONDS[m.group(2)]) for m in _DURATION.finditer(text))


def _fraction(value: int, digits: int) -> str:
    """``value / 10**digits`` written as Go writes it: no trailing zeros, no point for a whole number."""
    whole, part = divmod(value, 10**digits)
    part_text = f"{part:0{digits}d}".rstrip("0")
    return f"{whole}.{part_text}" if part_text else str(whole)


def go_duration(ns: int) -> str:
    """A duration as Go's ``time.Duration.String`` writes it: ``0s``, ``500ms``, ``1.5s``, ``1m0s``, ``1h2m3s``."""
    if ns < 10**9:
        return "0s" if ns == 0 else f"{ns}ns" if ns < 10**3 else \
            f"{_fraction(ns, 3)}µs" if ns < 10**6 else f"{_fraction(ns, 6)}ms"
    text = f"{_fraction(ns % (60 * 10**9), 9)}s"
    minutes = ns // (60 * 10**9)
    return (f"{minutes // 60}h{minutes % 60}m" if minutes >= 60 else f"{minutes}m" if minutes else "") + text


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\"}


def _go_char(c: str, quote: str) -> str:
    if c == quote or c in _GO_ESCAPES:
        return _GO_ESCAPES.get(c, "\\" + c)
    if c.isprintable():
        return c
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _go_quote(text: str) -> str:
    """A string as Go's ``%q`` writes it: printable letters kept (``é``), quotes and control characters escaped."""
    return '"' + "".join(_go_char(c, '"') for c in text) + '"'


def healthcheck_text(rest: str, api: tuple[int, int], nop: str = NOP) -> str | None:
    """The history text the classic builder of engine API ``api`` writes for ``HEALTHCHECK rest`` (its settings
    as Go prints them), or None where that text was not measured (`HEALTHCHECK_QUOTED`) or the line is not one
    the engine accepts."""
    if HEALTHCHECK_QUOTED < api < HEALTHCHECK_PRINTED:
        return None
    found = re.match(r"((?:--\S+\s+)*)(NONE\s*$|CMD\s+(.*))", rest, re.I | re.S)
    if found is None:
        return None
    flags = dict(map(docker_file.flag, found.group(1).split()))
    if found.group(2).upper().startswith("NONE"):
        test = ["NONE"]
    else:
        command = found.group(3).strip()
        try:
            items = json.loads(command) if command.startswith("[") else None
        except ValueError:
            items = None
        test = ["CMD", *items] if isinstance(items, list) else ["CMD-SHELL", command]
    try:
        times = [_nanoseconds(flags.get(name, "")) for name in ("interval", "timeout", "start-period",
                                                                 "start-interval")]
        retries = int(flags.get("retries") or 0)
    except ValueError:
        return None
    if api <= HEALTHCHECK_QUOTED:
        words = " ".join(_go_quote(word) for word in test)
        durations = " ".join(f'"{go_duration(t)}"' for t in times[:3])
        return f"{nop} HEALTHCHECK &{{[{words}] {durations} '{_go_char(chr(retries), chr(39))}'}}"
    return f"{nop} HEALTHCHECK &{{[{' '.join(test)}] {' '.join(go_duration(t) for t in times)} {retries}}}"


def _expanded_copy_arguments(rest: str, words: dict[str, str | None],
                             escape: str = "\\") -> tuple[dict[str, str], list[str], str]:
    """A COPY/ADD's flags, sources and destination (`helpers.dockerfile.copy_arguments`), with ``words`` (ARG and
    ENV values) expanded in them as the classic builder does, under the Dockerfile's ``escape`` character."""
    flags, sources, destination = docker_file.copy_arguments(rest)
    return ({k: docker_file.process_word(v, words, escape) for k, v in flags.items()},
            [docker_file.process_word(s, words, escape) for s in sources],
            docker_file.process_word(destination, words, escape))


Entry = tuple[str, int, str]
"""One history entry as the cache compares it: its command text, when it was made and its image's id (two images
of the same step made in one second are two parents; ``<missing>`` where the engine names none). Not its layer:
which entries hold one is not always known (the containerd store drops a RUN's empty layer, overlay2 keeps it)."""


def entries(history: History | None) -> list[Entry]:
    """An image's history oldest first, as `Entry`s; empty for None (an image already gone)."""
    if history is None:
        return []
    return [(r.created_by, r.created, r.id) for r in reversed(history.rows)]


_CANNOT = ("the lab cannot predict this instruction (a URL, a WORKDIR or HEALTHCHECK this engine's history may "
           "write in a way not measured, or a source the context does not hold)")


class _Stage(NamedTuple):
    """A finished stage as the walk left it: its chain (None where a step was not predicted), the step that broke
    it, and the ENV, shell and working folder a stage FROM it starts with."""

    chain: list[Entry] | None
    broken: int | None
    env: dict[str, str | None]
    shell: list[str]
    workdir: str | None
    image: str | None
    """The short id of the image an earlier build made for it, when it was reused whole."""
    here: tuple | None
    """Its last step as the keys that lead to it from its base (`forecast`'s ``here``); None where one is unknown."""


@dataclass
class RebuiltCopy:
    """A ``COPY --from`` a stage the build rebuilds: its key is the checksum of files that exist only once that stage
    ran. `forecast` notes it; the lab reads those files after the build, fills ``same`` and ``changed``, and
    forecasts again with it."""

    stage: str
    sources: list[str]
    keys: set[str]
    """The keys earlier builds wrote for a copy to the same destination on the same parent."""
    same: set[str] | None = None
    """Those of ``keys`` written copying the very same files (name, mode, owner, size, content); None: not read."""
    changed: str = ""
    """The files that differ from the last copy there, in words."""


def forecast(dockerfile: str, context: Path, base: History | None, sources: dict[str, History | None],
             args: dict[str, str] | None = None, nocache: bool = False, isolated: bool = True,
             dockerfile_name: str = "Dockerfile", api: tuple[int, int] = CHOWN_SPACED,
             copied: dict[str, dict[str, str]] | None = None,
             bases: dict[str, History | None] | None = None,
             configs: dict[str, dict] | None = None, copies: dict[str, set[str]] | None = None,
             images: dict[str, str] | None = None, rebuilt: dict[int, RebuiltCopy] | None = None) -> Forecast:
    """Walk the Dockerfile the way the classic builder's cache does, stage by stage.

    Each FROM starts a chain: the base image's history, or an earlier stage's chain as this walk
    predicted it (rebuilt from the step where it was). A ``COPY --from`` an earlier stage is keyed by the
    files of that stage's image: when the stage was reused whole they are the files an earlier build copied
    from that very image, so its key is the one that build wrote (``copies``, or the only one written for that
    destination on that parent); after a rebuilt stage they exist only once it ran: the step goes to ``rebuilt``,
    and is predicted once the lab has read them there (`RebuiltCopy`). A ``COPY --from`` an image
    (``images``) is predicted only once the lab saw a build copy from that very image (``copies``). The ONBUILD
    triggers of a stage's base (an image's, in ``configs``, or an earlier stage's) run first, inside its FROM step,
    each keyed like a step of its own.

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
        configs: each base image's config (``Config`` of `docker image inspect`): its ENV, which ENV, LABEL,
            COPY ... may expand, its shell and its working folder.
        copies: the keys the lab's earlier ``COPY --from`` steps wrote, by the image they copied from (`copies_made`).
        images: the short id of each image a ``COPY --from`` names (not a stage), by lower-case name; an image not
            on the engine is left out.
        rebuilt: each ``COPY --from`` a rebuilt stage, by step number: added here, predicted once read.
    """
    args, bases, configs = args or {}, bases or {}, configs or {}
    received = Received.of(context, dockerfile_name)
    stages, meta = docker_file.stages(dockerfile, args), docker_file.meta_args(dockerfile, args)
    candidates = {s: entries(h) for s, h in sources.items()}
    steps: list[tuple[bool | None, str]] = []
    finished: dict[str, _Stage] = {}
    chain: list[Entry] | None = None
    declared: dict[str, str | None] = {}
    env: dict[str, str | None] = {}
    shell, workdir = DEFAULT_SHELL, ""
    broken: int | None = None
    unknown: int | None = None  # a step of this stage the lab could not predict: the chain after it is unknown
    stage, on_base = -1, True
    here: tuple | None = None  # the parent as the keys leading to it from the stage's base: the same keys, one image
    made_here: dict[tuple, int] = {}  # each step this build is predicted to make, by its `here`: a later one reuses it
    onbuild = {name: config.get("OnBuild") or [] for name, config in configs.items()}
    written_escape = docker_file.escape_of(dockerfile)
    queue = deque((n, line, False) for n, line in enumerate(docker_file.instructions(dockerfile, written_escape), 1))
    triggers: list[str | None] = []  # per entry of steps: the ONBUILD trigger it is of, run inside step n
    while queue:
        n, line, trigger = queue.popleft()
        triggers.append(line if trigger else None)
        escape = "\\" if trigger else written_escape  # the builder parses a trigger again, alone
        keyword = docker_file.keyword(line)
        if keyword == "FROM":
            if stage >= 0:
                image = None if unknown or broken else _image_at(sources, chain)
                finished[stages[stage].name] = finished[str(stage)] = _Stage(None if unknown else chain, broken, env,
                                                                             shell, workdir, image, here)
            stage, unknown = stage + 1, None
            declared, origin = {}, stages[stage].base.lower()
            if origin in finished:
                chain, broken, env, shell, workdir, _, here = finished[origin]
                env = dict(env)
                steps.append((True, f"FROM the stage {origin}: its chain of steps goes on"))
            else:
                history = base if stage == 0 else bases.get(stages[stage].base)
                chain, broken = entries(history) if stage == 0 or history is not None else None, None
                config = configs.get(stages[stage].base) or {}
                env, shell = environment_of(config), config.get("Shell") or DEFAULT_SHELL
                env.setdefault("PATH", docker_file.DEFAULT_PATH)  # the builder adds it where the base sets none
                workdir = config.get("WorkingDir") or ""
                here = "FROM", stages[stage].base
                steps.append((True, "FROM uses the base image" + ("" if config.get("OnBuild") else " as it is")))
            run_first = docker_file.run_first(stages[stage], stages, onbuild)
            queue.extendleft((n, trigger, True) for trigger in reversed(run_first))
            on_base = origin not in finished
            continue
        if stage < 0:  # an ARG before the first FROM: a value for FROM lines, no step of its own to reuse
            steps.append((False, "an ARG before the first FROM only gives FROM lines a value: nothing to reuse"))
            continue
        flags = docker_file.copy_arguments(docker_file.rest(line))[0] if keyword in ("COPY", "ADD") else {}
        origin = flags.get("from", "").lower()
        if origin in finished and finished[origin].broken and finished[origin].chain is not None and not (
                nocache or broken or unknown or chain is None):
            key, why_not = _rebuilt_copy(n, line, origin, chain, candidates, {**docker_file.arg_values(args, declared),
                                                                             **env}, rebuilt, escape)
        elif "from" in flags:
            key, why_not = _copied_from(line, origin, finished, chain, candidates, declared, env,
                                        args, copies or {}, images or {}, escape)
        else:
            key, why_not = created_by(line, received, args, declared, api, env, meta, shell, workdir, escape), _CANNOT
            shell = (shell_of(docker_file.rest(line)) or shell) if keyword == "SHELL" else shell
            if keyword == "WORKDIR":
                workdir = None if key is None else key.split("#(nop) WORKDIR ", 1)[1]
        if copied is not None and key is not None and keyword in ("COPY", "ADD") and "from" not in flags:
            words = {**docker_file.arg_values(args, declared), **env}
            named = _expanded_copy_arguments(docker_file.rest(line), words, escape)[1]
            copied.setdefault(key, received.contents(named) or {})  # a later build may name what changed
        here = (here, key) if here is not None and key else None
        if not (isolated or nocache or unknown or chain is None) and here in made_here:  # --cache-from holds none
            steps.append((True, f"cache hit: step {made_here[here]} of this very build made this step on the same "
                                "parent"))
            chain = chain + [("", 0, "")]  # its image is this build's: no earlier build's step follows it
        elif nocache:
            steps.append((False, "the build was asked not to use the cache (--no-cache)"))
        elif broken:
            steps.append((False, f"its parent changed: step {broken} was rebuilt, so every later step is too"))
        elif unknown:
            steps.append((None, f"the lab cannot predict this step: it follows step {unknown}, which it could not "
                                "predict (reused, it would be looked up on that image; rebuilt, this step is too)"))
        elif chain is None and stages[stage].from_stage:
            steps.append((None, f"the lab cannot predict this stage: it goes on from stage {stages[stage].base}, "
                                "which the lab could not predict to its end"))
        elif chain is None:
            steps.append((None, f"the lab cannot predict this stage: its base {stages[stage].base} is not on "
                                "the engine yet"))
        elif key is None:
            steps.append((None, why_not))
            unknown = n
        elif key == "":  # a key no earlier build wrote here
            steps.append((False, why_not))
            broken = n
        else:
            after = {s: e[len(chain)] for s, e in candidates.items() if len(e) > len(chain) and e[:len(chain)] == chain}
            matches = [s for s, entry in after.items() if entry[0] == key]
            match = max(matches, key=lambda s: after[s][1], default=None)  # the newest, as the builder picks
            if match:
                chain = candidates[match][:len(chain) + 1]
                who = f"the earlier build {_short_name(match)}" if isolated else f"the image {_engine_name(match)}"
                steps.append((True, f"cache hit: stage {origin} was rebuilt, yet the files this COPY takes from it "
                                    f"are the very ones {who} copied" if n in (rebuilt or {}) else
                                    f"cache hit: {who} made this step on "
                                    f"the same parent{' from the same file' if 'file:' in key else ''}"))
            else:
                steps.append((False, _miss(key, [e[0] for e in after.values()], on_base, copied)))
                broken = n
        if here is not None and steps[-1][0] is False:
            made_here.setdefault(here, n)
        on_base = False
    return Forecast(with_triggers(steps, triggers))


def _rebuilt_copy(n: int, line: str, origin: str, chain: list[Entry], candidates: dict[str, list[Entry]],
                  words: dict[str, str | None], rebuilt: dict[int, RebuiltCopy] | None,
                  escape: str = "\\") -> tuple[str | None, str]:
    """The key of a ``COPY --from`` a rebuilt stage, once the lab read the files it copies (`RebuiltCopy`): an earlier
    build's key for the very same files, or ``""`` (new) and what changed; None until read."""
    _, sources, destination = _expanded_copy_arguments(docker_file.rest(line), words, escape)
    keys = _written_there(chain, candidates, destination)
    if not keys:
        return "", f"stage {origin} was rebuilt, and no earlier build copied from it to {destination} on this parent"
    copy = (rebuilt if rebuilt is not None else {}).setdefault(n, RebuiltCopy(origin, sources, keys))
    if copy.same is None:
        return None, (f"the lab cannot predict this COPY yet: stage {origin} was rebuilt, and the COPY is keyed by "
                      "the checksum of the files it takes from it, which exist once that stage ran")
    found = keys & copy.same
    return (found.pop(), "") if found else ("", f"the files this COPY takes from stage {origin} changed: "
                                                f"{copy.changed}")


def _copied_from(line: str, origin: str, finished: dict, chain: list[Entry] | None,
                 candidates: dict[str, list[Entry]], declared: dict, env: dict, args: dict,
                 copies: dict[str, set[str]], images: dict[str, str], escape: str = "\\") -> tuple[str | None, str]:
    """The key of a ``COPY --from`` an earlier stage reused whole, or an image: the one an earlier build wrote for
    the same destination on the same parent, copying from the same image where several did (for an image the
    lab did not build, only one the lab saw copied from that very image); else None and why."""
    if origin in finished and (finished[origin].broken is not None or finished[origin].chain is None):
        return None, f"the lab cannot predict this COPY: stage {origin} was rebuilt, and its files may differ"
    image = finished[origin].image if origin in finished else images.get(origin)
    if origin not in finished and image is None:
        return None, f"the lab cannot predict a COPY --from {origin}: that image is not on the engine yet"
    destination = _expanded_copy_arguments(docker_file.rest(line), {**docker_file.arg_values(args, declared), **env},
                                           escape)[2]
    keys = _written_there(chain, candidates, destination) if chain is not None else set()
    same_image = keys & copies.get(image or "", set())
    if len(same_image) == 1 or (len(keys) == 1 and origin in finished):
        return (same_image or keys).pop(), ""
    if origin not in finished:
        return None, (f"the lab cannot predict a COPY --from {origin}: no build of this session copied from that "
                      f"image ({image}) to {destination} on this parent yet")
    return None, (f"the lab cannot predict this COPY: no earlier build copied from stage {origin} to {destination} "
                  "on this parent" if not keys else "the lab cannot predict this COPY: earlier builds copied "
                  "different files there")


def _written_there(chain: list[Entry], candidates: dict[str, list[Entry]], destination: str) -> set[str]:
    """The keys earlier builds wrote for a COPY or ADD to ``destination`` right after ``chain``."""
    written = re.compile(rf"^.* #\(nop\) (COPY|ADD) (--chown=\S+ ?)?(file|dir|multi):\w+ in "
                         rf"{re.escape(destination)} $")
    at = len(chain)
    return {e[at][0] for e in candidates.values() if len(e) > at and e[:at] == chain and written.match(e[at][0])}


def _image_at(sources: dict[str, History | None], chain: list[Entry]) -> str | None:
    """The short id of the image whose history is ``chain``, from any of ``sources`` it leads to."""
    for history in filter(None, sources.values()):
        if chain and entries(history)[:len(chain)] == chain:
            found = history.rows[len(history.rows) - len(chain)].id
            return None if found == "<missing>" else found.split(":")[-1][:12]
    return None


def copies_made(dockerfile: str, args: dict[str, str] | None, steps: list[tuple[str, str | None]],
                history: History, images: dict[str, str] | None = None) -> dict[str, set[str]]:
    """The keys a classic build's ``COPY --from`` steps wrote in its image's history, by the short id of the image
    each copied from (the last step of the stage it names, or the image it names: ``images``, by lower-case
    name): a later forecast picks among earlier builds' keys by it. ``steps``: each step's instruction and short
    image id, as the build printed them."""
    written = {r.id.split(":")[-1][:12]: r.created_by for r in history.rows if r.id != "<missing>"}
    names = {name: stage.index for stage in docker_file.stages(dockerfile, args)
             for name in (stage.name, str(stage.index))}
    ends: list[str | None] = []
    found: dict[str, set[str]] = {}
    for instruction, image_id in steps:
        keyword = docker_file.keyword(instruction)
        if keyword == "FROM":
            ends.append(None)
        origin = docker_file.copy_arguments(docker_file.rest(instruction))[0].get("from", "").lower() \
            if keyword in ("COPY", "ADD") else ""
        source = ends[names[origin]] if origin in names and names[origin] < len(ends) else (images or {}).get(origin)
        if ends and source and image_id in written:
            found.setdefault(source, set()).add(written[image_id])
        if ends and image_id:
            ends[-1] = image_id
    return found


def _engine_name(image: str) -> str:
    """An image of the engine's cache as the engine names it: its whole tag (it may be another lab's), or its id."""
    return image[7:19] if image.startswith("sha256:") else image


def _short_name(image: str) -> str:
    return image.rsplit("/", 1)[-1] if not image.startswith("sha256:") else image[7:19]


_SOURCE = re.compile(r"(?:file|dir|multi):\w+")


def _build_args(key: str) -> tuple[str, str]:
    """A classic RUN key split into the build args written before it (``|2 A=x B=y``: the count, then the
    pairs) and what it runs under whichever SHELL; ``""`` for no args."""
    count = re.match(r"^\|(\d+) ", key)
    if count is None:
        return "", key
    words = key[count.end():].split(" ")
    return " ".join(words[:int(count[1])]), " ".join(words[int(count[1]):])


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
        (args_before, run_before), (args_now, run_now) = _build_args(old), _build_args(key)
        if (args_before or args_now) and run_before == run_now:
            return f"a build arg changed: {args_before or 'none'} -> {args_now or 'none'}"
    same_kind = [o for o in siblings if keyword and keyword in o] or siblings
    return f"the instruction changed: built before here was `{instruction_of(same_kind[0])[:70]}`"
