"""The build context: the files `docker build PATH` sends, with `.dockerignore` applied by Docker's own rules.

The rules are those of moby's patternmatcher, which the docker CLI and BuildKit both use: a line starting with
``#`` is a comment; each pattern is trimmed and cleaned like a path (a leading ``/`` dropped); ``*`` and ``?``
stop at ``/``; ``**`` spans folders; a pattern also excludes everything below a folder it matches; ``!``
re-includes, and the last pattern that matches decides. The CLI always sends the Dockerfile and the
``.dockerignore`` (the engine reads them, then drops them from the context when the rules exclude them).
"""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import re
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadInput

IGNORE_FILE = ".dockerignore"
_ESCAPED = set(".+()|{}$")


def _clean(path: str) -> str:
    """A path cleaned as Go's ``filepath.Clean`` does (``a//b/../c/`` -> ``a/c``)."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def read_ignore(text: str) -> list[str]:
    """The patterns of a ``.dockerignore``, as Docker reads them: comments and blank lines dropped, each pattern
    trimmed and cleaned, a leading ``/`` removed, ``!`` kept in front."""
    patterns = []
    for line in text.removeprefix("\ufeff").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        pattern = line.strip()
        invert = pattern.startswith("!")
        pattern = pattern[1:].strip() if invert else pattern
        if pattern:
            pattern = _clean(pattern)
            pattern = pattern[1:] if len(pattern) > 1 and pattern.startswith("/") else pattern
        patterns.append("!" + pattern if invert else pattern)
    return patterns


@dataclass(frozen=True)
class Pattern:
    """One cleaned pattern and how it matches: ``exact``, ``prefix`` (``dir/**``), ``suffix`` (``**/name``) or a
    regular expression, as patternmatcher compiles it."""

    text: str
    exclusion: bool
    kind: str
    regex: re.Pattern | None

    @classmethod
    def compile(cls, line: str) -> Pattern:
        text = _clean(line.strip())
        exclusion = text.startswith("!")
        if exclusion:
            if text == "!":
                raise BadInput('The .dockerignore has a line with only "!".', "Write a pattern after the '!'.")
            text = text[1:]
        source, kind, i = "^", "exact", 0
        while i < len(text):
            ch, first = text[i], i == 0
            if text.startswith("**", i):
                i += 3 if text.startswith("**/", i) else 2
                if i >= len(text):
                    source, kind = (source, "prefix") if kind == "exact" else (source + ".*", "regex")
                else:
                    source, kind = source + "(.*/)?", "regex"
                kind = "suffix" if first else kind
                continue
            if ch == "*":
                source, kind = source + "[^/]*", "regex"
            elif ch == "?":
                source, kind = source + "[^/]", "regex"
            elif ch in _ESCAPED:
                source += "\\" + ch
            elif ch == "\\":
                if i + 1 < len(text):
                    i += 1
                    source, kind = source + "\\" + text[i], "regex"
                else:
                    source += "\\\\"
            elif ch in "[]":
                source, kind = source + ch, "regex"
            else:
                source += ch
            i += 1
        try:
            regex = re.compile(source + "$") if kind == "regex" else None
        except re.error:
            raise BadInput(f"The .dockerignore pattern {line.strip()!r} is not a valid pattern.",
                           "Close every '[' with ']' (or escape it as '\\['), then build again.") from None
        return cls(text, exclusion, kind, regex)

    def matches(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return bool(self.regex.match(path))


class Ignore:
    """A ``.dockerignore``'s patterns, matched against context paths (``a/b.txt``) the way the CLI walks them."""

    def __init__(self, lines: list[str]):
        self.patterns = [Pattern.compile(line) for line in lines if line.strip()]
        self.exclusions = any(p.exclusion for p in self.patterns)

    def excluded(self, path: str, parents: list[bool] | None = None) -> tuple[bool, list[bool]]:
        """Whether ``path`` is left out, given which patterns matched its folder (None: work them out); also which
        patterns match it, for its own files (patternmatcher's ``MatchesUsingParentResults``)."""
        folders = posixpath.dirname(path).split("/") if parents is None and "/" in path else []
        matched, matches = False, []
        for i, pattern in enumerate(self.patterns):
            match = bool(parents and parents[i])
            if not match and pattern.exclusion == matched:
                match = pattern.matches(path) or any(pattern.matches("/".join(folders[:n + 1]))
                                                     for n in range(len(folders)))
            matches.append(match)
            if match:
                matched = not pattern.exclusion
        return matched, matches

    def may_include_below(self, folder: str) -> bool:
        """Whether an excluded folder must still be walked: some ``!`` pattern starts with it."""
        return any(p.exclusion and (p.text + "/").startswith(folder + "/") for p in self.patterns)


