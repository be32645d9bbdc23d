"""The validation report: every reference row, computed beside published, MAE, trends."""

import pytest
from conftest import mvflows_cli as _mvflows

from mvflows.schemas import PairResult
from mvflows.store import publish_result, results_store
from mvflows.validation import NOT_COMPUTED, compare, load_reference, to_markdown


def _doc(host, ion, **values):
    return {
        "host": host,
        "intercalant": ion,
        "calculator": "forcefield:Test",
        "state": "successful",
        **values,
    }


def test_reference_file_cites_every_row():
    ref = load_reference()
    assert len(ref["rows"]) >= 25
    for row in ref["rows"]:
        assert row["source"] and row["quantity"] and "value" in row
    # the study's flagship numbers are there, as published
    flagship = {(r["host"], r["intercalant"], r["quantity"], r.get("kind")): r["value"] for r in ref["rows"]}
    assert flagship[("Cr2S4", "Mg", "voltage_v", "dft")] == 1.65
    assert flagship[("Cr2S4", "Mg", "barrier_ev", "dft")] == 0.542
    assert {r.get("hop") for r in ref["rows"] if r["host"] == "VS4"} >= {"along-chain", "between-S2"}


def test_computed_beside_published_with_difference_and_mae():
    docs = [
        _doc("Cr2S4", "Mg", voltage_v=1.45, barrier_ev=0.642, stable_site="tet", delta_e_site_ev=0.3),
        _doc("Cr2S4", "Ca", voltage_v=2.36, stable_site="tet", delta_e_site_ev=0.1),
        _doc(
            "VS4",
            "Mg",
            hops=[{"kind": "along-chain", "barrier_ev": 2.0}, {"kind": "between-S2", "barrier_ev": 1.2}],
        ),
    ]
    report = compare(docs, load_reference())
    by_key = {
        (c.row["host"], c.row["intercalant"], c.row["quantity"], c.row.get("kind"), c.row.get("hop")): c
        for c in report.comparisons
    }
    assert by_key[("Cr2S4", "Mg", "voltage_v", "dft", None)].difference == pytest.approx(-0.2)
    assert by_key[("Cr2S4", "Mg", "stable_site", "dft", None)].agrees is True
    assert by_key[("Cr2S4", "Ca", "stable_site", "dft", None)].agrees is False
    assert by_key[("VS4", "Mg", "barrier_ev", "dft", "between-S2")].difference == pytest.approx(-0.3)
    assert by_key[("Ti2S4", "Mg", "voltage_v", "dft", None)].computed is None
    mae = report.mae()
    assert mae[("voltage_v", "dft", "forcefield:Test")] == (pytest.approx(0.2), 2)
    assert mae[("barrier_ev", "dft", "forcefield:Test")] == (pytest.approx((0.1 + 0.16 + 0.3) / 3), 3)
    trends = {t.id: t.verdict for t in report.trends}
    assert trends["ca_above_mg"] == "holds"
    assert trends["ca_oct"] == "does not hold"
    assert trends["mg_above_zn"] == NOT_COMPUTED
    text = to_markdown(report)
    assert "| Cr2S4 | Mg | voltage_v |  | dft | 1.65 V | 1.450 | -0.200 | forcefield:Test |" in text


def test_validate_cli_lists_every_reference_row(tmp_path):
    store = tmp_path / "store"
    doc = _doc("Cr2S4", "Mg", voltage_v=1.5, capacity_mah_g=209.0, campaign="t", formula_discharged="MgCr2S4")
    publish_result(results_store(str(store)), PairResult(**doc))
    report = tmp_path / "report.md"
    out = _mvflows("validate", "--store", str(store), "-o", str(report))
    assert out.returncode == 0, out.stderr
    text = report.read_text()
    rows = [
        line for line in text.split("## Mean")[0].splitlines() if line.startswith("| ") and "---" not in line
    ][1:]
    assert len(rows) == len(load_reference()["rows"])
    assert text.count(NOT_COMPUTED) >= len(rows) - 2
    assert "| voltage_v | dft | forcefield:Test | 0.150 | 1 |" in text


def test_validate_bad_reference_is_one_line(tmp_path):
    out = _mvflows(
        "validate",
        "--store",
        "mongomock://v",
        "--reference",
        str(tmp_path / "missing.yaml"),
        "-o",
        str(tmp_path / "r.md"),
    )
    assert out.returncode == 2
    assert [
        line for line in out.stderr.splitlines() if line.startswith("error:")
    ] == out.stderr.strip().splitlines()
