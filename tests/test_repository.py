"""The repository's user-facing files: set-up commands, CI entry, docker-compose."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT


def test_readme_starts_with_two_setup_commands():
    text = Path(ROOT, "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert [line.split("#")[0].strip() for line in block] == ["make run", "make test"]


def test_ci_runs_the_readme_test_command():
    script = Path(ROOT, ".ci", "run").read_text()
    assert "make test" in script


def test_docker_compose_has_mongo_with_volume():
    with open(os.path.join(ROOT, "docker-compose.yml")) as fh:
        compose = yaml.safe_load(fh)
    mongo = compose["services"]["mongo"]
    assert mongo["image"].startswith("mongo")
    volume = mongo["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert "healthcheck" in mongo


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose parser not installed")
def test_docker_compose_config_parses():
    out = subprocess.run(["docker-compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_store_config_file_is_valid():
    from mvflows.store import resolve_uri

    assert resolve_uri(os.path.join(ROOT, "configs", "store.yaml")).startswith("mongodb://")
