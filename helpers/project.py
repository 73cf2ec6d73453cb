"""A project of your own, as ``docker build FOLDER`` sees it: the files its build context sends and those its
``.dockerignore`` keeps out, copied into the lab's workspace, where the lab may edit and build it without
touching your folder."""
from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import advice
from . import context as build_context
from .display import human
from .errors import BadInput
from .report import FrameReport
from .workspace import Workspace

SAMPLE = Path(__file__).resolve().parent.parent / "notebooks" / "sample-project"
"""The sample project notebook 06 uses by default: a two-stage Flask app with tests and a ``.dockerignore``."""
SAMPLE_EDITS = ("webapp/greeting.py", "tests/test_app.py", "requirements.txt")
"""The sample's edits: two code changes, then one to the dependency list."""
LIST_NAMES = {name for lists in advice.LISTS.values() for name in lists} | {"requirements.txt"}


@dataclass
class Entry:
    """One path of the folder: its bytes (files only), whether the context sends it, and the ``.dockerignore``
    pattern that decided (empty when none did)."""

    path: str
    bytes: int | None
    sent: bool
    rule: str


@dataclass(repr=False)
class Project(FrameReport):
    """Your folder's build context (``rows``), and the lab's copy of what it sends (``folder``)."""

    source: Path
    folder: Path
    dockerfile: str
    rows: list[Entry]
    workspace: Workspace | None = field(default=None, repr=False)
    """The workspace the copies are in, whose mark each of their files carries (`Workspace.mark`)."""
    record = Entry

    @property
    def title(self) -> str:
        files = [r for r in self.rows if r.sent and r.bytes is not None]
        out = [r for r in self.rows if not r.sent]
        return (f"docker build {self.source.name}: {len(files)} files sent ({human(sum(r.bytes for r in files))}), "
                f"{len(out)} {'entry' if len(out) == 1 else 'entries'} kept out by .dockerignore")

    @property
    def frame(self):
        return pd.DataFrame({"path": [r.path for r in self.rows],
                             "bytes": ["" if r.bytes is None else human(r.bytes) for r in self.rows],
                             "sent": ["sent" if r.sent else f"kept out by '{r.rule}'" for r in self.rows]})

    @property
    def sent(self) -> list[str]:
        """The paths the context sends, folders included (`helpers.context.files`)."""
        return [r.path for r in self.rows if r.sent]

    @property
    def text(self) -> str:
        """The Dockerfile, as the lab's copy holds it."""
        return (self.folder / self.dockerfile).read_text()

    def read(self, path: str) -> str:
        """A sent file's text, from the lab's copy."""
        return (self.folder / self._sent_file(path)).read_text(errors="replace")

    def edit(self, path: str) -> str:
        """Add an empty line at the end of a sent file of the lab's copy: a change the build cache sees as any
        other, that changes nothing the file does. Returns the path."""
        with (self.folder / self._sent_file(path)).open("a") as out:
            out.write("\n")
        return path

    @property
    def edits(self) -> list[str]:
        """The edits the lab proposes: the sample's (`SAMPLE_EDITS`), or your two most recently changed files that
        are not dependency lists, then your first dependency list.

        Raises:
            BadInput: the context sends no file besides the Dockerfile and ``.dockerignore``.
        """
        if self.source == SAMPLE:
            return list(SAMPLE_EDITS)
        files = [r.path for r in self.rows if r.sent and r.bytes is not None and r.path not in (
            self.dockerfile, build_context.IGNORE_FILE)]
        lists = [p for p in files if Path(p).name in LIST_NAMES]
        code = sorted((p for p in files if p not in lists), key=lambda p: (-(self.folder / p).stat().st_mtime, p))
        if not files:
            raise BadInput(f"The build context of {self.source.name} sends no file but the Dockerfile to edit.",
                           "Name the files to edit yourself: EDITS = ['path/in/the/folder', ...].")
        return code[:2] + lists[:1]

    def twin(self, name: str, dockerfile_text: str) -> Project:
        """A second copy of the lab's copy, beside it, with another Dockerfile."""
        folder = _fresh(self.folder.parent / name)
        _copy(self.folder, self.sent, folder, self.workspace)
        (folder / self.dockerfile).write_text(dockerfile_text)
        return Project(self.source, folder, self.dockerfile, self.rows, self.workspace)

    def _sent_file(self, path: str) -> str:
        if not any(r.path == path and r.sent and r.bytes is not None for r in self.rows):
            raise BadInput(f"{path!r} is not a file the build context of {self.source.name} sends.",
                           f"Name one of: {', '.join(r.path for r in self.rows if r.sent and r.bytes is not None)}.")
        return path


def _fresh(folder: Path) -> Path:
    """An empty folder (the lab's own copy from an earlier run removed)."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _copy(source: Path, paths: list[str], target: Path, workspace: Workspace) -> None:
    """Copy ``paths`` (folders first, as the walk lists them) with their modes and links, each file marked as the
    workspace's (`Workspace.mark`, so no other workspace's BuildKit build serves its COPY)."""
    for path in paths:
        src, dst = source / path, target / path
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_dir():
            dst.mkdir(exist_ok=True)
            shutil.copymode(src, dst)
        elif src.is_file():
            try:
                shutil.copy2(src, dst)
            except PermissionError:
                raise BadInput(f"The file {path!r} in the build context cannot be read.",
                               f"Let the lab read it (chmod a+r) or add it to {build_context.IGNORE_FILE}.") from None
            workspace.mark(dst)


def open_project(source: str | os.PathLike | None, workspace: Workspace, dockerfile: str = "Dockerfile") -> Project:
    """Read ``source`` (the sample when None) as a build context and copy what it sends into the workspace's
    ``projects/yours``.

    Raises:
        BadInput: the folder does not exist, holds no such Dockerfile, or holds a file or folder that cannot be read.
    """
    folder = build_context.check(SAMPLE if source is None else source, dockerfile)
    rows = []
    for path, left_out, rule in build_context.walk(folder, dockerfile):
        found = os.lstat(folder / path)
        rows.append(Entry(path, found.st_size if stat.S_ISREG(found.st_mode) else None, not left_out, rule))
    copy = _fresh(workspace.path / "projects" / "yours")
    _copy(folder, [r.path for r in rows if r.sent], copy, workspace)
    return Project(folder.resolve(), copy, dockerfile, rows, workspace)
