"""The CLI on bad input: one line, exit code 2, nothing written; reading several stores."""

import json

import pytest
from conftest import error_lines, invoke

GOOD = "name: x\npairs: [{host: Cr2S4, intercalant: Mg}]\n"


@pytest.mark.parametrize(
    "text, store, message",
    [
        ("name: x\nhosts: [Cr2S4]\nintercalants: [Qq]\n", None, "unknown element 'Qq'"),
        (
            "name: x\nhosts: [Zn2S4]\nintercalants: [Mg]\n",
            None,
            "MgZn2S4 cannot balance its charge: Zn would need +3 (its oxidation states: +1, +2)",
        ),
        ("name: x\nhosts: [Cr2S4\n", None, "malformed YAML"),
        (GOOD, "mongodb://127.0.0.1:1/mvflows", "cannot reach store 127.0.0.1:1/mvflows"),
        (GOOD + "calculator: {model: MACE-MP-0}\n", None, "force field 'MACE-MP-0' cannot be loaded"),
        (
            GOOD + "calculator: {model: NoSuchNet}\n",
            None,
            "c.yaml:3:21: calculator.model: unknown force field 'NoSuchNet'",
        ),
        (
            GOOD + "screen: {max_abs_delta_e_sites_ev: 1}\n",
            None,
            "screen.max_abs_delta_e_sites_ev: unknown key",
        ),
        ("name: x\npairs: [{host: Cr2S4, intercalant: K}]\n", None, "'K' is not a supported intercalant"),
        ("name: x\nhosts: [Cr2Cl4]\nintercalants: [Mg]\n", None, "not a B2X4 spinel framework"),
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
    result = invoke("run", campaign, "--store", store or store_dir)
    assert result.exit_code == 2, result.stderr
    errors = error_lines(result.stderr)
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
    res = invoke("run", tmp_path / "c.yaml", "--store", tmp_path / "s")
    assert res.exit_code == 2
    assert error_lines(res.stderr) and "MVFLOWS_JOBS must be" in error_lines(res.stderr)[0]
    assert not (tmp_path / "s").exists()


def test_missing_campaign_file(tmp_path):
    result = invoke("run", tmp_path / "nope.yaml", "--store", tmp_path / "s")
    assert result.exit_code == 2 and "cannot read campaign file" in result.stderr
    assert not (tmp_path / "s").exists()


def test_results_on_empty_store(tmp_path):
    from mvflows.store import job_store

    job_store(str(tmp_path / "s"))  # made, as a run makes it, but nothing in it yet
    result = invoke("results", "--store", tmp_path / "s", "--format", "json")
    assert result.exit_code == 0 and json.loads(result.stdout) == []


def test_results_unreachable():
    result = invoke("results", "--store", "mongodb://127.0.0.1:1/x")
    assert result.exit_code == 2 and "cannot reach store" in result.stderr


def _result(host, v, campaign="t", settings="s", at="2026-12-01T00:00:00+00:00"):
    from mvflows.schemas import PairResult

    return PairResult(
        campaign=campaign,
        settings_digest=settings,
        host=host,
        intercalant="Mg",
        formula_discharged=f"Mg{host}",
        voltage_v=v,
        calculator="forcefield:SevenNet",
        state="successful",
        completed_at=at,
    )


def test_results_read_from_several_stores(tmp_path):
    """Results of two stores (e.g. laptop and cluster) are read together, each result once."""
    from mvflows.store import publish_result, results_store

    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    publish_result(results_store(first), _result("Cr2S4", 1.0))
    publish_result(results_store(second), _result("Cr2S4", 9.0))  # the same result: the first store's wins
    publish_result(results_store(second), _result("Ti2S4", 0.7))
    got = invoke("results", "--store", first, "--store", second, "--format", "json")
    assert got.exit_code == 0, got.stderr
    assert sorted((d["host"], d["voltage_v"]) for d in json.loads(got.stdout)) == [
        ("Cr2S4", 1.0),
        ("Ti2S4", 0.7),
    ]
    bad = invoke("results", "--store", first, "--store", "mongodb://127.0.0.1:1/x")
    assert bad.exit_code == 2 and len(error_lines(bad.stderr)) == 1


def test_results_campaign_column_filter_and_versions(tmp_path):
    from mvflows.store import publish_result, results_store

    store = str(tmp_path / "s")
    publish_result(results_store(store), _result("Cr2S4", 1.68, campaign="spinel21", settings="careful"))
    publish_result(results_store(store), _result("Cr2S4", 1.70, campaign="smoke", settings="light"))
    publish_result(
        results_store(store),
        _result("Cr2S4", 1.72, campaign="smoke", settings="lighter", at="2026-12-02T00:00:00+00:00"),
    )
    table = invoke("results", "--store", store)
    assert table.exit_code == 0 and "campaign" in table.stdout and "spinel21" in table.stdout
    assert "1.720" in table.stdout and "1.700" not in table.stdout  # each campaign's latest
    one = json.loads(invoke("results", "--store", store, "--campaign", "smoke", "--format", "json").stdout)
    assert [d["voltage_v"] for d in one] == [1.72]
    every = invoke("results", "--store", store, "--all")
    assert all(v in every.stdout for v in ("1.680", "1.700", "1.720", "lighter", "2026-12-02"))
    csv = invoke("results", "--store", store, "--all", "--format", "csv").stdout.splitlines()
    assert csv[0].startswith("campaign,host,intercalant") and "settings_digest" in csv[0] and len(csv) == 4
