"""Energy above the hull: pymatgen's phase diagram on relaxed or user energies."""

import pytest
from pymatgen.core import Composition

from mvflows.campaign import CampaignError, load_campaign
from mvflows.flows import CampaignMaker
from mvflows.stability import hull_energies, load_entries_file
from mvflows.structures.prototypes import build, phase_table, phases_in

ELEMENTS = [("Mg", Composition("Mg"), -1.5), ("S", Composition("S8"), -8 * 4.1)]


def test_phase_on_the_hull_is_zero_and_above_is_positive():
    # MgS 1.2 eV/atom below the elements: on the hull; Mg2S (same per-atom energy) is above
    targets = {
        "MgS": (Composition("MgS"), 2 * ((-1.5 - 4.1) / 2 - 1.2)),
        "Mg2S": (Composition("Mg2S"), 3 * ((-1.5 * 2 - 4.1) / 3 - 0.6)),
    }
    result = hull_energies(targets, ELEMENTS)
    assert result["MgS"][0] == 0.0
    assert result["Mg2S"][0] > 0.05
    assert "Mg" in result["Mg2S"][1] and "MgS" in result["Mg2S"][1]
    # an element is on its own hull
    assert hull_energies({"Mg": (Composition("Mg2"), -3.0)}, ELEMENTS)["Mg"][0] == 0.0


def test_missing_elemental_reference_is_one_line():
    with pytest.raises(ValueError, match="no elemental reference for Cr"):
        hull_energies({"x": (Composition("MgCr2S4"), -40.0)}, ELEMENTS)


def test_prototypes_cover_every_chemical_system():
    for system in (
        {"Mg", "V", "S"},
        {"Ca", "V", "S"},
        {"Mg", "V", "O"},
        {"Mg", "Mo", "S"},
        {"Zn", "Cr", "S"},
    ):
        names = phases_in(system)
        assert {n for n in names if Composition(n).is_element} | {
            n for n in system if phase_table()[n]["prototype"] == "metal"
        } >= system
    for name in phase_table():
        s = build(name)
        assert s.composition.reduced_formula == Composition(name).reduced_formula or name in ("S", "O")


def test_entries_file(tmp_path, campaign_file):
    good = tmp_path / "entries.yaml"
    good.write_text(
        "- {formula: MgS, energy_per_atom: -4.0}\n- {formula: Mg2S, energy: -12.0, source: mydb}\n"
    )
    rows = load_entries_file(good)
    assert rows[1]["energy_per_atom"] == pytest.approx(-4.0) and rows[1]["source"] == "mydb"
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {formula: MgS}\n")
    with pytest.raises(ValueError, match="entry 0: needs formula and energy"):
        load_entries_file(bad)
    path = campaign_file(
        "name: x\npairs: [{host: Cr2S4, intercalant: Mg}]\n"
        f"stability: {{enabled: true, entries_file: {bad}}}\n"
    )
    with pytest.raises(CampaignError, match=r"campaign.yaml:3:\d+: stability.entries_file: .*entry 0"):
        load_campaign(path)


def test_spinel_stability_hook_and_screen(campaign_file):
    camp = load_campaign(
        campaign_file(
            "name: s\npairs: [{host: Cr2S4, intercalant: Mg}]\nstability: {enabled: true}\n"
            "screen: {max_e_hull_ev_atom: 0.1}\n"
        )
    )
    flow = CampaignMaker().make(camp)
    names = {job.name for job, _ in flow.iterflow()}
    assert {"stability MgCr2S4", "relax Cr (competing phase)", "relax MgS (competing phase)"} <= names
    name = {j.uuid: j.name for j, _ in flow.iterflow()}
    gate = next(j for j, _ in flow.iterflow() if j.name == "NEB screen MgCr2S4")
    assert "stability MgCr2S4" in {name[u] for u in flow.graph.predecessors(gate.uuid)}
    with pytest.raises(CampaignError, match=r"needs stability\.enabled"):
        load_campaign(
            campaign_file(
                "name: s\npairs: [{host: Cr2S4, intercalant: Mg}]\nscreen: {max_e_hull_ev_atom: 0.1}\n"
            )
        )
