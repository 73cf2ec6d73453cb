"""The line-order advisor: a Dockerfile reordered so that a change to the code does not run the dependency
install again, the way the workshop's "most frequently changed line goes last" applies to a real project.

Pure: a Dockerfile's text and the files its context sends in; the proposed Dockerfile and one row per change
out. The one move it makes is the classic one: where a stage copies a whole folder and then installs
dependencies from a list inside it (``COPY . .`` then ``RUN pip install -r requirements.txt``), copy the list
alone first, install, then copy the rest. It moves nothing it cannot prove safe: the install must read
nothing but its lists (no ``pip install .``, no other command that may read the code), and no instruction
between the two may read or change the copied files.
"""
from __future__ import annotations

import difflib
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field

from . import dockerfile as docker_file
from .report import FrameReport

_NPM = ["package.json", "package-lock.json", "npm-shrinkwrap.json"]
LISTS = {
    ("npm", "ci"): _NPM, ("npm", "install"): _NPM, ("npm", "i"): _NPM,
    ("yarn",): ["package.json", "yarn.lock"], ("yarn", "install"): ["package.json", "yarn.lock"],
    ("pnpm", "install"): ["package.json", "pnpm-lock.yaml"], ("pnpm", "i"): ["package.json", "pnpm-lock.yaml"],
    ("go", "mod", "download"): ["go.mod", "go.sum"],
    ("bundle", "install"): ["Gemfile", "Gemfile.lock"],
    ("composer", "install"): ["composer.json", "composer.lock"],
    ("pipenv", "install"): ["Pipfile", "Pipfile.lock"], ("pipenv", "sync"): ["Pipfile", "Pipfile.lock"],
    ("cargo", "fetch"): ["Cargo.toml", "Cargo.lock"],
    ("poetry", "install", "--no-root"): ["pyproject.toml", "poetry.lock"],
}
"""Installers that read only their dependency lists, by their command and every word after it that is not an
option (``poetry install`` also installs the project, so only its ``--no-root`` form counts): the lists, the
first one required. pip's lists are the files its ``-r`` and ``-c`` options name."""
NEUTRAL = {"apt-get", "apt", "apk", "yum", "dnf", "microdnf", "echo", "true", "mkdir", "useradd", "adduser",
           "groupadd", "addgroup", "export", "set", "rm"}
"""Commands that read none of the project's files (``rm`` only with absolute paths)."""
_PIP_VALUES = {"-t", "--target", "--prefix", "--root", "-i", "--index-url", "--extra-index-url", "--cert",
               "--trusted-host", "--platform", "--python-version", "--implementation", "--abi", "--src",
               "--progress-bar", "--log", "--cache-dir", "-w", "--wheel-dir", "-d", "--dest", "--upgrade-strategy",
               "--only-binary", "--no-binary", "--config-settings", "-C", "--global-option", "--python",
               "-f", "--find-links"}
"""pip options followed by a value that is not a package (``--find-links`` checked: a local folder is code)."""
_LISTS_OPTIONS = {"-r", "--requirement", "-c", "--constraint"}
_SEGMENTS = re.compile(r"&&|\|\||;|\n")
_BETWEEN_OK = {"ENV", "ARG", "LABEL", "EXPOSE", "CMD", "ENTRYPOINT", "HEALTHCHECK", "STOPSIGNAL", "MAINTAINER"}
"""Instructions that may sit between the folder's COPY and the install: none reads or changes files."""
LEAD = "# Dependency lists first: a change to the code keeps the install below cached."


@dataclass(eq=False)
class Block:
    """One instruction as written: the comment and blank lines before it, then its own lines (compared by
    identity: two blocks of the same text are two places in the file)."""

    lines: list[str]
    instruction: docker_file.Instruction | None
    """None for the comments after the last instruction."""


def blocks(text: str) -> list[Block]:
    """The Dockerfile split into `Block`s, continuation lines and heredoc bodies kept with their instruction."""
    found, pending, own, ends, escape = [], [], [], [], docker_file.escape_of(text)
    for line in text.splitlines():
        if ends:  # inside a heredoc's body
            own.append(line)
            if docker_file.closes(line, *ends[0]):
                ends.pop(0)
        elif not own and (not line.strip() or line.lstrip().startswith("#")):
            pending.append(line)
            continue
        else:
            own.append(line)
            if line.rstrip().endswith(escape):
                continue
            ends = docker_file.heredoc_ends(docker_file.instructions("\n".join(own), escape)[0])
        if not ends:
            found.append(_block(pending, own))
            pending, own = [], []
    if own:
        found.append(_block(pending, own))
        pending = []
    return found + ([Block(pending, None)] if pending else [])


