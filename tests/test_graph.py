"""The pair graph: dependencies, shared references, the NEB gate, summaries, and content keys."""

import dataclasses

import pytest
from emmet.core.neb import NebResult
from jobflow import Flow, Job, Response

import mvflows.models
from mvflows.calculators import ForceFieldCalculator
from mvflows.campaign import Campaign, load_campaign
from mvflows.flows import CampaignMaker, pair_maker_for, result_job_uuids
from mvflows.jobs.gate import neb_gate
from mvflows.jobs.hop_neb import summarise_neb
from mvflows.jobs.sites import site_energy
from mvflows.keys import KeyedMaker, content_key, is_keyed, job
from mvflows.schemas import NebSummary
from mvflows.structures import charged_spinel, octahedral_spinel, tetrahedral_spinel
from mvflows.structures.catalog import host_for


def _jobs(flow):
    return {j.name: j for j, _ in flow.iterflow()}


def _uuids(flow):
    return {j.name: j.uuid for j, _ in flow.iterflow()}


def test_campaign_graph_dependencies(campaign_file):
    camp = load_campaign(campaign_file("name: g\nhosts: [Cr2S4, Ti2S4]\nintercalants: [Mg, Zn]\n"))
    flow = CampaignMaker().make(camp)
    jobs = _jobs(flow)
    # one metal relax per intercalant, shared by all pairs of that ion
    assert sorted(n for n in jobs if n.endswith(" metal")) == ["relax Mg metal", "relax Zn metal"]
    name = {j.uuid: j.name for j, _ in flow.iterflow()}

    def parents(job_name):
        return {name[u] for u in flow.graph.predecessors(jobs[job_name].uuid)}

    assert parents("site energy MgCr2S4") == {"relax MgCr2S4 tet", "relax MgCr2S4 oct"}
    assert parents("voltage MgCr2S4") == {"relax Cr2S4", "site energy MgCr2S4", "relax Mg metal"}
    assert parents("NEB screen MgCr2S4") == {"site energy MgCr2S4", "relax Cr2S4"}
    assert parents("result MgCr2S4") == {"site energy MgCr2S4", "voltage MgCr2S4", "NEB screen MgCr2S4"}
    children = {name[u] for u in flow.graph.successors(jobs["relax Mg metal"].uuid)}
    assert children == {"voltage MgCr2S4", "voltage MgTi2S4"}
    assert len(result_job_uuids(flow)) == 4


def test_the_same_campaign_builds_the_same_keys(campaign_file):
    path = campaign_file("name: g\nhosts: [Cr2S4]\nintercalants: [Mg]\nstability: {enabled: true}\n")
    first, second = (_uuids(CampaignMaker().make(load_campaign(path))) for _ in range(2))
    assert first == second and len(set(first.values())) == len(first)
    assert all(is_keyed(j) for j, _ in CampaignMaker().make(load_campaign(path)).iterflow())


def test_settings_and_campaign_name_give_a_new_result_id(campaign_file):
    base = "hosts: [Cr2S4]\nintercalants: [Mg]\n"
    a = CampaignMaker().make(load_campaign(campaign_file("name: a\n" + base, "a.yaml")))
    b = CampaignMaker().make(load_campaign(campaign_file("name: b\n" + base, "b.yaml")))
    c = CampaignMaker().make(
        load_campaign(campaign_file("name: a\n" + base + "neb: {images: 5}\n", "c.yaml"))
    )
    ua, ub, uc = _uuids(a), _uuids(b), _uuids(c)
    # the computation is shared, the results are not: another campaign, another result document
    assert ua["relax MgCr2S4 tet"] == ub["relax MgCr2S4 tet"] == uc["relax MgCr2S4 tet"]
    assert len({ua["result MgCr2S4"], ub["result MgCr2S4"], uc["result MgCr2S4"]}) == 3
    assert ua["NEB screen MgCr2S4"] == ub["NEB screen MgCr2S4"] != uc["NEB screen MgCr2S4"]


