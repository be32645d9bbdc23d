"""Any spinel, hosts from structure files, the vacancy limit, and NEBs between given endpoints."""

import json

import numpy as np
import pytest
from conftest import WORKFLOWS, error_lines, invoke
from pymatgen.core import Lattice, Structure

from mvflows.campaign import CampaignError, load_campaign
from mvflows.electrochemistry import gravimetric_capacity, ion_charge
from mvflows.flows import CampaignMaker, host_kind
from mvflows.neb_path import hop_mirror, spinel_hop, spinel_vacancy_hop
from mvflows.structures import charged_spinel, octahedral_spinel, tetrahedral_spinel


def _names(flow):
    return [j.name for j, _ in flow.iterflow()]


@pytest.mark.parametrize("name", ["spinel_oxides", "spinel_chalcogenides"])
def test_new_spinel_campaigns_build(name):
    camp = load_campaign(f"{WORKFLOWS}/{name}.yaml")
    assert len(camp.pair_list()) == (12 if name == "spinel_oxides" else 15)
    names = _names(CampaignMaker().make(camp))
    assert "relax MgMn2O4 tet" in names or "relax MgSc2S4 tet" in names


def test_balance_formula_and_monovalent_checks(campaign_file):
    with pytest.raises(CampaignError, match="LiEr2Se4 cannot balance its charge: Er would need"):
        load_campaign(campaign_file("name: x\nhosts: [Er2Se4]\nintercalants: [Li]\n"))
    camp = load_campaign(campaign_file("name: x\nhosts: [S4Cr2, Cr2S4]\nintercalants: [Li, Na]\n"))
    assert [(p.host, p.intercalant) for p in camp.pair_list()] == [("Cr2S4", "Li"), ("Cr2S4", "Na")]
    assert ion_charge("Li") == ion_charge("Na") == 1
    assert gravimetric_capacity("LiCr2S4", "Li") == pytest.approx(
        26801.48 / (6.94 + 2 * 51.996 + 4 * 32.06), rel=1e-3
    )
    assert {"relax Li metal", "relax Na metal"} <= set(_names(CampaignMaker().make(camp)))


@pytest.mark.parametrize("site", ["tet", "oct"])
def test_vacancy_limit_supercell_and_symmetric_hop(site):
    cell = tetrahedral_spinel("Mg", "Cr") if site == "tet" else octahedral_spinel("Ca", "Cr")
    ion = str(cell[0].specie)
    hop = spinel_vacancy_hop(cell, ion, site)
    full = cell.copy()
    full.make_supercell([2, 2, 2])
    # one vacancy: one ion fewer than the full supercell, the same framework
    assert hop.start.composition[ion] == full.composition[ion] - 1
    assert hop.start.composition["Cr"] == full.composition["Cr"] and len(hop.start) == len(full) - 1
    assert hop.start.species == hop.end.species and str(hop.start[-1].specie) == ion
    moved = np.linalg.norm(hop.start.cart_coords[:-1] - hop.end.cart_coords[:-1], axis=1)
    assert moved.max() < 1e-8  # only the hopping ion differs
    assert hop_mirror(hop) is not None  # symmetric: one endpoint relax and its mirror image
    assert "(vacancy)" in hop.kind and 3.5 < hop.length < 5.5
    dilute = spinel_hop(charged_spinel("Cr"), ion, site)
    assert (len(dilute.start), len(hop.start)) == (97, 111)  # one ion in 96 host atoms; 16 ions less one


def test_both_limits_in_one_pair_graph(campaign_file):
    from jobflow import Response

    from mvflows.jobs.gate import neb_gate
    from mvflows.jobs.sites import site_energy
    from mvflows.structures.catalog import host_for

    camp = load_campaign(
        campaign_file("name: x\nhosts: [Cr2S4]\nintercalants: [Mg]\nneb: {limits: [vacancy, dilute]}\n")
    )
    maker = CampaignMaker()
    from mvflows.flows import pair_maker_for

    pm = pair_maker_for(camp)
    assert pm.hops.limits == ("vacancy", "dilute")
    host = host_for("Cr2S4", "spinel")
    tet, octa = tetrahedral_spinel("Mg", "Cr"), octahedral_spinel("Mg", "Cr")
    sites = site_energy.original("Mg", host, tet, -100.0, octa, -99.0)
    out = neb_gate.original(sites, charged_spinel("Cr"), host, "Mg", pm.hops, 1.0)
    assert isinstance(out, Response)
    names = [j.name for j, _ in out.replace.iterflow()]
    assert "neb vacancy" in names and "neb" in names and names[-1] == "limits summary Mg"
    assert "relax (fixed cell) NEB start vacancy" in names
    assert maker.make(camp)  # the campaign graph builds


