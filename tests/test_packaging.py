"""The project's promises about itself: one dependency list, mirrored for conda."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_names_every_pyproject_dependency_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        required += extra
    env = (ROOT / "environment.yml").read_text()
    listed = set(re.findall(r'^\s*-\s*"([^"]+)"\s*$', env, flags=re.MULTILINE))
    missing = [r for r in required if r not in listed]
    assert not missing, f"environment.yml lacks (or has other versions of): {missing}"
    extras = {r for r in listed if not r.startswith("-e")} - set(required)
    assert not extras, f"environment.yml has dependencies pyproject.toml does not: {extras}"