def written(folder: Path) -> list[str]:
    """The patterns of the folder's ``.dockerignore`` (none without one)."""
    ignore_file = folder / IGNORE_FILE
    return read_ignore(ignore_file.read_text(errors="replace")) if ignore_file.is_file() else []


def rules(folder: Path, dockerfile: str = "Dockerfile") -> Ignore:
    """The folder's ``.dockerignore``, with the Dockerfile and the ``.dockerignore`` itself always sent."""
    lines = written(folder)
    for keep in (IGNORE_FILE, dockerfile):
        if Ignore(lines).excluded(keep)[0]:
            lines.append("!" + keep)
    return Ignore(lines)


def check(folder: str | os.PathLike, dockerfile: str = "Dockerfile") -> Path:
    """The context folder, once it exists and holds the Dockerfile; else one message naming what is wrong."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise BadInput(f"The folder {str(path)!r} does not exist.", "Give the folder that holds your Dockerfile.")
    if not path.is_dir():
        raise BadInput(f"{str(path)!r} is a file, not a folder.", "Give the folder that holds it: the build context.")
    if _clean(dockerfile).startswith(("../", "/")) or _clean(dockerfile) == "..":
        raise BadInput(f"The Dockerfile {dockerfile!r} is outside the folder {str(path)!r}.",
                       "Give its path inside the folder, e.g. dockerfile='docker/Dockerfile'.")
    if not (path / dockerfile).is_file():
        raise BadInput(f"There is no {dockerfile} in {str(path)!r}.",
                       "Write one there, or name the file with dockerfile='...' (a path inside the folder).")
    return path


def files(folder: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """The paths the docker CLI sends for ``docker build folder``, folders included, in the order it walks them."""
    return [path for path, left_out, _ in walk(folder, dockerfile) if not left_out]


def walk(folder: Path, dockerfile: str = "Dockerfile") -> Iterator[tuple[str, bool, str]]:
    """Each path the docker CLI's walk of ``folder`` meets, in its order, whether ``.dockerignore`` leaves it out,
    and the pattern that decided (the last that matched it or a folder above it, ``!`` kept; empty when none);
    a folder left out is not entered (and its files not met) unless a ``!`` pattern may bring some back."""
    ignore = rules(folder, dockerfile)

    def walk_in(relative: str, parents: list[bool] | None) -> Iterator[tuple[str, bool, str]]:
        try:
            entries = sorted(os.scandir(folder / relative if relative else folder), key=lambda e: e.name)
        except PermissionError:
            raise BadInput(f"The folder {relative!r} in the build context cannot be read.",
                           f"Let the lab read it (chmod a+rx) or add '{relative}' to {IGNORE_FILE}.") from None
        for entry in entries:
            path = f"{relative}/{entry.name}" if relative else entry.name
            left_out, matches = ignore.excluded(path, parents)
            decided = next((p for p, m in zip(reversed(ignore.patterns), reversed(matches)) if m), None)
            yield path, left_out, "" if decided is None else ("!" if decided.exclusion else "") + decided.text
            if entry.is_dir(follow_symlinks=False) and (
                    not left_out or (ignore.exclusions and ignore.may_include_below(path))):
                yield from walk_in(path, matches)

    yield from walk_in("", None)


def _header(folder: Path, path: str) -> tarfile.TarInfo:
    """The tar header the lab (as the CLI) sends for ``path``."""
    info = tarfile.TarFile(fileobj=io.BytesIO(), mode="w").gettarinfo(str(folder / path), arcname=path)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = int(info.mtime)  # whole seconds, as the CLI's archive writes them
    return info


def tarsum(folder: Path, path: str) -> str:
    """The classic builder's checksum of one context entry (tarsum v1): SHA-256 over the header fields it keeps
    (name, mode, owner, size, type, link ...; not the mtime), then a file's bytes."""
    info = _header(folder, path)
    name = info.name + "/" if info.isdir() else info.name
    fields = {"name": name, "mode": info.mode & 0o7777, "uid": 0, "gid": 0, "size": info.size,
              "typeflag": info.type.decode(), "linkname": info.linkname, "uname": "", "gname": "",
              "devmajor": info.devmajor, "devminor": info.devminor}
    digest = hashlib.sha256("".join(f"{k}{v}" for k, v in fields.items()).encode())
    if info.isreg():
        digest.update((folder / path).read_bytes())
    return digest.hexdigest()


