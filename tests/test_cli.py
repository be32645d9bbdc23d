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
        [sys.executable, "-c", "from mvflows.cli import main; main()", *args], capture_output=True, text=True, cwd=cwd or ROOT,
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
        (GOOD + "calculator: {model: NoSuchNet}\n", None, "c.yaml:3:21: calculator.model: unknown force field 'NoSuchNet'"),
        (GOOD + "screen: {max_abs_delta_e_sites_ev: 1}\n", None, "screen.max_abs_delta_e_sites_ev: unknown key"),
        ("name: x\npairs: [{host: Cr2S4, intercalant: Li}]\n", None, "'Li' is not a supported intercalant"),
        ("name: x\nhosts: [Cr2O4]\nintercalants: [Mg]\n", None, "not a B2S4 spinel framework"),
        ("name: x\n", None, "the campaign has no pairs"),
        (GOOD + "neb: {images: -3}\n", None, "neb.images: Input should be greater than or equal to 1"),
        (GOOD, "FILE", "cannot reach store"),
    ],
)
def test_run_bad_input(tmp_path, text, store, message):
    campaign = tmp_path / "c.yaml"
    campaign.write_text(text)
    store_dir = tmp_path / "store"
    if store == "FILE":  # a store path that cannot be a directory
        (tmp_path / "blocker").write_text("a file")
        store = str(tmp_path / "blocker" / "store")
    result = _mvflows("run", str(campaign), "--store", store or str(store_dir), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1 and message in errors[0], result.stderr
    if store is None:
        # nothing written: the embedded store holds no document
        from mvflows.store import job_store

        js = job_store(str(store_dir))
        assert js.count() == 0 and js.additional_stores["results"].count() == 0


@pytest.mark.parametrize("value", ["two", "0"])
def test_bad_job_count_is_refused_before_any_work(tmp_path, monkeypatch, value):
    (tmp_path / "c.yaml").write_text(GOOD)
    monkeypatch.setenv("MVFLOWS_JOBS", value)
    res = _mvflows("run", str(tmp_path / "c.yaml"), "--store", str(tmp_path / "s"))
    assert res.returncode == 2
    assert _error_lines(res.stderr) and "MVFLOWS_JOBS must be" in _error_lines(res.stderr)[0]
    assert not (tmp_path / "s").exists()


def test_missing_campaign_file(tmp_path):
    result = _mvflows("run", str(tmp_path / "nope.yaml"), "--store", str(tmp_path / "s"))
    assert result.returncode == 2 and "cannot read campaign file" in result.stderr
    assert not (tmp_path / "s").exists()


def test_results_on_empty_store(tmp_path):
    result = _mvflows("results", "--store", str(tmp_path / "s"), "--format", "json")
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_results_unreachable(tmp_path):
    result = _mvflows("results", "--store", "mongodb://127.0.0.1:1/x")
    assert result.returncode == 2 and "cannot reach store" in result.stderr


def test_results_read_from_several_stores(tmp_path):
    """Results of two stores (e.g. laptop and cluster) are read together, each pair once."""
    from mvflows.schemas import PairResult
    from mvflows.store import publish_result, results_store

    def result(host, v):
        return PairResult(campaign="t", host=host, intercalant="Mg", formula_discharged=f"Mg{host}", voltage_v=v,
                          calculator="forcefield:SevenNet", state="successful")

    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    publish_result(results_store(first), result("Cr2S4", 1.0))
    publish_result(results_store(second), result("Cr2S4", 9.0))  # same pair: the first store's wins
    publish_result(results_store(second), result("Ti2S4", 0.7))
    got = _mvflows("results", "--store", first, "--store", second, "--format", "json")
    assert got.returncode == 0, got.stderr
    assert sorted((d["host"], d["voltage_v"]) for d in json.loads(got.stdout)) == [("Cr2S4", 1.0), ("Ti2S4", 0.7)]
    bad = _mvflows("results", "--store", first, "--store", "mongodb://127.0.0.1:1/x")
    assert bad.returncode == 2 and len(_error_lines(bad.stderr)) == 1
