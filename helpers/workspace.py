"""The lab's scratch folder: the Flask app and the Dockerfiles the lab builds."""
from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import secrets
import tempfile
import time
from pathlib import Path

from .errors import BadInput

MARK = "user.layer-lab.workspace"
"""An extended attribute naming the workspace, on each file the lab writes. BuildKit's COPY cache key includes
a file's extended attributes, so no other workspace's BuildKit build of the same text serves this one's COPY;
the classic builder's context (`helpers.context.tar`, as the docker CLI sends it) carries none, and
``cat`` shows none: the files read as the workshop's."""
APP = '''\
from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return {message}


if __name__ == "__main__":
    app.run(host="0.0.0.0")
'''

_FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def lab_dockerfile(base: str, app: str = "app.py") -> str:
    """The workshop's four-line Dockerfile: the line that changes most often goes last."""
    return f'FROM {base}\nRUN pip install flask\nCMD ["python","{app}"]\nCOPY {app} /{app}\n'


def _check_filename(name: str) -> str:
    if not _FILENAME.match(name):
        raise BadInput(f"{name!r} is not a plain file name.", "Use letters, digits, '.', '_' or '-', e.g. 'app2.py'.")
    return name


PROGRESS = "progress.jsonl"
"""The file in each workspace where the lab notes what it did, one JSON object a line (`Workspace.note`): what an
instructor's view of a room reads (`helpers.room`)."""


def default_root() -> Path:
    """Where a user's workspaces live: ``<tmp>/layer-lab-<user>``, one folder per user, so learners sharing a machine
    (a JupyterHub) each write only in their own."""
    return Path(tempfile.gettempdir()) / f"layer-lab-{getpass.getuser()}"


class Workspace:
    """A folder of its own per lab session, outside the repository; ``name`` is unique.

    Args:
        root: where workspaces live (default: `default_root`).
        name: the workspace's name; by default ``lab-`` plus six random hex digits.
    """

    def __init__(self, root: Path | None = None, name: str | None = None):
        self.name = name or f"lab-{secrets.token_hex(3)}"
        self.path = Path(root or default_root()) / self.name
        self.path.mkdir(parents=True, exist_ok=True)

    def note(self, notebook: str | None, action: str, subject: str) -> None:
        """Add what the lab just did (``build``, ``run``, ``push`` ...) and to what, with the time, to `PROGRESS`."""
        entry = {"time": round(time.time(), 1), "notebook": notebook, "action": action, "subject": subject}
        with contextlib.suppress(OSError), (self.path / PROGRESS).open("a") as out:
            out.write(json.dumps(entry) + "\n")

    def __repr__(self) -> str:
        return f"<Workspace {self.path}>"

    def write(self, filename: str, text: str) -> Path:
        """Write ``text`` to ``filename`` in the workspace, marked as this workspace's (`MARK`) where the file
        system keeps extended attributes."""
        path = self.path / _check_filename(filename)
        path.write_text(text)
        self.mark(path)
        return path

    def mark(self, path: Path) -> None:
        """Mark a file the lab wrote as this workspace's (`MARK`), where the file system keeps extended attributes."""
        with contextlib.suppress(OSError):  # no user xattrs here (an old tmpfs, some network file systems)
            os.setxattr(path, MARK, self.name.encode())

    def read(self, filename: str) -> str:
        return (self.path / _check_filename(filename)).read_text()

    def write_app(self, message: str = "hello world!", filename: str = "app.py") -> Path:
        """Write the Flask app that answers ``message`` on ``/``.

        Raises:
            BadInput: the message is empty, too long, or not one line of printable text.
        """
        if not message or len(message) > 200 or not message.isprintable():
            raise BadInput(f"The app's message must be one line of printable text (got {message!r}).",
                           'Pass a short message such as "hello world!".')
        return self.write(filename, APP.format(message=json.dumps(message)))

    def write_requirements(self, *packages: str) -> Path:
        """Write ``requirements.txt`` listing ``packages``, one a line."""
        return self.write("requirements.txt", "".join(f"{p}\n" for p in packages))