def _glob(pattern: str) -> re.Pattern:
    """Go's ``filepath.Match`` as a regular expression: ``*`` and ``?`` stay within one folder."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 2)
            if end < 0:
                return re.compile(re.escape(pattern) + r"\Z")
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("^") else body) + "]")
            i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


@dataclass
class Received:
    """A context as the classic builder holds it after receiving it: the entries sent (`files`), less the
    Dockerfile and ``.dockerignore`` when the rules exclude them (the engine drops those), plus the folders the
    extraction makes for entries sent without theirs; and how it names each COPY source in the image history."""

    folder: Path
    paths: list[str]
    sent: set[str]
    sums: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, folder: Path, dockerfile: str = "Dockerfile") -> Received:
        sent, ignore = files(folder, dockerfile), Ignore(written(folder))
        dropped = {p for p in (IGNORE_FILE, dockerfile) if ignore.excluded(p)[0]}
        kept = [p for p in sent if p not in dropped]
        implied = {posixpath.join(*p.split("/")[:n]) for p in kept for n in range(1, p.count("/") + 1)}
        return cls(folder, sorted(set(kept) | implied, key=lambda p: p.split("/")), set(sent))  # as walked

    def hash(self, path: str) -> str:
        """The builder's ``Hash(path)``: the tarsum of what a link leads to, or the path itself for a folder the
        context did not send an entry for."""
        real = os.path.realpath(self.folder / path)
        target = os.path.relpath(real, os.path.realpath(self.folder))
        if target not in self.sent:
            return path
        if target not in self.sums:
            self.sums[target] = tarsum(self.folder, target)
        return self.sums[target]

    def selected(self, source: str) -> list[list[str]] | None:
        """What one COPY source names, as the builders walk it: for each path it names (a wildcard may name
        several), that path and, for a folder, everything the context holds below it; None where it names
        nothing."""
        source = source.removeprefix("/").removeprefix("./")
        if any(ch in source for ch in "*?[\\"):  # a pattern ending in / names only folders (BuildKit's rule)
            matcher, folders = _glob(source.rstrip("/")), source.endswith("/")
            found = [chosen for p in self.paths if matcher.match(p) and (not folders or self.is_folder(p))
                     for chosen in self.selected(p) or []]
            return found or None
        path = _clean(source) if source else "."
        if path != "." and path not in self.paths:
            return None
        return [[p for p in self.paths if path == "." or p == path or p.startswith(path + "/")]]

    def is_folder(self, path: str) -> bool:
        return (self.folder / path).resolve().is_dir()

    def copy_source(self, sources: list[str]) -> str | None:
        """How the classic builder names a COPY/ADD's sources in the image history (and its cache key): a file
        ``file:<tarsum>``, a folder ``dir:<hash of its entries' sums>``, several ``multi:<hash of those>``;
        None when a source names nothing in the context."""
        names = []
        for source in sources:
            found = self.selected(source)
            if found is None:
                return None
            whole = _clean(source.removeprefix("/").removeprefix("./") or ".") == "."  # the context's root: a folder
            for chosen in found:
                if len(chosen) == 1 and not whole and not self.is_folder(chosen[0]):
                    names.append("file:" + self.hash(chosen[0]))
                else:
                    names.append("dir:" + hashlib.sha256(",".join(sorted(map(self.hash, chosen))).encode()).hexdigest())
        if len(names) == 1:
            return names[0]
        return "multi:" + hashlib.sha256(",".join(names).encode()).hexdigest()

    def contents(self, sources: list[str]) -> dict[str, str] | None:
        """Each file and link the sources copy, with its bytes' digest and mode (``sha256 <hex12>, mode 644``):
        what BuildKit's key holds of them (not their times); None when a source names nothing."""
        found = {}
        for source in sources:
            chosen = self.selected(source)
            if chosen is None:
                return None
            for path in (p for paths in chosen for p in paths if not self.is_folder(p)):
                target = self.folder / path
                data = os.readlink(target).encode() if target.is_symlink() else target.read_bytes()
                digest = hashlib.sha256(data).hexdigest()[:12]
                found[path] = f"sha256 {digest}, mode {target.lstat().st_mode & 0o7777:o}"
        return found


