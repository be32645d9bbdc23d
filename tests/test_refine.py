"""A campaign's ``refine:`` without compute: the selection rule, bad input, levels of a result."""

import pytest
from conftest import error_lines, invoke

from mvflows.refine import RefineSettings, at_level, select


def _doc(host, barrier, voltage=1.0, state="successful"):
    return {"host": host, "barrier_ev": barrier, "voltage_v": voltage, "state": state}


DOCS = [
    _doc("A", 0.9, voltage=1.5),
    _doc("B", 0.4, voltage=0.3),
    _doc("C", 0.6, voltage=2.0),
    _doc("D", 0.2, voltage=1.2, state="partial"),
    None,  # a pair whose result job never ran
    _doc("E", None, voltage=1.8),  # NEB skipped by the screen
]


@pytest.mark.parametrize(
    ("rule", "hosts"),
    [
        ({"top": 2}, ["B", "C"]),  # lowest barrier first, successful only
        ({"top": 1, "descending": True}, ["A"]),
        ({"top": 1, "by": "voltage_v", "descending": True}, ["C"]),
        ({"where": {"voltage_v": {"min": 0.5}}}, ["A", "C", "E"]),  # no top: every pair that passes
        ({"where": {"voltage_v": {"min": 0.5}}, "top": 5}, ["C", "A"]),  # ranked; E has no barrier
        ({"where": {"barrier_ev": {"max": 0.7}, "voltage_v": {"min": 0.5, "max": 1.9}}}, []),
        ({"top": 1, "states": ["successful", "partial"]}, ["D"]),
    ],
)
def test_selection_rules(rule, hosts):
    assert [DOCS[i]["host"] for i in select(DOCS, RefineSettings(**rule))] == hosts


def test_a_level_of_a_result():
    doc = {
        "host": "Cr2S4",
        "calculator": "fake-vasp:PBE",
        "barrier_ev": 0.7,
        "headline_level": "fake-vasp:PBE",
        "levels": {
            "forcefield:SevenNet": {"calculator": "forcefield:SevenNet", "barrier_ev": 0.6},
            "fake-vasp:PBE": {"calculator": "fake-vasp:PBE", "barrier_ev": 0.7},
        },
    }
    ff = at_level(doc, "forcefield:SevenNet")
    assert ff["barrier_ev"] == 0.6 and ff["host"] == "Cr2S4" and "levels" not in ff
    assert at_level(doc, "vasp:PBE") is None
    plain = {"calculator": "forcefield:SevenNet", "barrier_ev": 0.5}  # a campaign without refine
    assert at_level(plain, "forcefield:SevenNet") is plain and at_level(plain, "fake-vasp:PBE") is None


BASE = """
name: bad-refine
pairs: [{host: Cr2S4, intercalant: Mg}]
calculator: {kind: KIND}
"""


@pytest.mark.parametrize(
    ("refine", "kind", "message"),
    [
        ("{vasp_config: VASP, by: barrer_ev}", "forcefield", "refine.by: unknown result field 'barrer_ev'"),
        (
            "{vasp_config: VASP, where: {volts: {min: 0.5}}}",
            "forcefield",
            "refine.where: unknown result field 'volts'",
        ),
        ("{vasp_config: VASP, where: {voltage_v: {}}}", "forcefield", "give min, max or both"),
        ("{top: 1}", "forcefield", "refine: needs a VASP configuration"),
        ("{vasp_config: VASP, flagged: true}", "forcefield", "refine.flagged: needs calculator.committee"),
        ("{vasp_config: nowhere.yaml}", "forcefield", "refine.vasp_config: "),
        ("{vasp_config: VASP, calculator: cp2k}", "forcefield", "refine.calculator: "),
        ("{vasp_config: VASP}", "fake-vasp", "calculator.kind: refine follows a force-field screen"),
    ],
)
def test_bad_refine_settings_are_one_error_line(tmp_path, refine, kind, message):
    (tmp_path / "vasp.yaml").write_text("encut: 520\n")
    text = BASE.replace("KIND", kind) + f"refine: {refine.replace('VASP', str(tmp_path / 'vasp.yaml'))}\n"
    (tmp_path / "c.yaml").write_text(text)
    result = invoke("run", tmp_path / "c.yaml", "--store", tmp_path / "store")
    assert result.exit_code == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert message in line and "c.yaml:" in line, line
    assert not (tmp_path / "store" / "work").exists()  # nothing computed


def test_results_of_an_unknown_level_is_one_error_line(tmp_path):
    from mvflows.schemas import PairResult
    from mvflows.store import publish_result, results_store

    store = results_store(str(tmp_path / "store"))
    doc = PairResult(
        campaign="c",
        host="Cr2S4",
        intercalant="Mg",
        formula_discharged="MgCr2S4",
        calculator="forcefield:SevenNet",
        state="successful",
        barrier_ev=0.5,
    )
    publish_result(store, doc)
    store.close()
    got = invoke("results", "--store", tmp_path / "store", "--level", "vasp:PBE")
    assert got.exit_code == 2 and "no result has level 'vasp:PBE'" in error_lines(got.stderr)[0]
    ok = invoke(
        "results", "--store", tmp_path / "store", "--level", "forcefield:SevenNet", "--format", "json"
    )
    assert ok.exit_code == 0 and '"barrier_ev": 0.5' in ok.stdout