def test_stability_stage_adds_jobs_and_keeps_the_other_keys(campaign_file):
    """Switching stability on reuses every stored relax, site and voltage job of the pair."""
    text = "name: s\npairs: [{host: Cr2S4, intercalant: Mg}]\n"
    off = _uuids(CampaignMaker().make(load_campaign(campaign_file(text, "off.yaml"))))
    on = _uuids(
        CampaignMaker().make(load_campaign(campaign_file(text + "stability: {enabled: true}\n", "on.yaml")))
    )
    assert not any("stability" in n or "competing" in n for n in off)
    assert {"stability MgCr2S4", "relax MgS (competing phase)"} <= set(on)
    shared = (
        "relax Mg metal",
        "relax Cr2S4",
        "relax MgCr2S4 tet",
        "relax MgCr2S4 oct",
        "site energy MgCr2S4",
        "voltage MgCr2S4",
    )
    assert {n: off[n] for n in shared} == {n: on[n] for n in shared}
    assert off["NEB screen MgCr2S4"] != on["NEB screen MgCr2S4"]  # the gate now reads the E_hull


def test_unused_maker_fields_stay_out_of_the_key_and_used_ones_enter():
    calc = ForceFieldCalculator()
    structure = charged_spinel("Cr")
    relax = calc.relax_maker()
    key = content_key(relax.make(structure))
    assert content_key(dataclasses.replace(relax, name="another name").make(structure)) == key
    assert content_key(dataclasses.replace(relax, steps=relax.steps + 1).make(structure)) != key
    neb = calc.neb_maker(fmax=0.05, steps=400, climb=True)
    images = [structure, structure.copy()]
    key = content_key(neb.make(images))
    assert content_key(dataclasses.replace(neb, workers=7, traj_interval=3).make(images)) == key
    assert content_key(dataclasses.replace(neb, preclimb_fmax=0.2).make(images)) != key


def test_model_version_and_checkpoint_enter_every_force_field_key(monkeypatch):
    structure = charged_spinel("Cr")
    key = content_key(ForceFieldCalculator().relax_maker().make(structure))
    other_checkpoint = ForceFieldCalculator(model_kwargs={"model": "7net-l3i5"}).relax_maker()
    assert content_key(other_checkpoint.make(structure)) != key
    monkeypatch.setattr(mvflows.models, "_version", lambda dist: "99.0" if dist == "sevenn" else "1.0")
    assert content_key(ForceFieldCalculator().relax_maker().make(structure)) != key
    maker = ForceFieldCalculator().relax_maker()  # atomate2 spells its field "MLFF.SevenNet"
    identity = maker.key_extra()["model"]
    assert identity == {"model": "SevenNet", "package": "sevenn", "version": "99.0", "checkpoint": "7net-0"}


@job
def _plain(x: int) -> int:
    return x


def test_a_maker_that_builds_an_unkeyed_job_fails_at_build_time():
    from jobflow import job as unkeyed_job

    @unkeyed_job
    def stray(x: int) -> int:
        return x

    @dataclasses.dataclass
    class Sloppy(KeyedMaker):
        name: str = "sloppy"

        def make(self, x: int) -> Flow:
            return Flow([_plain(x), stray(x)])

    with pytest.raises(TypeError, match=r"without content keys.*stray"):
        Sloppy().make(1)
    assert is_keyed(_plain(1)) and _plain(1).uuid == _plain(1).uuid != _plain(2).uuid


def test_a_stage_runs_on_another_calculator_in_the_same_graph():
    camp = Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"])
    other = ForceFieldCalculator(model="CHGNet")
    maker = pair_maker_for(camp, stage_calculators={"hops": other})
    assert maker.sites.relax_maker.key_extra()["model"]["model"] == "SevenNet"
    assert maker.hops.neb.neb_maker.key_extra()["model"]["model"] == "CHGNet"
    assert maker.hops.neb.endpoint_relax_maker.key_extra()["model"]["package"] == "chgnet"
    flow = CampaignMaker(pair_maker=maker).make(camp)
    plain = CampaignMaker().make(camp)
    same = {"relax Mg metal", "relax Cr2S4", "relax MgCr2S4 tet", "site energy MgCr2S4", "voltage MgCr2S4"}
    assert {n: u for n, u in _uuids(flow).items() if n in same} == {
        n: u for n, u in _uuids(plain).items() if n in same
    }
    assert _uuids(flow)["NEB screen MgCr2S4"] != _uuids(plain)["NEB screen MgCr2S4"]
    with pytest.raises(ValueError, match="unknown stage"):
        pair_maker_for(camp, stage_calculators={"neb": other})


def _site(delta):
    tet, octa = tetrahedral_spinel("Mg", "Cr"), octahedral_spinel("Mg", "Cr")
    return site_energy.original("Mg", host_for("Cr2S4", "spinel"), tet, -100.0, octa, -100.0 + 2 * delta)


