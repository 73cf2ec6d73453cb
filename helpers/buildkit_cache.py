"""Why each step of a BuildKit build came from its cache or not: predicted from the lab's own
BuildKit builds before a build, then checked against what BuildKit did.

BuildKit keys a step by its parent's key and its own inputs: for RUN the command and what it runs
with (ENV, build-arg values, WORKDIR, USER, SHELL), for COPY/ADD the files' bytes and mode (not
their mtime). Only FROM, RUN, COPY, ADD and WORKDIR are steps; CMD, LABEL, EXPOSE and the like only
set the image's config, so changing one rebuilds nothing after it (the classic builder rebuilds
everything after it). BuildKit's cache is shared by every build on the engine and cannot be listed
step by step, so the lab knows only its own builds: a step new to the lab may still be served from
a build made outside it, and the explanation says so.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import dockerfile as docker_file
from . import why
from .build import BuildReport
from .buildkit import STEP_INSTRUCTIONS, BuildKitStep
from .context import Received, changed_files
from .why import Explanation, Forecast

_RUNS_WITH = ("ENV", "ARG", "WORKDIR", "USER", "SHELL")


@dataclass(frozen=True)
class Step:
    """One BuildKit step as its cache key sees it."""

    key: str
    parent: str
    keyword: str
    target: str
    """The command (RUN), the source and destination (COPY/ADD) or the folder (WORKDIR)."""
    inputs: str
    """What else the key holds: the source files' digest and mode, or what a RUN runs with; for a FROM, ``an earlier
    stage`` or nothing."""
    files: dict[str, str] = field(default_factory=dict, compare=False)
    """For COPY/ADD: each file copied, with its digest and mode (`helpers.context.Received.contents`)."""
    needs: str = ""
    """For COPY --from a stage whose files the lab has not read: that stage's last key (`plan`'s ``copied``)."""
    trigger: bool = False
    """An ONBUILD trigger of its stage's base, run first, inside the FROM step."""
    unused: bool = False
    """In a stage the last one does not need: BuildKit builds none of it."""