def test_limits_summary_keeps_each_limit_and_reports_the_first():
    from mvflows.jobs.hops import collect_limits
    from mvflows.schemas import NebSummary

    vac = NebSummary(barrier_ev=0.4, neb_energies_ev=[0, 0.4, 0], hop="tet-oct-tet (vacancy)")
    dil = NebSummary(barrier_ev=0.6, hop="tet-oct-tet", failure_reasons=["NEB forces not converged"])
    s = collect_limits.original([vac, dil], ["vacancy", "dilute"])
    assert s.barrier_ev == 0.4 and s.hop == "tet-oct-tet (vacancy)"
    assert set(s.limits) == {"vacancy", "dilute"} and s.limits["dilute"].barrier_ev == 0.6
    assert s.failure_reasons == ["dilute limit: NEB forces not converged"]
    s = collect_limits.original([None, dil], ["vacancy", "dilute"])
    assert s.barrier_ev is None and "vacancy limit: NEB did not complete" in s.failure_reasons


def _write(structure, path):
    structure.to(filename=str(path))
    return path


def test_a_discharged_file_gives_the_charged_host_and_its_sites(tmp_path, campaign_file):
    """CIF round trip: MgMn2O4 in a file -> the host Mn2O4 without Mg, the file's Mg sites as the sites."""
    cif = _write(tetrahedral_spinel("Mg", "Mn", anion="O"), tmp_path / "MgMn2O4.cif")
    camp = load_campaign(campaign_file(f"name: f\nhosts: [{{file: {cif}}}]\nintercalants: [Mg, Zn]\n"))
    pair = camp.pair_list()[0]
    host = camp.host_of(pair)
    assert host.name == "MgMn2O4" and host.formula == "Mn2O4" and host.redox_metal == "Mn"
    assert host.structure().composition.reduced_formula == "MnO2" and "Mg" not in host.structure().composition
    assert host.discharged.composition["Mg"] == 2 and host_kind(host) == "file-sites"
    assert host.discharged_with("Zn").composition["Zn"] == 2  # another ion on the same sites
    names = _names(CampaignMaker().make(camp))
    assert "relax Mg in MgMn2O4 (file sites)" in names and "site energy Zn in MgMn2O4" in names

    from mvflows.jobs.sites import file_sites

    doc = file_sites.original("Mg", host, host.discharged, -100.0)
    assert doc.discharge[0].x == pytest.approx(1.0) and len(doc.site_frac_coords) == 3


def test_an_empty_host_file_has_its_sites_searched(tmp_path, campaign_file):
    poscar = _write(charged_spinel("Cr"), tmp_path / "POSCAR")
    camp = load_campaign(
        campaign_file(f"name: f\npairs: [{{host: {{file: {poscar}, name: cr}}, intercalant: Mg}}]\n")
    )
    host = camp.host_of(camp.pair_list()[0])
    assert host.discharged is None and host_kind(host) == "search" and host.formula == "CrS2"
    assert any(n.startswith("insert Mg1 in cr") for n in _names(CampaignMaker().make(camp)))


