"""The CLI on bad input: one line, exit code 2, nothing written to the store."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

GOOD = "name: x\npairs: [{host: Cr2S4, intercalant: Mg}]\n"


def _mvflows(*args, cwd=None, timeout=600):
    env = {**os.environ, "MVFLOWS_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "mvflows.cli", *args], capture_output=True, text=True, cwd=cwd or ROOT,
        timeout=timeout, env=env,
    )


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    "text, store, message",
    [
        ("name: x\nhosts: [Cr2S4]\nintercalants: [Qq]\n", None, "unknown element 'Qq'"),
        ("name: x\nhosts: [Sc2S4]\nintercalants: [Mg]\n", None, "'Sc' in 'Sc2S4' is not a supported spinel redox metal"),
        ("name: x\nhosts: [Cr2S4\n", None, "malformed YAML"),
        (GOOD, "mongodb://127.0.0.1:1/mvflows", "cannot reach store 127.0.0.1:1/mvflows"),
        (GOOD + "calculator: {model: MACE-MP-0}\n", None, "force field 'MACE-MP-0' cannot be loaded"),
    ],
)
def test_run_bad_input(tmp_path, text, store, message):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(text)
    store_dir = tmp_path / "store"
    result = _mvflows("run", str(campaign), "--store", store or str(store_dir), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and message in errors[0], result.stderr
    if store is None:
        # nothing written: the embedded store holds no document
        from mvflows.store import job_store

        js = job_store(str(store_dir))
        assert js.count() == 0 and js.additional_stores["results"].count() == 0


def test_results_on_empty_store(tmp_path):
    result = _mvflows("results", "--store", str(tmp_path / "s"), "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_results_unreachable(tmp_path):
    result = _mvflows("results", "--store", "mongodb://127.0.0.1:1/x")
    assert result.returncode == 2 and "cannot reach store" in result.stderr
