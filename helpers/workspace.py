"""The lab's scratch folder: the Flask app and the Dockerfiles the lab builds."""
from __future__ import annotations

import json
import re
import secrets
import tempfile
from pathlib import Path

from .errors import BadInput

HEADER = "# {workspace}: this line keeps other runs' builds from serving as this workspace's cache\n"
"""The first line of each file the lab writes for a COPY, so no other workspace's build matches it."""
APP = HEADER + '''\
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


class Workspace:
    """A folder of its own per lab session, outside the repository; ``name`` is unique.

    Args:
        root: where workspaces live (default: ``<tmp>/layer-lab``).
        name: the workspace's name; by default ``lab-`` plus six random hex digits.
    """

    def __init__(self, root: Path | None = None, name: str | None = None):
        self.name = name or f"lab-{secrets.token_hex(3)}"
        self.path = Path(root or Path(tempfile.gettempdir()) / "layer-lab") / self.name
        self.path.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"<Workspace {self.path}>"

    def write(self, filename: str, text: str) -> Path:
        path = self.path / _check_filename(filename)
        path.write_text(text)
        return path

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
        return self.write(filename, APP.format(message=json.dumps(message), workspace=self.name))

    def write_requirements(self, *packages: str) -> Path:
        """Write ``requirements.txt`` listing ``packages``; its first line names the workspace, as app.py's does."""
        return self.write("requirements.txt", HEADER.format(workspace=self.name) + "".join(f"{p}\n" for p in packages))