def _gate(delta, hops="default", **kwargs):
    maker = pair_maker_for(Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"]))
    hops = maker.hops if hops == "default" else hops
    return neb_gate.original(
        _site(delta), charged_spinel("Cr"), host_for("Cr2S4", "spinel"), "Mg", hops, 1.0, **kwargs
    )


@pytest.mark.parametrize("delta", [1.2, -1.5])
def test_neb_skipped_beyond_threshold(delta):
    out = _gate(delta)
    assert isinstance(out, NebSummary) and out.barrier_ev is None
    assert "screen threshold 1.0 eV" in out.skipped_reason


@pytest.mark.parametrize("delta, kind", [(0.4, "tet-oct-tet"), (-0.3, "oct-tet-oct")])
def test_neb_added_when_promising(delta, kind):
    out = _gate(delta)
    assert isinstance(out, Response) and isinstance(out.replace, Flow)
    names = [j.name for j, _ in out.replace.iterflow()]
    assert names[-1] == "NEB summary" and "neb" in names and "NEB images" in names
    assert kind in out.replace.name
    # one endpoint relax: the end is the symmetry image of the relaxed start
    assert sum("NEB start" in n for n in names) == 1 and not any(n.endswith("NEB end") for n in names)
    assert "NEB end (symmetry image of the start)" in names
    assert all(is_keyed(j) for j, _ in out.replace.iterflow())


def test_e_hull_screen_comes_first():
    from mvflows.schemas import StabilityDocument

    stab = StabilityDocument(
        chemsys="Cr-Mg-S",
        e_hull_charged_ev_atom=0.3,
        e_hull_discharged_ev_atom=0.0,
        decomposition_charged="",
        decomposition_discharged="",
        competing_phases=[],
    )
    out = _gate(0.4, max_e_hull_ev_atom=0.1, stability=stab)
    assert out.skipped_reason == "E_hull = 0.300 eV/atom > screen threshold 0.1 eV/atom"
    assert isinstance(_gate(0.4, max_e_hull_ev_atom=0.5, stability=stab), Response)


def test_neb_disabled_records_reason():
    assert _gate(0.1, hops=None).skipped_reason == "NEB disabled in the campaign"


def _neb(energies, tags=("neb force converged",)):
    return NebResult(energies=list(energies), tags=list(tags))


def test_summary_barrier_is_max_minus_min():
    s = summarise_neb.original(
        _neb([-10.0, -9.6, -9.8, -9.5, -10.0]), -10.0, -10.0, "tet-oct-tet", 4.3, 0.02, "u"
    )
    assert s.barrier_ev == pytest.approx(0.5)
    assert s.neb_energies_ev == pytest.approx([0.0, 0.4, 0.2, 0.5, 0.0])
    assert s.failure_reasons == []
    assert s.forward_barrier_ev == pytest.approx(s.reverse_barrier_ev) and s.forward_barrier_ev >= 0.5


def test_summary_flags_unequal_symmetric_endpoints():
    s = summarise_neb.original(_neb([-10.0, -9.5, -9.9]), -10.0, -9.9, "tet-oct-tet", 4.3, 0.02, "u")
    assert any("endpoints of a symmetric" in r for r in s.failure_reasons)


def test_summary_flags_unconverged_and_failed_neb():
    s = summarise_neb.original(
        _neb([-1.0, -0.5, -1.0], tags=["neb force not converged"]), -1, -1, "x", 1, 0.02, "u"
    )
    assert s.converged is False and "not converged" in s.failure_reasons[0]
    s = summarise_neb.original(None, None, None, "x", 1.0, 0.02, "uuid-1")
    assert s.barrier_ev is None and "uuid-1" in s.failure_reasons[0]


def test_summary_checks_a_mapped_end_against_the_band():
    # end mapped from the start (end energy None): the band's own end energy is compared
    s = summarise_neb.original(
        _neb([-10.0, -9.6, -9.5, -9.6, -9.9]), -10.0, None, "tet-oct-tet", 4.3, 0.02, "u"
    )
    assert s.endpoint_mismatch_ev == pytest.approx(0.1)
    assert any("endpoints of a symmetric" in r for r in s.failure_reasons)


def test_summary_flags_a_band_that_dips_below_its_endpoints():
    # measured for Ca in V2S4 with SevenNet-0: images 0.08 eV below the relaxed endpoints
    s = summarise_neb.original(
        _neb([-10.0, -10.08, -9.96, -10.08, -10.0]), -10.0, -10.0, "oct-tet-oct", 4.0, 0.02, "u"
    )
    assert any("below its endpoints" in r for r in s.failure_reasons)
    assert s.barrier_ev == pytest.approx(0.12)


def test_summary_path_distances_from_the_images():
    s0 = charged_spinel("Cr")
    s1 = s0.copy()
    s1.translate_sites([0], [0.5, 0, 0], frac_coords=False)
    s2 = s1.copy()
    s2.translate_sites([0], [0.5, 0, 0], frac_coords=False)
    s = summarise_neb.original(
        NebResult(energies=[0.0, 0.2, 0.0], images=[s0, s1, s2], tags=["neb force converged"]),
        0.0,
        0.0,
        "x",
        1.0,
        0.02,
        "u",
    )
    assert s.path_distance_a == pytest.approx([0.0, 0.5, 1.0]) and s.reaction_coordinate == pytest.approx(
        [0, 0.5, 1]
    )


def test_both_families_hand_vasp_endpoint_energies_to_the_neb(campaign_file):
    """The VASP NEB does not recompute its endpoints: spinel and host hops both pass them."""
    from mvflows.jobs.hops import MigrationGraphHopsMaker
    from mvflows.neb_path import spinel_hop

    for text in (
        "name: v\npairs: [{host: Cr2S4, intercalant: Mg}]\ncalculator: {kind: fake-vasp}\n",
        "name: v\nfamily: host\npairs: [{host: Mo6S8, intercalant: Mg}]\ncalculator: {kind: fake-vasp}\n",
    ):
        maker = pair_maker_for(load_campaign(campaign_file(text)))
        hops = maker.hops
        if isinstance(hops, MigrationGraphHopsMaker):
            from mvflows.schemas import SitesDocument
            from mvflows.structures.hosts import host_structure

            sites = SitesDocument(stable_site="void", site_frac_coords=[0.0, 0.0, 0.0], discharge=[])
            flow = hops.make(host_structure("Mo6S8"), host_for("Mo6S8", "host"), "Mg", sites)
        else:
            flow = hops.neb.make(spinel_hop(charged_spinel("Cr"), "Mg", "tet"))
        nebs = [
            j
            for j, _ in flow.iterflow()
            if j.name.startswith("NEB") and "endpoint_energies" in j.function_kwargs
        ]
        assert nebs, [j.name for j, _ in flow.iterflow()]
        assert all(isinstance(j, Job) for j in nebs)


def test_the_stock_benchmark_runs_the_same_graph_on_atomate2s_own_makers():
    """B-campaign-stock: every energy from atomate2's unchanged makers (FIRE relaxes, its
    NEB with the climbing image), both NEB ends relaxed, linear images."""
    from atomate2.forcefields.jobs import ForceFieldRelaxMaker
    from atomate2.forcefields.neb import ForceFieldNebFromImagesMaker

    from benchmarks.campaign_stock import stock_flow
    from mvflows.calculators import MvNebMaker, MvRelaxMaker
    from mvflows.campaign import Campaign

    campaign = Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"], stability={"enabled": False})
    jobs = [j for j, _ in stock_flow(campaign, "7net-0").iterflow()]
    makers = [getattr(j.function, "__self__", None) for j in jobs]
    relaxes = [m for m in makers if isinstance(m, ForceFieldRelaxMaker)]
    assert relaxes and not any(isinstance(m, MvRelaxMaker) for m in makers)
    assert all(m.optimizer_kwargs == {} for m in relaxes)  # atomate2's default optimiser (FIRE)
    # the NEB is built at run time by the screen's gate, from the hops maker it holds
    import inspect

    from mvflows.jobs.gate import neb_gate

    (gate,) = [j for j in jobs if getattr(j.function, "original", j.function) is neb_gate.original]
    bound = inspect.signature(neb_gate.original).bind(*gate.function_args, **gate.function_kwargs)
    hop_neb = bound.arguments["hops_maker"].neb
    assert not hop_neb.mirror_end and not hop_neb.idpp
    assert isinstance(hop_neb.neb_maker, ForceFieldNebFromImagesMaker)
    assert not isinstance(hop_neb.neb_maker, MvNebMaker) and hop_neb.neb_maker.neb_kwargs["climb"] is True
    assert isinstance(hop_neb.endpoint_relax_maker, ForceFieldRelaxMaker)
    assert not isinstance(hop_neb.endpoint_relax_maker, MvRelaxMaker)