def _bad_files(tmp_path):
    good = charged_spinel("Cr")
    (tmp_path / "junk.cif").write_text("this is not a structure\n")
    partial = Structure(Lattice.cubic(5), [{"Mn": 0.5, "Fe": 0.5}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    partial.to(filename=str(tmp_path / "partial.json"))
    overlap = good.copy()
    overlap.append("S", overlap[0].frac_coords + 0.001)
    overlap.to(filename=str(tmp_path / "overlap.json"))
    Structure(Lattice.cubic(4.2), ["Mg", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]).to(
        filename=str(tmp_path / "MgO.json")
    )
    return [
        ("junk.cif", "cannot read a structure"),
        ("partial.json", "partial occupancies"),
        ("overlap.json", "Å apart (overlapping atoms)"),
        ("MgO.json", "no metal that can be reduced"),
        ("missing.cif", "no such structure file"),
    ]


def test_bad_host_files_are_one_line_and_nothing_runs(tmp_path):
    for name, message in _bad_files(tmp_path):
        campaign = tmp_path / "c.yaml"
        campaign.write_text(f"name: b\nhosts: [Cr2S4, {{file: {name}}}]\nintercalants: [Mg]\n")
        store = tmp_path / f"store-{name}"
        res = invoke("run", campaign, "--store", store)
        errors = error_lines(res.stderr)
        assert res.exit_code == 2 and len(errors) == 1, (name, res.stderr)
        assert message in errors[0] and name in errors[0] and "c.yaml:2:" in errors[0], errors[0]
        if store.exists():
            from mvflows.store import job_store

            assert job_store(str(store)).count() == 0


def _endpoints(tmp_path, supercell=(1, 1, 1)):
    hop = spinel_hop(charged_spinel("Cr"), "Mg", "tet", supercell)
    start, end = hop.start.copy(), hop.end.copy()
    # the moving ion first, as in published endpoint files: mvflows finds it, wherever it is
    first = [len(start) - 1, *range(len(start) - 1)]
    start, end = (Structure.from_sites([s[i] for i in first]) for s in (start, end))
    return _write(start, tmp_path / "initial.vasp"), _write(end, tmp_path / "final.vasp"), start, end


def test_mismatched_endpoints_are_one_line(tmp_path):
    initial, _final, start, end = _endpoints(tmp_path)
    swapped = Structure.from_sites([end[1], end[0], *end.sites[2:]])
    other_cell = end.copy()
    other_cell.scale_lattice(end.volume * 1.1)
    two = end.copy()  # two S atoms swap places: both move
    sulfur = [i for i, site in enumerate(two) if site.specie.symbol == "S"][:2]
    a, b = (two[i].frac_coords.copy() for i in sulfur)
    two.replace(sulfur[0], "S", b)
    two.replace(sulfur[1], "S", a)
    cases = [
        (swapped, "differ in species or order"),
        (other_cell, "different cells"),
        (two, "3 atoms move"),
        (start, "no atom moves"),
    ]
    for structure, message in cases:
        bad = _write(structure, tmp_path / "bad.vasp")
        res = invoke("neb", initial, bad, "--store", tmp_path / "s")
        assert res.exit_code == 2 and message in error_lines(res.stderr)[0], res.stderr
        assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_neb_between_given_endpoints(tmp_path):
    """A light band on a 13-atom cell: relaxed ends (one and its mirror), profile printed and stored."""
    initial, final, *_ = _endpoints(tmp_path)
    store = tmp_path / "s"
    res = invoke(
        "neb",
        initial,
        final,
        "--name",
        "tiny",
        "--store",
        store,
        "--images",
        "3",
        "--fmax",
        "0.3",
        "--steps",
        "40",
        "--endpoint-fmax",
        "0.2",
        "--endpoint-steps",
        "30",
        "--jobs",
        "1",
    )
    assert res.exit_code in (0, 1), res.stderr
    assert "NEB profile: tiny (Mg moves" in res.stdout
    (doc,) = json.loads(invoke("results", "--store", store, "--campaign", "neb", "--format", "json").stdout)
    assert doc["host"] == "tiny" and doc["intercalant"] == "Mg" and len(doc["neb_energies_ev"]) == 5
    assert doc["barrier_ev"] == pytest.approx(max(doc["neb_energies_ev"]) - min(doc["neb_energies_ev"]))
    assert doc["neb_path_distance_a"][-1] == pytest.approx(
        np.linalg.norm(
            Structure.from_file(str(final)).cart_coords[0] - Structure.from_file(str(initial)).cart_coords[0]
        ),
        rel=0.05,
    )
    assert doc["state"] == ("successful" if res.exit_code == 0 else "partial")


@pytest.mark.parametrize("limits", [("dilute",), ("vacancy", "dilute")])
def test_jobflow_can_replace_the_gate_by_the_hops(limits, campaign_file):
    """jobflow builds the replacing flow's output job from the output schema: it must be readable
    (a recursive NebSummary had only a $ref at its top and every NEB screen failed)."""
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    from mvflows.flows import pair_maker_for
    from mvflows.jobs.gate import neb_gate
    from mvflows.jobs.sites import site_energy
    from mvflows.structures.catalog import host_for

    camp = load_campaign(
        campaign_file(f"name: x\nhosts: [Cr2S4]\nintercalants: [Mg]\nneb: {{limits: {list(limits)}}}\n")
    )
    host = host_for("Cr2S4", "spinel")
    sites = site_energy.original(
        "Mg", host, tetrahedral_spinel("Mg", "Cr"), -100.0, octahedral_spinel("Mg", "Cr"), -99.0
    )
    gate = neb_gate(sites, charged_spinel("Cr"), host, "Mg", pair_maker_for(camp).hops, 1.0)
    store = JobStore(MemoryStore())
    store.connect()
    response = gate.run(store=store)
    assert response.replace is not None and len(response.replace.jobs) >= 2
