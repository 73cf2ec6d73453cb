"""The lab's exceptions: one base class, one subclass per thing a learner can do about it."""
from __future__ import annotations

_KINDS = (
    ("dockerfile", ("dockerfile parse error",)),
    ("port", ("port is already allocated", "address already in use")),
    ("vanished", ("unable to find image",)),
    ("snapshot", ("failed to prepare extraction snapshot",)),
    ("unreachable", ("connection refused", "no such host")),
    ("credentials", ("basic auth credentials", "unauthorized", "authentication required")),
    ("denied", ("denied",)),
)


def classify(text: str) -> str | None:
    """What an engine's error text is about, the one place the lab reads such text: ``dockerfile`` (it does
    not parse), ``port`` (a host port is taken), ``vanished`` (an image the engine had just found is gone,
    removed by someone else meanwhile), ``snapshot`` (the containerd store lost a layer's snapshot as it unpacked
    an image it had just built, an intermittent engine bug: moby/buildkit#6521), ``unreachable`` (the registry),
    ``credentials`` (a login is wanted), ``denied`` (no right to push there), or None."""
    lowered = text.lower()
    return next((kind for kind, words in _KINDS if any(w in lowered for w in words)), None)


def parse_error_detail(text: str) -> str:
    """What follows ``dockerfile parse error`` in an engine's message: the line and the reason."""
    return text.split("parse error", 1)[-1].lstrip(" :").rstrip(". \n")


class LabError(Exception):
    """Base of every error the lab raises on purpose.

    The message says what went wrong and ends with what to do next; the original exception,
    if any, is kept as ``__cause__``.
    """

    fix = "Read the message above, fix the cause, then run the cell again."

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        if fix:
            self.fix = fix
        super().__init__(f"{problem}\n  What to do: {self.fix}")


class EngineUnavailable(LabError):
    """No Docker engine answers, or it refuses the conversation."""

    fix = "Start Docker (in this repository: `make up`), or point DOCKER_HOST at a running engine."


class EngineRefused(LabError):
    """The engine understood a request and refused it (a conflict, a reference it does not accept)."""

    fix = "Read the engine's reason above, fix what it names, then run the cell again."


class BuilderUnavailable(LabError):
    """No docker CLI here builds with BuildKit."""

    fix = "Run `make up` (it fetches a buildx for the lab on Debian), or build with the classic builder."


class ExportUnreadable(LabError):
    """The engine's export of an image could not be read for its files."""

    fix = "Build the image again; if the engine compresses layers with zstd, read its files with the docker CLI."


class NotAnswering(LabError):
    """Nothing answers HTTP at an address: the app has not started yet, or has stopped."""

    fix = "Start the app with lab.run(image) and use the App it returns."


class PortBusy(LabError):
    """A host port the lab asked the engine to publish was taken (by another learner, just before)."""

    fix = "Run the cell again, or pass another port: lab.run(image, port=5050)."


class RegistryUnavailable(LabError):
    """The registry does not answer, or refuses a push."""

    fix = "Start the lab's registry with `make up`, or set LAYER_LAB_REGISTRY to one that runs."


class CredentialsRejected(LabError):
    """The registry refused a login, or a push needs one."""

    fix = ("Log in with the right user name and password: lab.login(user, password), "
           "or `docker login REGISTRY` in a terminal.")


class BadInput(LabError):
    """An argument the lab was given cannot be used (a tag, a message, a Dockerfile)."""


class BadDockerfile(BadInput):
    """The engine could not parse the Dockerfile."""

    fix = "Correct that line of the Dockerfile (FROM, RUN, CMD, COPY, ... then its arguments), then build again."


class BuildFailed(LabError):
    """A Dockerfile step failed; carries the step, its instruction, the last lines of its output, and the ids of
    the images the steps before it made (the classic builder keeps them as cache: the lab's to clean up)."""

    made: tuple[str, ...] = ()  # what a recording made before this attribute existed replays as

    def __init__(self, step: int | None, instruction: str | None, message: str, log_tail: list[str],
                 made: list[str] | None = None):
        self.step, self.instruction, self.message, self.log_tail = step, instruction, message, log_tail
        self.made = made or []
        where = f"Step {step} ({instruction})" if step else "The build"
        tail = "".join(f"\n    | {line}" for line in log_tail)
        super().__init__(f"{where} failed: {message}{tail}",
                         "Nothing is wrong with the Dockerfile: the engine lost a layer as it unpacked the image it "
                         "had built (an intermittent bug of the containerd image store, moby/buildkit#6521). Build "
                         "again." if classify(message) == "snapshot" else
                         "Fix that line of the Dockerfile (or the file it uses), then build again.")


class PushFailed(LabError):
    """The engine reported an error inside the push stream."""

    fix = "Check that the registry runs (`make up`) and that you may push to that repository."


class ImageMissing(LabError):
    """An image the lab needs is not on the engine."""

    fix = "Build it first (run the notebook from the top), or run `make up` for the base image."


class RecordingMissing(LabError):
    """Replay was asked for something the recording does not hold."""

    fix = "Record the notebooks again on a machine with Docker: `make record`."


class ContainerFailed(LabError):
    """The app container exited or never answered; carries its logs."""

    def __init__(self, problem: str, logs: str):
        self.logs = logs
        tail = "".join(f"\n    | {line}" for line in logs.splitlines()[-8:])
        super().__init__(f"{problem}{tail}", "Read the container's log lines above, fix app.py, then build again.")