def changed_files(before: dict[str, str], after: dict[str, str], most: int = 3) -> str:
    """Which files differ between two `Received.contents`: ``app/main.py changed, docs/new.md added``."""
    parts = [f"{p} changed" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    parts += [f"{p} added" for p in sorted(after.keys() - before.keys())]
    parts += [f"{p} removed" for p in sorted(before.keys() - after.keys())]
    more = f" and {len(parts) - most} more" if len(parts) > most else ""
    return ", ".join(parts[:most]) + more if parts else "no file changed"


BIG = 1 << 30
"""A context this big (1 GiB) is worth a warning before it is sent: usually a folder `.dockerignore` should name."""


def heavy(folder: Path, paths: list[str], top: int = 3) -> str | None:
    """A one-line warning when the files ``paths`` weigh `BIG` or more, naming the heaviest top-level entries."""
    weights: dict[str, int] = {}
    for path in paths:
        found = os.lstat(folder / path)
        if stat.S_ISREG(found.st_mode):
            weights[path.split("/")[0]] = weights.get(path.split("/")[0], 0) + found.st_size
    total = sum(weights.values())
    if total < BIG:
        return None
    heaviest = ", ".join(f"{name} ({size / 2**30:.1f} GiB)" for name, size in
                         sorted(weights.items(), key=lambda kv: -kv[1])[:top])
    return (f"The build context is {total / 2**30:.1f} GiB; the engine receives all of it before the first step. "
            f"Heaviest: {heaviest}. Name what the image does not need in {IGNORE_FILE}.")


def tar(folder: Path, dockerfile: str = "Dockerfile") -> tempfile.SpooledTemporaryFile:
    """The build context as the docker CLI sends it: `files`, each owned by root with no user or group name, so a
    COPY's cache key (and the copied file's owner) does not depend on who runs the lab. Over `BIG`, a warning
    (`heavy`) goes to stderr first; past 64 MiB the archive is spooled to disk, not held in memory."""
    paths = files(folder, dockerfile)
    if warning := heavy(folder, paths):
        print(warning, file=sys.stderr)
    buffer = tempfile.SpooledTemporaryFile(max_size=64 << 20)  # noqa: SIM115 (the caller closes it)
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in paths:
            info = _header(folder, path)
            if not info.isreg():
                archive.addfile(info)
                continue
            try:
                with open(folder / path, "rb") as data:
                    archive.addfile(info, data)
            except PermissionError:
                raise BadInput(f"The file {path!r} in the build context cannot be read.",
                               f"Let the lab read it (chmod a+r) or add it to {IGNORE_FILE}.") from None
    buffer.seek(0)
    return buffer