def _block(comments: list[str], own: list[str]) -> Block:
    return Block(comments + own, docker_file.parse("\n".join(own))[0])


@dataclass
class Change:
    """One change the advisor proposes, or one it considered and left alone."""

    stage: str
    instruction: str
    change: str
    why: str


@dataclass(repr=False)
class Advice(FrameReport):
    """The proposed Dockerfile and each change made (or left out) to get it."""

    dockerfile: str
    advised: str
    rows: list[Change] = field(default_factory=list)
    record = Change

    @property
    def moved(self) -> bool:
        """Whether the advisor proposes a different Dockerfile."""
        return self.advised != self.dockerfile

    @property
    def title(self) -> str:
        if self.moved:
            return "line-order advice: copy the dependency lists alone, install, then copy the code"
        return "line-order advice: no change proposed" + (" (see why)" if self.rows else
                                                          ": no install after a COPY of its whole folder")

    def diff(self) -> str:
        """The proposed change as a unified diff of the two Dockerfiles."""
        return "".join(difflib.unified_diff(self.dockerfile.splitlines(True), self.advised.splitlines(True),
                                            "Dockerfile (yours)", "Dockerfile (advised)"))


def _words(instruction: docker_file.Instruction) -> str:
    """A RUN's command line, flags (``--mount``) left out, the exec form joined."""
    words = instruction.words
    if " ".join(words).startswith("["):
        try:
            return " ".join(shlex.quote(w) for w in json.loads(" ".join(words)))
        except ValueError:
            pass
    return " ".join(words)


def _pip(tokens: list[str]) -> list[str] | None:
    """The lists a ``pip install|wheel|download`` reads, or None where it reads a local path (code)."""
    lists, i = [], 0
    while i < len(tokens):
        word = tokens[i]
        name, _, inline = word.partition("=") if word.startswith("--") else (word[:2], "", word[2:])
        if name in _LISTS_OPTIONS or name in _PIP_VALUES:
            value = inline or (tokens[i + 1] if i + 1 < len(tokens) else "")
            i += 1 if inline else 2
            if name in _LISTS_OPTIONS:
                lists.append(value)
            elif name in ("-f", "--find-links") and "://" not in value:
                return None
            continue
        if not word.startswith("-") and ("/" in word or word.startswith(".") or word.endswith((".whl", ".zip",
                                                                                                  ".tar.gz"))):
            return None
        i += 1
    return lists


def _form(command: str, arguments: list[str]) -> tuple[str, ...]:
    """A command and its words that are not options (``--no-root`` kept): the key to `LISTS`."""
    return (command, *(a for a in arguments if not a.startswith("-") or a == "--no-root"))


def reads(run: str) -> tuple[list[str], str] | None:
    """The dependency lists a RUN's command reads (paths relative to its working folder, ``cd`` followed), or
    None when it may read more than them: a step of its that is neither an install of lists nor a `NEUTRAL`
    command. Also the installer's name, for the advice."""
    lists, cwd, installer = [], ".", ""
    for segment in _SEGMENTS.split(run):
        try:
            tokens = shlex.split(segment)
        except ValueError:
            return None
        while tokens and ("=" in tokens[0] and not tokens[0].startswith("-") or tokens[0] in ("sudo", "exec")):
            tokens = tokens[1:]
        if not tokens:
            continue
        command = posixpath.basename(tokens[0])
        if command in ("python", "python3") and tokens[1:3] == ["-m", "pip"]:
            command, tokens = "pip", tokens[2:]
        if command == "uv" and tokens[1:2] == ["pip"]:
            command, tokens = "pip", tokens[1:]
        first = next((t for t in tokens[1:] if not t.startswith("-")), "")
        if command == "cd":
            cwd = posixpath.normpath(posixpath.join(cwd, first or "/"))
        elif command in ("pip", "pip3") and first in ("install", "wheel", "download"):
            found = _pip(tokens[tokens.index(first) + 1:])
            if found is None:
                return None
            lists += [posixpath.normpath(posixpath.join(cwd, f)) for f in found]
            installer = installer or (f"pip {first}" if found else "")
        elif (form := _form(command, tokens[1:])) in LISTS:
            lists += [posixpath.normpath(posixpath.join(cwd, f)) for f in LISTS[form]]
            installer = installer or " ".join(form)
        elif command == "rm" and all(t.startswith(("/", "-")) for t in tokens[1:]):
            continue
        elif command not in NEUTRAL - {"rm"}:
            return None
    return (lists, installer) if lists else None


