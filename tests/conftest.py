import os
import subprocess
import sys
import warnings

import pytest

os.environ.setdefault("MVFLOWS_NO_PROGRESS", "1")
warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = os.path.join(ROOT, "workflows")


@pytest.fixture
def campaign_file(tmp_path):
    """Write a campaign text to a file and return its path."""

    def write(text: str, name: str = "campaign.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def mvflows_cli(*args, cwd=None, timeout=600, env=None):
    """``mvflows ARGS`` in a new process, as a user runs it (for runs that need their own process)."""
    env = {**os.environ, "MVFLOWS_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from mvflows.cli import main; main()", *args], capture_output=True, text=True,
        cwd=cwd or ROOT, timeout=timeout, env=env,
    )


def invoke(*args):
    """``mvflows ARGS`` in this process (typer's CliRunner): fast, for input checks and reads."""
    from typer.testing import CliRunner

    from mvflows.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]
