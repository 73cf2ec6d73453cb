"""environment.yml (for conda users) lists exactly the packages and ranges of pyproject.toml."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CONDA_NAMES = {"docker": "docker-py"}  # PyPI name -> conda-forge name where they differ


def split(requirement: str) -> tuple[str, str]:
    name, spec = re.match(r"^([A-Za-z0-9_.-]+)\s*(.*)$", requirement).groups()
    return name.lower(), spec.replace(" ", "")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {split(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {split(r) for r in extra}
    wanted = {(CONDA_NAMES.get(n, n), s) for n, s in wanted}
    listed = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = {split(d) for d in listed if isinstance(d, str) and not d.startswith(("python", "pip"))}
    assert conda == wanted