def _resolve(workdir: str, path: str) -> str:
    """``path`` against a working folder (``.`` stands for the base image's, unknown here)."""
    return posixpath.normpath(posixpath.join(workdir, path))


def _within(path: str, folder: str) -> str | None:
    """``path`` relative to ``folder`` when it lies inside it."""
    relative = posixpath.relpath(path, folder)
    return None if relative.startswith("..") else relative


def _sources(copy: docker_file.Instruction, workdir: str, wanted: list[str], sent: set[str],
             folders: set[str]) -> dict[str, str] | None:
    """Where each wanted list (an absolute path in the image) comes from in the context, when this COPY
    brings it in with a whole folder; None when it does not bring them all in that way."""
    flags, sources, destination = docker_file.copy_arguments(copy.rest)
    if "from" in flags or not sources:
        return None
    target = _resolve(workdir, destination)
    found = {}
    for wanted_path in wanted:
        relative = _within(wanted_path, target)
        for source in sources:
            source = posixpath.normpath(source.lstrip("/")) if source not in ("/", ".") else "."
            if relative is not None and (source == "." or source in folders):
                path = posixpath.normpath(posixpath.join(source, relative))
                if path in sent:
                    found[wanted_path] = path
    return found if len(found) == len(wanted) else None


def _narrow(copy: docker_file.Instruction, paths: list[str], folder_in_image: str) -> str:
    """A COPY of only ``paths`` to the folder where the wide COPY put them, with the same flags."""
    flags, _, destination = docker_file.copy_arguments(copy.rest)
    destination = destination.rstrip("/") or "/"
    if folder_in_image != ".":
        destination = posixpath.join(destination, folder_in_image)
    destination = destination if destination.endswith("/") else destination + "/"
    words = [f"--{k}={v}" if v else f"--{k}" for k, v in flags.items()]
    if any(" " in w for w in [*paths, destination]):
        return " ".join([copy.keyword, *words, json.dumps([*paths, destination])])
    return " ".join([copy.keyword, *words, *paths, destination])


def advise(dockerfile: str, sent: list[str], read=None) -> Advice:
    """The Dockerfile with each stage's dependency lists copied and installed before the folder they live in.

    Args:
        dockerfile: the Dockerfile's text.
        sent: the paths the build context holds (`helpers.context.files`), folders included.
        read: reads a context file's text by path, to follow a requirements file's own ``-r`` lines and to
            leave alone one that installs local code (``-e .``); None skips reading them.
    """
    parts, changes = blocks(dockerfile), []
    files = set(sent)
    folders = {path[:cut] for path in sent for cut in range(len(path)) if path[cut] == "/"}
    stage, stages, workdir, start = "", 0, ".", 0
    i = 0
    while i < len(parts):
        instruction = parts[i].instruction
        if instruction is None:
            break
        if instruction.keyword == "FROM":
            words, stages = instruction.words, stages + 1
            stage = f"stage {words[2]}" if len(words) > 2 and words[1].lower() == "as" else f"stage {stages}"
            workdir, start = ".", i + 1
        elif instruction.keyword == "WORKDIR":
            workdir = _resolve(workdir, instruction.rest)
        elif instruction.keyword == "RUN" and (found := reads(_words(instruction))):
            lists, installer = found
            run = parts[i]
            change = _advise_one(parts, start, i, workdir, lists, installer, files, folders, stage, read)
            if change is not None:
                changes.append(change)
                i = parts.index(run)  # after a move: the install, the narrow COPYs before it, the wide one after
        i += 1
    advised = "\n".join(line for part in parts for line in part.lines)
    return Advice(dockerfile, advised + "\n" if dockerfile.endswith("\n") else advised, changes)


