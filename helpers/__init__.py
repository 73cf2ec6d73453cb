"""layer-lab helpers: build, run, push and inspect Docker images for real, as tables and charts."""
from .build import BuildReport, BuildStep
from .containers import App, Changes
from .errors import (
                     BadDockerfile,
                     BadInput,
                     BuildFailed,
                     ContainerFailed,
                     CredentialsRejected,
                     EngineUnavailable,
                     ImageMissing,
                     LabError,
                     PushFailed,
                     RecordingMissing,
                     RegistryUnavailable,
)
from .files import changes_between, waste
from .guess import check_guess
from .journey import journey
from .lab import Lab, connect
from .layers import History, Sharing, compare
from .push import PushReport

__all__ = ["App", "BadDockerfile", "BadInput", "BuildFailed", "BuildReport", "BuildStep", "Changes",
           "ContainerFailed", "CredentialsRejected", "EngineUnavailable", "History", "ImageMissing", "Lab",
           "LabError", "PushFailed", "PushReport", "RecordingMissing", "RegistryUnavailable", "Sharing",
           "changes_between", "check_guess", "compare", "connect", "journey",
           "waste"]
