"""Non-spinel hosts: shipped structures, site finding, hop finding, campaign files, Y/Al."""

import itertools

import numpy as np
import pytest
from conftest import WORKFLOWS

from mvflows.campaign import CampaignError, load_campaign
from mvflows.flows import CampaignMaker
from mvflows.hops import chain_axis, distinct_hops
from mvflows.interstitials import candidate_sites
from mvflows.structures.hosts import HOSTS, host_catalog, host_formula_units, host_structure


@pytest.mark.parametrize(
    "name, formula, atoms", [("VS4", "VS4", 10), ("V2O5", "V2O5", 14), ("Mo6S8", "Mo3S4", 14)]
)
def test_shipped_hosts(name, formula, atoms):
    s = host_structure(name)
    assert s.composition.reduced_formula == formula and len(s) == atoms
    assert "source" in host_catalog()[name] and len(host_catalog()[name]["source"]) > 40
    assert min(d for row in s.distance_matrix for d in row if d > 0) > 1.5  # no overlapping atoms


def test_alpha_v2o5_bond_lengths():
    """Enjalbert & Galy's coordinates give the known VO5 pyramid: 1.58, 1.78, 1.88 x2, 2.02 Å."""
    s = host_structure("V2O5")
    v = next(site for site in s if site.specie.symbol == "V")
    d = sorted(n.nn_distance for n in s.get_neighbors(v, 2.5))
    assert d == pytest.approx([1.576, 1.776, 1.877, 1.877, 2.017], abs=0.01)


def _radial_from_chains(host, cart, axis):
    vs = [site.coords for site in host if site.specie.symbol == "V"]
    best = np.inf
    for v, shift in itertools.product(vs, itertools.product((-1, 0, 1), repeat=3)):
        d = cart - (v + host.lattice.get_cartesian_coords(shift))
        best = min(best, np.linalg.norm(d - np.dot(d, axis) * axis))
    return best


def test_vs4_sites_are_in_the_van_der_waals_gap():
    host = host_structure("VS4")
    axis = chain_axis(host, "V")
    s_envelope = max(
        _radial_from_chains(host, site.coords, axis) for site in host if site.specie.symbol == "S"
    )
    sites = candidate_sites(host, "Mg")
    assert len(sites) >= 3
    for c in sites:
        cart = host.lattice.get_cartesian_coords(c.frac_coords)
        assert min(n.nn_distance for n in host.get_sites_in_sphere(cart, 4.0)) >= 1.8  # overlaps none
        assert _radial_from_chains(host, cart, axis) > s_envelope + 0.3  # outside the chains' S2 sheath
    # symmetry dedup: no two candidates are equivalent positions
    all_positions = [tuple(np.round(p, 3)) for c in sites for p in c.equivalent_frac_coords]
    assert len(all_positions) == len(set(all_positions))


def test_vs4_hops_along_chains_and_between_s2_groups():
    host = host_structure("VS4")
    best = candidate_sites(host, "Mg")[0]
    kinds = {h.kind for h in distinct_hops(host, "Mg", best.frac_coords, max_length=7.0, chain_metal="V")}
    assert kinds == {"along-chain", "between-S2"}


@pytest.mark.parametrize("name", ["vs4", "v2o5", "chevrel"])
def test_campaign_files_build_the_shared_graph(name):
    camp = load_campaign(f"{WORKFLOWS}/{name}.yaml")
    names = [job.name for job, _ in CampaignMaker().make(camp).iterflow()]
    for step in ("relax", "insert", "site search", "voltage", "stability", "NEB screen", "result"):
        assert any(n.startswith(step) for n in names), step
    assert any(n.endswith("(competing phase)") for n in names)


def test_x_max_must_fill_the_cell(campaign_file):
    path = campaign_file("name: x\nfamily: host\npairs: [{host: VS4, intercalant: Mg, x_max: 1.25}]\n")
    with pytest.raises(CampaignError, match=r"campaign.yaml:\d+:\d+: .*whole number"):
        load_campaign(path)
    path = campaign_file("name: x\nfamily: host\nhosts: [NbSe3]\nintercalants: [Mg]\n")
    with pytest.raises(CampaignError, match="unknown host 'NbSe3'"):
        load_campaign(path)


def test_formula_units():
    assert host_formula_units("Mo6S8", host_structure("Mo6S8")) == 1
    assert host_formula_units("VS4", host_structure("VS4")) == 2
    assert set(HOSTS) == {"VS4", "V2O5", "Mo6S8"}


def test_y_and_al_spinel_campaign(campaign_file):
    """Y and Al (z = 3) in the spinel campaign; capacity and voltage divide by z = 3."""
    from pymatgen.core import Composition

    from mvflows.electrochemistry import FARADAY_MAH_PER_MOL, gravimetric_capacity, insertion_pair

    camp = load_campaign(f"{WORKFLOWS}/spinel_trivalent.yaml")
    assert {p.intercalant for p in camp.pair_list()} == {"Y", "Al"}
    names = [job.name for job, _ in CampaignMaker().make(camp).iterflow()]
    assert "relax Y metal" in names and "relax Al metal" in names
    assert gravimetric_capacity("AlCr2S4", "Al") == pytest.approx(
        3 * FARADAY_MAH_PER_MOL / Composition("AlCr2S4").weight
    )
    pair = insertion_pair(Composition("Cr2S4"), -10.0, Composition("YCr2S4"), -22.0, "Y", -6.5)
    assert pair.voltage == pytest.approx((-10.0 - 6.5 + 22.0) / 3)