def _last_copy(parts: list[Block], start: int, at: int, wanted: list[str]) -> tuple[int | None, str]:
    """The last COPY or ADD of the stage before ``parts[at]`` whose destination holds a wanted path, with the
    working folder it ran in."""
    found, workdir = (None, "."), "."
    for j in range(start, at):
        instruction = parts[j].instruction
        if instruction.keyword == "WORKDIR":
            workdir = _resolve(workdir, instruction.rest)
        elif instruction.keyword in ("COPY", "ADD"):
            flags, _, destination = docker_file.copy_arguments(instruction.rest)
            if "from" not in flags and any(_within(w, _resolve(workdir, destination)) is not None for w in wanted):
                found = (j, workdir)
    return found


def _advise_one(parts: list[Block], start: int, at: int, workdir: str, lists: list[str], installer: str,
                files: set[str], folders: set[str], stage: str, read) -> Change | None:
    """Move the whole-folder COPY before the install at ``parts[at]`` to just after it, with a COPY of the lists
    alone in its place; or say why not. None when the lists already come in by themselves (nothing to advise)."""
    wanted = [_resolve(workdir, p) for p in lists]
    required = wanted if installer.startswith("pip") else wanted[:1]  # npm's lock files, say, may not exist
    copy_at, copy_workdir = _last_copy(parts, start, at, required)
    if copy_at is None:
        return None
    copy = parts[copy_at].instruction
    present = _sources(copy, copy_workdir, required, files, folders)
    if present is None:
        return None  # the lists come in by name (already first), or from where the lab cannot see them
    for optional in wanted[len(required):]:
        present |= _sources(copy, copy_workdir, [optional], files, folders) or {}
    where, keep, wide_copy = stage, "left in place", _cut(copy.text, 80)
    if copy.keyword == "ADD":
        return Change(where, wide_copy, keep, "ADD may fetch or unpack; with COPY instead it could move")
    for between in parts[copy_at + 1:at]:
        if between.instruction.keyword not in _BETWEEN_OK:
            return Change(where, wide_copy, keep,
                          f"{_cut(between.instruction.text)} comes before the install and may read the copied files")
    if read is not None and installer.startswith("pip"):
        for in_image, path in list(present.items()):
            local, nested = _requirements(read(path))
            if local:
                return Change(where, wide_copy, keep, f"{path} installs local code ({local}), so the install reads it")
            for name in nested:  # -r other.txt inside a list: that file comes first too
                found = posixpath.normpath(posixpath.join(posixpath.dirname(path), name))
                if found not in files:
                    return Change(where, wide_copy, keep, f"{path} reads {name}, which the context does not hold")
                present[posixpath.normpath(posixpath.join(posixpath.dirname(in_image), name))] = found
    target = _resolve(copy_workdir, docker_file.copy_arguments(copy.rest)[2])
    by_folder: dict[str, list[str]] = {}  # a COPY of several files drops their folders: one COPY per folder
    for in_image, path in present.items():
        by_folder.setdefault(posixpath.dirname(_within(in_image, target)) or ".", []).append(path)
    run, wide = parts[at], parts.pop(copy_at)
    narrow = [_narrow(copy, paths, folder) for folder, paths in by_folder.items()]
    for n, text in enumerate(narrow):
        parts.insert(copy_at + n, Block([LEAD, text] if n == 0 else [text], docker_file.parse(text)[0]))
    parts.insert(parts.index(run) + 1, wide)
    paths = [path for group in by_folder.values() for path in group]
    moved = f"copied {', '.join(paths)} alone first; moved after {_cut(run.instruction.text)}"
    return Change(where, wide_copy, moved, f"a change to any other file then keeps the {installer} step cached")


def _cut(text: str, width: int = 50) -> str:
    """An instruction's text on one line (a heredoc's, the line that opens it), its runs of white space as one
    space, cut to ``width``."""
    text = " ".join(text.split("\n", 1)[0].split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _requirements(text: str) -> tuple[str | None, list[str]]:
    """What a requirements file reads besides package names: its first line that installs local code
    (``-e .``, ``./pkg``), if any, and the files its ``-r``/``-c`` lines name."""
    nested = []
    for line in text.splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith(("-e", "--editable", ".", "/", "file:")):
            return line, nested
        name, _, value = line.partition(" ")
        if name in _LISTS_OPTIONS or name.split("=")[0] in _LISTS_OPTIONS:
            nested.append(value.strip() or name.partition("=")[2])
        elif name[:2] in ("-r", "-c") and len(name) > 2:
            nested.append(name[2:])
    return None, nested