def _hash(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _source(context: Received, rest: str) -> tuple[str, dict[str, str]] | None:
    """The inputs a COPY/ADD's key holds of its sources (``app.py: sha256 <hex12>, mode 644``, or for several
    files ``12 files, sha256 <hex12>``) and each file's digest, by BuildKit's rules for the context (the same
    `.dockerignore`); None for what the lab cannot key: a URL, a source naming a variable or nothing in the
    context."""
    _, sources, _ = docker_file.copy_arguments(rest)
    first, _, body = rest.partition("\n")
    marks = [docker_file.heredoc(s) for s in sources]  # heredocs: their text is in the key's own
    inline = [m for m in marks if m]
    if "$" in first or not sources or any("://" in s for s in sources) or \
            ("$" in body and not all(m[2] for m in inline)):  # an unquoted heredoc expands variables
        return None
    named = [s for s, m in zip(sources, marks) if not m]
    files = context.contents(named) if named else {}
    if named and not files:
        return None
    if not files:
        return f"{len(inline)} inline file{'s' if len(inline) > 1 else ''}", files
    return _described(files), files


def _described(files: dict[str, str]) -> str:
    """The files a COPY takes, as its key holds them: ``app.py: sha256 <hex12>, mode 644``, or ``12 files, sha256
    <hex12>``."""
    if len(files) == 1:
        return f"{next(iter(files))}: {next(iter(files.values()))}"
    return f"{len(files)} files, sha256 {_digest(files)}"


def _digest(files: dict[str, str]) -> str:
    """One short digest of several files' `Received.contents` entries."""
    return _hash(*(f"{p} {v}" for p, v in sorted(files.items())))[:12]


def _expanded(rest: str, words: dict[str, str], escape: str = "\\") -> str | None:
    """A COPY/ADD's line with the ARG and ENV values it names put in, as BuildKit expands them before it keys the
    step; None where it names one this Dockerfile does not set (a base image's ENV) or is in JSON form."""
    first, newline, body = rest.partition("\n")
    if "$" not in first:
        return rest
    if first.lstrip().startswith("[") or not docker_file.variables(first) <= words.keys():
        return None
    return " ".join(docker_file.process_word(w, words, escape) for w in first.split()) + newline + body


def _mounted(context: Received, rest: str, ends: dict[str, str]) -> str | None:
    """What a RUN's key holds of what its ``--mount=type=bind`` options mount: the context files' digests (BuildKit
    keys them by content, as a COPY's), or the key of the stage mounted ``from``; a cache, tmpfs, secret or ssh
    mount adds nothing but its options, which are in the line. None where the lab cannot key one."""
    found = []
    for mount in docker_file.mounts(rest):
        if mount["type"] != "bind":
            continue
        source = mount.get("source") or mount.get("src") or "."
        if "from" in mount:
            origin = ends.get(mount["from"].lower())
            if not origin:
                return None
            found.append(f"{source} from {origin}")
            continue
        files = None if "$" in source else context.contents([source])
        if not files:
            return None
        found.append(f"{source}: sha256 {_digest(files)}")
    return "; ".join(found)


def plan(dockerfile: str, context: Path, base_ids: dict[str, str], args: dict[str, str],
         dockerfile_name: str = "Dockerfile", triggers: dict[str, list[str]] | None = None,
         copied: dict[tuple[str, tuple[str, ...]], dict[str, str]] | None = None) -> list[Step]:
    """Each instruction's `Step`, stage by stage; its key is empty where BuildKit runs no step (FROM, ARGs before
    it, config-only instructions) and where the lab cannot key one (a source `_source` cannot key, and every
    step after it in its stage). A stage FROM an image starts from that image's id (``base_ids``, by name; the
    name where the engine has none); a stage FROM an earlier one goes on from its last key. A ``COPY --from`` a
    stage is keyed by the files it takes, as BuildKit keys it: those the lab read from that stage's output
    (``copied``, by the stage's last key and the sources), else it is keyed by the stage's last key and
    ``needs`` the files read (`forecast` cannot predict it until then); a ``COPY --from`` an image is keyed by
    that image's id (``base_ids``), whose files are fixed. A stage runs the ONBUILD triggers of its base (an image's,
    in ``triggers`` by name, or an earlier stage's) first, each a `Step` of its own (``trigger``)."""
    received, written_escape = Received.of(context, dockerfile_name), docker_file.escape_of(dockerfile)
    steps = [Step("", "", "ARG", i.rest, "") for i in docker_file.preamble(dockerfile)]
    ends: dict[str, str] = {}
    envs: dict[str, dict[str, str]] = {}
    meta = docker_file.meta_args(dockerfile, args)
    stage_names: set[str] = set()
    stages = docker_file.stages(dockerfile, args)
    needed = docker_file.needed(stages)
    for stage in stages:
        first = len(steps)
        stage_names |= {stage.name, str(stage.index)}
        from_stage = stage.from_stage
        parent = ends.get(stage.base.lower(), "") if from_stage else _hash("FROM", base_ids.get(stage.base, stage.base))
        run_first = docker_file.run_first(stage, stages, triggers or {})
        steps.append(Step("", parent, "FROM", stage.instructions[0].rest, "an earlier stage" if from_stage else ""))
        runs_with, declared = [], {}
        env = dict(envs.get(stage.base.lower()) or {"PATH": docker_file.DEFAULT_PATH}) if from_stage else \
            {"PATH": docker_file.DEFAULT_PATH}  # a base image's own ENV is not known here
        for instruction, trigger in [(i, True) for t in run_first for i in docker_file.parse(t)] + \
                [(i, False) for i in stage.instructions[1:]]:
            keyword, rest, line = instruction.keyword, instruction.rest, instruction.text
            escape = "\\" if trigger else written_escape  # the builder parses a trigger again, alone
            values = docker_file.arg_values(args, declared)  # as they stand before this line
            words = {**values, **env}
            if keyword == "ARG":
                docker_file.declare(rest, declared, inherited=meta, escape=escape)
            elif keyword in _RUNS_WITH:
                runs_with.append(line)
                env.update(docker_file.pairs(rest, words, escape) if keyword == "ENV" else {})
            origin = instruction.flags.get("from", "").lower() if keyword in ("COPY", "ADD") else ""
            rest = _expanded(rest, words, escape) if keyword in ("COPY", "ADD") else rest
            needs = ""
            if rest is None:
                source = None
            elif origin and origin not in stage_names:  # an image: BuildKit copies from its content, fixed by its id
                image = instruction.flags["from"]
                source = (f"from the image {base_ids.get(image, image)}", {}) if "$" not in rest else None
            elif origin:  # a stage: by the files it takes, once read; until then by the stage
                taken = (copied or {}).get((ends.get(origin, ""), tuple(docker_file.copy_arguments(rest)[1])))
                needs = ends.get(origin, "") if taken is None else ""
                source = None if not ends.get(origin) or "$" in rest else \
                    (_described(taken), taken) if taken is not None else (f"from {needs}", {})
            elif keyword in ("COPY", "ADD"):
                source = _source(received, rest)
            else:
                mounted = _mounted(received, rest, ends) if keyword == "RUN" else ""
                source = None if mounted is None else (mounted, {})
            if keyword not in STEP_INSTRUCTIONS or not parent or source is None:
                steps.append(Step("", "", keyword, instruction.rest, "", trigger=trigger))
                parent = parent if keyword not in STEP_INSTRUCTIONS else ""  # no key: nor for what follows
                continue
            inputs, files = source
            if keyword == "RUN":
                inputs = "; ".join(runs_with + [f"{k}={v}" for k, v in sorted(values.items())] +
                                   ([inputs] if inputs else []))
            linked = keyword in ("COPY", "ADD") and instruction.flags.get("link", "false") in ("", "true")
            key = _hash("" if linked else parent, keyword, rest, inputs)  # --link copies onto nothing, then links
            steps.append(Step(key, "" if linked else parent, keyword, rest, inputs, files, needs, trigger))
            parent = _hash(parent, key) if linked else key
        if stage.index not in needed:
            steps[first:] = [dataclasses.replace(step, unused=True) for step in steps[first:]]
        ends[stage.name] = ends[str(stage.index)] = parent
        envs[stage.name] = envs[str(stage.index)] = env
    return steps


def forecast(steps: list[Step], made: dict[str, tuple[Step, str]], nocache: bool = False) -> Forecast:
    """Predict each step from ``made`` (key -> the step and the tag of the lab's build that made it)."""
    found: list[tuple[bool | None, str]] = []
    new: dict[str, int] = {}  # the key of each step predicted new to the lab, and its number
    unknown: dict[str, int] = {}  # the key of each step the lab cannot predict, and its number
    seen: dict[str, int] = {}  # the key of each step BuildKit builds, and the first step that makes it
    staged, n = False, 0
    for i, step in enumerate(steps):
        staged, n = staged or step.keyword == "FROM", n + (not step.trigger)  # a trigger runs inside step n
        if not staged:
            found.append((None, "BuildKit runs no step for an ARG before the first FROM: it only gives FROM lines "
                                "a value"))
        elif step.unused:
            found.append((None, "BuildKit builds nothing of this stage: the image (the last stage) needs nothing "
                                "from it"))
        elif step.keyword == "FROM":
            found.append((True, "FROM an earlier stage: its chain of steps goes on" if step.inputs else
                                "FROM uses the base image" + " as it is" * (i + 1 == len(steps) or
                                                                            not steps[i + 1].trigger)))
        elif step.keyword not in STEP_INSTRUCTIONS:
            found.append((None, f"BuildKit runs no step for {step.keyword}: it only sets the image's config"))
        elif not step.key:
            found.append((None, "the lab cannot key this step (a URL, a variable in its sources, a source the "
                                "context does not hold, or a step after one of those in its stage)"))
        elif nocache:
            found.append((False, "the build was asked not to use the cache (--no-cache)"))
        elif step.parent in new:
            found.append((False, f"its parent changed: step {new[step.parent]} was new to the lab, so this step's "
                                 "key is too"))
        elif step.parent in unknown:
            found.append((None, f"the lab cannot predict this step: it follows step {unknown[step.parent]}, which "
                                "it could not predict"))
        elif step.needs:
            found.append((None, "the lab cannot predict this COPY yet: BuildKit keys it by the files it takes from "
                                "the stage, which the lab reads once that stage ran"))
        elif step.key in made:
            tag = made[step.key][1].rsplit("/", 1)[-1]
            same = "" if step.keyword not in ("COPY", "ADD") else " from the same files" if len(step.files) > 1 else \
                " from the same file"
            found.append((True, f"cache hit: the lab's earlier BuildKit build {tag} made this step on the same "
                                f"parent{same}"))
        else:
            siblings = [s for s, _ in reversed(made.values()) if s.parent == step.parent]  # newest first
            found.append((False, _miss(step, siblings, steps[i - 1].keyword == "FROM")))
        if step.unused or not step.key:  # nothing of it is built: its keys say nothing about the steps of others
            continue
        if seen.setdefault(step.key, n) != n:
            found[-1] = found[-1][0], f"{found[-1][1]} (the very step {seen[step.key]} makes: BuildKit runs it once)"
        if found[-1][0] is False:
            new.setdefault(step.key, n)
        elif found[-1][0] is None:
            unknown.setdefault(step.key, n)
    ran = [(f, s) for f, s in zip(found, steps)  # the triggers BuildKit runs a step for
           if not s.trigger or (s.keyword in STEP_INSTRUCTIONS and not s.unused)]
    return Forecast(why.with_triggers([f for f, _ in ran], [f"{s.keyword} {s.target}" if s.trigger else None
                                                            for _, s in ran]))


def _miss(step: Step, siblings: list[Step], on_base: bool) -> str:
    """The first cause of a miss, from the steps the lab built before on the same parent."""
    origin = docker_file.copy_arguments(step.target)[0].get("from") if step.keyword in ("COPY", "ADD") else None
    for old in siblings:
        if (old.keyword, old.target) == (step.keyword, step.target) and old.inputs != step.inputs:
            source = "a COPY source changed" if not origin else f"the files this COPY takes from " \
                f"{'' if step.inputs.startswith('from the image') else 'stage '}{origin} changed"
            if step.keyword in ("COPY", "ADD") and len(old.files | step.files) > 1:
                return f"{source}: {changed_files(old.files, step.files)}"
            what = source if step.keyword in ("COPY", "ADD") else "what RUN runs with changed"
            return f"{what}: it was {old.inputs or 'nothing'}, now {step.inputs or 'nothing'}"
    if siblings:
        return f"the instruction changed: built before here was `{siblings[0].keyword} {siblings[0].target}`"[:110]
    return ("new to the lab: it had built nothing with BuildKit on " +
            ("this base image" if on_base else "this parent") + " before")


def share(steps: list[Step], report: BuildReport) -> None:
    """BuildKit runs a step that two stages make alike (the same key) once, printed as one stage's: give the other
    stage's row (or its FROM's trigger) that step's outcome."""
    placed = list(_placed(steps, report.rows))
    outcome = {step.key: cached for step, _, _, cached in placed if cached is not None}
    for step, row, trigger, cached in placed:
        if cached is None and step.key in outcome:
            if trigger is None:
                row.cached = outcome[step.key]
            else:
                row.ran_first[trigger] = outcome[step.key]
                row.cached = all(row.ran_first)


def _placed(steps: list[Step], rows: list) -> Iterator[tuple[Step, BuildKitStep, int | None, bool | None]]:
    """Each keyed step BuildKit builds, with its row, its place among its FROM's trigger steps (None for a step of
    its own) and whether a vertex printed it reused (None: printed by none)."""
    row, trigger, rows = None, -1, iter(rows)
    for step in steps:
        if not step.trigger:
            row, trigger = next(rows, None), -1
        if row is None:
            return
        if step.trigger and step.keyword in STEP_INSTRUCTIONS:
            trigger += 1
        if step.key and not step.unused:
            if not step.trigger:
                yield step, row, None, row.cached if row.ran else None
            elif trigger < len(row.ran_first):
                yield step, row, trigger, row.ran_first[trigger]


def remember(steps: list[Step], report: BuildReport, made: dict[str, tuple[Step, str]]) -> None:
    """Add the keyed steps of a finished build to what the lab has made."""
    for step in steps:
        if step.key and not step.unused:
            made.setdefault(step.key, (step, report.tag))


def explain(report: BuildReport, before: Forecast) -> Explanation:
    """Join a BuildKit build's report with the forecast made before it: one `Why` per step.

    A step the lab predicted new but BuildKit reused came from a build outside the lab (its cache is
    the engine's): that is no disagreement. A predicted hit that BuildKit rebuilt is one.
    """
    explanation = why.explain(report, before)
    for row in explanation.rows:
        if row.predicted is False and row.cached:
            row.agrees, row.why = None, ("reused from BuildKit's engine-wide cache: a build outside this lab "
                                         "had made the same step")
    return explanation
