"""A campaign's ``refine:`` without compute: the selection rule, bad input, levels of a result."""

import pytest
from conftest import WORKFLOWS, error_lines, invoke

from mvflows.refine import RefineSettings, at_level, describe_picks, describe_rule, select


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


def test_the_refine_job_adds_warm_vasp_graphs_of_the_picked_pairs():
    """The refinement built and replaced in memory (no compute): one job after the screen, the
    screen's jobs those of workflows/smoke.yaml, the picked pair's VASP jobs started from the
    force-field jobs' outputs."""
    from jobflow import Flow
    from jobflow.core.flow import get_flow
    from pymatgen.core import Lattice, Structure

    from mvflows.campaign import load_campaign
    from mvflows.flows import CampaignMaker
    from mvflows.schemas import PairResult

    def uuids(flow):
        return {j.uuid for j, _ in flow.iterflow()}

    refine_campaign = load_campaign(f"{WORKFLOWS}/smoke_refine.yaml")
    flow = CampaignMaker().make(refine_campaign)
    screen = CampaignMaker().make(load_campaign(f"{WORKFLOWS}/smoke.yaml"))
    refine = flow.jobs[-1]
    assert refine.name.startswith("refine smoke-refine on fake-vasp:PBE")
    # the screen's jobs are the plain campaign's but for the pair results (another campaign name)
    assert len(uuids(flow) - uuids(screen)) == 3 and len(uuids(screen) - uuids(flow)) == 2
    assert CampaignMaker().make(refine_campaign).jobs[-1].uuid == refine.uuid  # content-keyed

    _results, hosts, kinds, xs, warm = refine.function_args
    # the warm start's force-field outputs are the refine job's inputs, made with the Flow
    by_name = {j.name: j for j, _ in flow.iterflow()}
    ti = warm[1]
    assert ti["start"]["relax_charged"].uuid == by_name["relax Ti2S4"].uuid
    assert ti["start"]["relax_charged"].attributes == (("a", "structure"),)
    assert set(ti["start"]) == {"relax_charged", "relax_tet", "relax_oct"}
    assert ti["metal"].uuid == by_name["relax Zn metal"].uuid
    assert (ti["band"].uuid, ti["band"].attributes) == (by_name["NEB screen ZnTi2S4"].uuid, (("a", "band"),))
    steps = ("relax_charged", "relax_metal", "relax_tet", "relax_oct", "neb")
    docs = [
        PairResult(
            campaign="smoke-refine",
            host=host.name,
            intercalant=ion,
            formula_discharged=f"{ion}{host.name}",
            calculator="forcefield:SevenNet",
            state="successful",
            barrier_ev=barrier,
            neb_energies_ev=[0.0, barrier, 0.0],
            job_uuids={step: f"{host.name}-{step}" for step in steps},
        )
        for host, ion, barrier in zip(hosts, ("Mg", "Zn"), (0.7, 0.6), strict=True)
    ]
    # ... resolved before it runs: structures (marked by their lattice), the band a list of them
    marked = {step: Structure(Lattice.cubic(3 + i), ["Zn"], [[0, 0, 0]]) for i, step in enumerate(steps)}
    resolved = [
        {
            "start": {k: marked[k] for k in ("relax_charged", "relax_tet", "relax_oct")},
            "metal": marked["relax_metal"],
            "band": [marked["neb"]] * 3,
        }
    ] * 2
    run = refine.function.original  # what the job runs: the maker's undecorated make
    response = run(refine.function.__self__, docs, hosts, kinds, xs, resolved)
    added = response.replace
    names = [j.name for j in added.jobs]
    assert {"levels Mg in Cr2S4", "levels Zn in Ti2S4"} <= set(names)  # every pair's merged result
    (vasp,) = [j for j in added.jobs if isinstance(j, Flow)]
    assert vasp.name == "Zn in Ti2S4 on fake-vasp:PBE"  # the lower barrier, top: 1
    # jobflow-remote refuses a dynamic Flow referring to jobs outside it: nothing here does
    get_flow(added)
    given = {
        round(arg.lattice.a)
        for job, _ in added.iterflow()
        for arg in (*job.function_args, *job.function_kwargs.values())
        if isinstance(arg, Structure)
    }
    assert {3, 4, 5, 6} <= given  # each VASP relax from the FF's structure (charged, metal, tet, oct)
    (gate,) = [j for j, _ in added.iterflow() if j.name == "NEB screen ZnTi2S4"]
    assert gate.function_kwargs["warm_band"] == [marked["neb"]] * 3  # the NEB gate gets the FF band
    # what it picked, kept with the job (stored_data) for `mvflows run` and `mvflows status`
    record = response.stored_data["refine"]
    assert record == {
        "level": "fake-vasp:PBE",
        "by": "barrier_ev",
        "of": 2,
        "picked": [{"pair": "ZnTi2S4", "value": 0.6}],
    }
    assert describe_picks(record) == "refine: picked ZnTi2S4 (barrier_ev 0.6) of 2 pairs for fake-vasp:PBE"
    merges = {j.name: j.metadata for j in added.jobs if j.name.startswith("levels")}
    assert merges["levels Mg in Cr2S4"]["pair"] == "MgCr2S4" and "level" not in merges["levels Mg in Cr2S4"]


def test_what_a_rule_will_pick_in_one_line():
    rule = RefineSettings(top=2, where={"voltage_v": {"min": 0.5, "max": 3}})
    assert describe_rule(rule, 12, "vasp:PBE") == (
        "refine: the best 2 by barrier_ev (lowest first) with voltage_v >= 0.5 and voltage_v <= 3 "
        "of the 12 pairs' successful force-field results go on to vasp:PBE"
    )
    assert describe_picks({"level": "vasp:PBE", "by": "voltage_v", "of": 3, "picked": []}) == (
        "refine: picked none of 3 pairs for vasp:PBE"
    )


def test_status_lists_a_refined_pairs_jobs_at_their_level():
    from mvflows.cluster import JobRow, states_per_pair

    rows = [
        JobRow("1", "relax Ti2S4", "ZnTi2S4", "COMPLETED", "local", None),
        JobRow("2", "relax Ti2S4", "ZnTi2S4", "COMPLETED", "local", None, level="vasp:PBE"),
        JobRow("3", "NEB", "ZnTi2S4", "FAILED", "local", None, level="vasp:PBE"),
    ]
    assert states_per_pair(rows) == {
        "ZnTi2S4": {"COMPLETED": 1},
        "ZnTi2S4 (vasp:PBE)": {"COMPLETED": 1, "FAILED": 1},
    }


def test_a_refined_pair_reads_back_as_its_merged_result():
    """The DFT level's own result and the merged one share calculator and pair; the merged one,
    written after it, is the pair's latest even within one second of completed_at."""
    from mvflows.store import latest_versions

    own = {"campaign": "c", "calculator": "vasp:PBE", "host": "Ti2S4", "intercalant": "Zn"}
    own["completed_at"] = "2025-01-01T00:00:00+00:00"
    merged = {**own, "levels": {"vasp:PBE": {}, "forcefield:SevenNet": {}}, "headline_level": "vasp:PBE"}
    assert latest_versions([own, merged]) == latest_versions([merged, own]) == [merged]
