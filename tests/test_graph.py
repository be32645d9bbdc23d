"""The jobflow graph: dependencies, shared metal references and the NEB-skip rule."""

import pytest
from jobflow import Flow, Response

from mvflows.campaign import load_campaign
from mvflows.flows import CampaignMaker, pair_maker_for
from mvflows.jobs.analysis import site_energy
from mvflows.jobs.neb import neb_if_promising, summarise_neb
from mvflows.schemas import NebSummary
from mvflows.structures import charged_spinel, octahedral_spinel, tetrahedral_spinel


def _jobs_by_name(flow):
    return {job.name: job for job in flow.iterflow() for job in [job[0]]}


def test_campaign_graph_dependencies(campaign_file):
    camp = load_campaign(
        campaign_file(
            "name: g\nhosts: [Cr2S4, Ti2S4]\nintercalants: [Mg, Zn]\n"
        )
    )
    flow = CampaignMaker().make(camp)
    jobs = _jobs_by_name(flow)
    # one metal relax per intercalant, shared by all pairs of that ion
    metals = [n for n in jobs if n.endswith(" metal")]
    assert sorted(metals) == ["relax Mg metal", "relax Zn metal"]
    graph = flow.graph
    name = {j.uuid: j.name for j in flow.iterflow() for j in [j[0]]}

    def parents(job_name):
        return {name[u] for u in graph.predecessors(jobs[job_name].uuid)}

    assert parents("site energy MgCr2S4") == {"relax MgCr2S4 tet", "relax MgCr2S4 oct"}
    assert parents("voltage MgCr2S4") == {
        "relax Cr2S4",
        "relax MgCr2S4 tet",
        "site energy MgCr2S4",
        "relax Mg metal",
    }
    assert parents("NEB screen MgCr2S4") == {"site energy MgCr2S4", "relax Cr2S4"}
    assert parents("result MgCr2S4") == {"site energy MgCr2S4", "voltage MgCr2S4", "NEB screen MgCr2S4"}
    # Mg metal feeds both Mg pairs and nothing else
    children = {name[u] for u in graph.successors(jobs["relax Mg metal"].uuid)}
    assert children == {"voltage MgCr2S4", "voltage MgTi2S4"}
    assert len([n for n in jobs if n.startswith("result ")]) == 4


def _site(delta):
    tet, octa = tetrahedral_spinel("Mg", "Cr"), octahedral_spinel("Mg", "Cr")
    return site_energy.original("Mg", tet, -100.0, octa, -100.0 + 2 * delta)


@pytest.mark.parametrize("delta", [1.2, -1.5])
def test_neb_skipped_beyond_threshold(delta):
    out = neb_if_promising.original(_site(delta), charged_spinel("Cr"), "Mg", 1.0, pair_maker_for_default().neb_maker)
    assert isinstance(out, NebSummary)
    assert out.barrier_ev is None
    assert "screen threshold 1.0 eV" in out.skipped_reason


@pytest.mark.parametrize("delta, kind", [(0.4, "tet-oct-tet"), (-0.3, "oct-tet-oct")])
def test_neb_added_when_promising(delta, kind):
    out = neb_if_promising.original(_site(delta), charged_spinel("Cr"), "Mg", 1.0, pair_maker_for_default().neb_maker)
    assert isinstance(out, Response) and isinstance(out.replace, Flow)
    names = [j.name for j in out.replace.jobs]
    assert names[-1] == "NEB summary" and "neb" in names and "NEB images" in names
    assert kind in out.replace.name
    # one endpoint relax: the end is the symmetry image of the relaxed start
    assert sum("NEB start" in n for n in names) == 1 and not any(n.endswith("NEB end") for n in names)
    assert "NEB end (symmetry image of the start)" in names


def test_neb_disabled_records_reason():
    out = neb_if_promising.original(_site(0.1), charged_spinel("Cr"), "Mg", 1.0, None)
    assert out.skipped_reason == "NEB disabled in the campaign"


def pair_maker_for_default():
    from mvflows.campaign import Campaign

    return pair_maker_for(Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"]))


class _FakeNeb:
    def __init__(self, energies, tags=("neb force converged",)):
        self.energies = energies
        self.images = None
        self.tags = list(tags)


def test_summary_barrier_is_max_minus_min():
    s = summarise_neb.original(_FakeNeb([-10.0, -9.6, -9.8, -9.5, -10.0]), -10.0, -10.0, "tet-oct-tet", 4.3, 0.02, "u")
    assert s.barrier_ev == pytest.approx(0.5)
    assert s.neb_energies_ev == pytest.approx([0.0, 0.4, 0.2, 0.5, 0.0])
    assert s.failure_reasons == []


def test_summary_flags_unequal_symmetric_endpoints():
    s = summarise_neb.original(_FakeNeb([-10.0, -9.5, -9.9]), -10.0, -9.9, "tet-oct-tet", 4.3, 0.02, "u")
    assert any("endpoints of a symmetric" in r for r in s.failure_reasons)


def test_summary_flags_unconverged_and_failed_neb():
    s = summarise_neb.original(_FakeNeb([-1.0, -0.5, -1.0], tags=["neb force not converged"]), -1, -1, "x", 1, 0.02, "u")
    assert s.converged is False and "not converged" in s.failure_reasons[0]
    s = summarise_neb.original(None, None, None, "x", 1.0, 0.02, "uuid-1")
    assert s.barrier_ev is None and "uuid-1" in s.failure_reasons[0]


def test_summary_checks_a_mapped_end_against_the_band():
    # end mapped from the start (end energy None): the band's own end energy is compared
    s = summarise_neb.original(_FakeNeb([-10.0, -9.6, -9.5, -9.6, -9.9]), -10.0, None, "tet-oct-tet", 4.3, 0.02, "u")
    assert s.endpoint_mismatch_ev == pytest.approx(0.1)
    assert any("endpoints of a symmetric" in r for r in s.failure_reasons)


def test_summary_flags_a_band_that_dips_below_its_endpoints():
    # measured for Ca in V2S4 with SevenNet-0: images 0.08 eV below the relaxed endpoints
    s = summarise_neb.original(_FakeNeb([-10.0, -10.08, -9.96, -10.08, -10.0]), -10.0, -10.0, "oct-tet-oct", 4.0, 0.02, "u")
    assert any("below its endpoints" in r for r in s.failure_reasons)
    assert s.barrier_ev == pytest.approx(0.12)
