"""The screening graph: one pair graph for every host family, one Flow per campaign.

``PairMaker.make`` reads as the study's recipe::

    relax the metal (shared by the campaign) ─────────────────────────────────┐
    relax the charged host ─┬─ sites stage ─┬─ voltage ───────────────────────┤
                            │               ├─ stability stage (optional) ─┐  │
                            └───────────────┴─ NEB gate ─(screen)─ hops stage ─ pair result

The stages are sub-makers (fields), each built from a Calculator, so a stage can run on
another calculator without another copy of the graph (:func:`pair_maker_for`'s
``stage_calculators``): a VASP refinement of the hops, a cheaper model for the sites.

A model committee (``calculator.committee``, :class:`CommitteeMaker`) builds each pair's graph
once per member, each member's exactly as its single-model campaign would (its own metal
references and competing phases, shared by the pairs), then one committee result per pair.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from jobflow import Flow, Job, Maker

from mvflows.calculators import Calculator, MvRelaxMaker, calculator_for
from mvflows.campaign import Campaign
from mvflows.jobs.calibration import calibrate_job
from mvflows.jobs.gate import neb_gate
from mvflows.jobs.hop_neb import HopNebMaker
from mvflows.jobs.hops import MigrationGraphHopsMaker, SpinelHopsMaker
from mvflows.jobs.paths import PathNebMaker
from mvflows.jobs.refine import RefineMaker, warm_inputs
from mvflows.jobs.results import committee_result, pair_result, path_result
from mvflows.jobs.sites import FileSitesMaker, InsertionSitesMaker, SpinelSitesMaker
from mvflows.jobs.stability import StabilityMaker
from mvflows.jobs.voltage import voltage
from mvflows.keys import KeyedMaker
from mvflows.neb_band import DipGuard
from mvflows.structures import metal_reference
from mvflows.structures.catalog import Host, pair_label
from mvflows.structures.files import read_structure

STAGES = ("relax", "sites", "hops", "stability")


@dataclass
class PairMaker(KeyedMaker):
    """One host/intercalant pair: relax -> sites -> voltage, (stability), NEB gate -> hops -> result."""

    name: str = "pair"
    relax_maker: Maker = field(default_factory=MvRelaxMaker)  # charged host and metal reference
    sites: SpinelSitesMaker | InsertionSitesMaker | FileSitesMaker = field(default_factory=SpinelSitesMaker)
    hops: SpinelHopsMaker | MigrationGraphHopsMaker | None = field(default_factory=SpinelHopsMaker)
    stability: StabilityMaker | None = None
    max_abs_delta_e_site_ev: float | None = 1.0  # NEB only below this barrier lower bound
    max_e_hull_ev_atom: float | None = None  # NEB only below this E_hull (needs the stability stage)
    campaign: str = "adhoc"
    settings_digest: str = ""
    calculator_label: str = "forcefield:SevenNet"

    def metal_relax(self, intercalant: str, start: Any = None) -> Job:
        """The relaxed metal reference of the voltage; a campaign makes one per intercalant.

        ``start``: the structure to relax from (a refinement's: the force field's relaxed metal).
        """
        metal = self.relax_maker.make(metal_reference(intercalant) if start is None else start)
        metal.append_name(f" {intercalant} metal")
        return metal

    def make(
        self,
        host: Host,
        intercalant: str,
        x_max: float = 1.0,
        metal: Job | None = None,
        phases: dict[str, Job] | None = None,
        start: dict[str, Any] | None = None,
        warm_band: Any = None,
        calibration: Any = None,
    ) -> Flow:
        """``metal`` and ``phases`` (name -> competing-phase relax) are shared by a campaign's pairs.

        A warm start (a refinement, :mod:`mvflows.jobs.refine`): ``start`` maps a step
        (``relax_charged``, the sites stage's ``relax_tet``/``relax_oct``/``relax_discharged``)
        to the structure its relax starts from; ``warm_band`` is a converged band (images)
        the first migration limit's NEB starts from instead of an IDPP path. ``calibration``:
        the campaign's calibration job output; the result divides its barrier by its factor.
        """
        start = start or {}
        label = pair_label(host, intercalant)
        jobs: list[Job | Flow] = []
        if metal is None:
            metal = self.metal_relax(intercalant)
            jobs.append(metal)
        if self.stability is not None and phases is None:
            phases = self.stability.phase_relaxes(host, intercalant, {})
            jobs += list(phases.values())
        charged = self.relax_maker.make(start.get("relax_charged") or host.structure())
        charged.append_name(f" {host.name}")
        sites = self.sites.make(host, intercalant, charged, x_max, **({"start": start} if start else {}))
        volt = voltage(
            intercalant,
            host,
            charged.output.structure,
            charged.output.output.energy,
            sites.output,
            metal.output.structure,
            metal.output.output.energy,
        )
        volt.name = f"voltage {label}"
        stab = None
        if self.stability is not None:
            stab = self.stability.make(charged, sites.output, phases or {}, metal)
            stab.name = f"stability {label}"
        gate = neb_gate(
            sites.output,
            charged.output.structure,
            host,
            intercalant,
            self.hops,
            self.max_abs_delta_e_site_ev,
            self.max_e_hull_ev_atom if stab else None,
            stab.output if stab else None,
            **({"warm_band": warm_band} if warm_band is not None else {}),
        )
        gate.name = f"NEB screen {label}"
        uuids = {
            "relax_charged": charged.uuid,
            "relax_metal": metal.uuid,
            **{j.metadata["step"]: j.uuid for j in sites.jobs if "step" in (j.metadata or {})},
            "voltage": volt.uuid,
            "neb": gate.uuid,
            **({"stability": stab.uuid} if stab else {}),
        }
        result = pair_result(
            self.campaign,
            self.settings_digest,
            host,
            intercalant,
            x_max,
            self.calculator_label,
            sites.output,
            volt.output,
            gate.output,
            uuids,
            stab.output if stab else None,
            # only when given: a campaign without one keeps its result jobs' content keys
            **({"calibration": calibration} if calibration is not None else {}),
        )
        result.name = f"result {label}"
        jobs += [charged, sites, volt, *([stab] if stab else []), gate, result]
        return Flow(jobs, output=result.output, name=f"{intercalant} in {host.name}")


@dataclass
class CommitteeMaker(KeyedMaker):
    """One pair on every model of a committee, then one result with the members' spread.

    ``members`` are the members' own pair makers, the headline first: each is exactly the
    single-model campaign's (:func:`committee_maker_for`), so its jobs have the keys a
    single-model run of that model gives, and either run reuses the other's.
    """

    name: str = "committee"
    members: list[PairMaker] = field(default_factory=list)
    max_barrier_spread_ev: float = 0.15
    max_voltage_spread_v: float = 0.15
    campaign: str = "adhoc"
    settings_digest: str = ""

    def make(
        self,
        host: Host,
        intercalant: str,
        x_max: float = 1.0,
        metals: list[Job] | None = None,
        phases: list[dict[str, Job] | None] | None = None,
    ) -> Flow:
        """``metals`` and ``phases``: each member's, in the order of ``members`` (shared by the pairs)."""
        flows = []
        for k, member in enumerate(self.members):
            flow = member.make(
                host,
                intercalant,
                x_max,
                metal=metals[k] if metals else None,
                phases=phases[k] if phases else None,
            )
            flow.name = f"{flow.name} on {member.calculator_label}"
            flows.append(flow)
        result = committee_result(
            self.campaign,
            self.settings_digest,
            host,
            intercalant,
            x_max,
            [m.calculator_label for m in self.members],
            [f.output for f in flows],
            self.max_barrier_spread_ev,
            self.max_voltage_spread_v,
        )
        result.name = f"committee result {pair_label(host, intercalant)}"
        return Flow([*flows, result], output=result.output, name=f"{intercalant} in {host.name}")


@dataclass
class CampaignMaker(Maker):
    """The whole campaign as one Flow: shared metal references and competing phases, then every pair."""

    name: str = "campaign"
    pair_maker: PairMaker | None = None  # default: the one the campaign's settings describe

    def make(self, campaign: Campaign) -> Flow:
        makers: dict[str, PairMaker | CommitteeMaker] = {}
        metals: dict[tuple[int, str], Job] = {}  # (member, intercalant) -> its metal reference
        phase_caches: dict[int, dict[str, Job]] = {}  # member -> competing phase -> its relax
        flows: list[Flow | Job] = []
        # (result, host, kind, x, step uuids) of every pair
        screened: list[tuple[Any, Host, str, float, dict]] = []
        calibration = None
        if campaign.calibration is not None:
            calibration = calibrate_job(campaign.calibration, calculator_for(campaign.calculator))
            flows.append(calibration)
        for pair in campaign.pair_list():
            host = campaign.host_of(pair)
            kind = host_kind(host)
            if kind not in makers:
                makers[kind] = self.pair_maker or (
                    committee_maker_for(campaign, kind=kind)
                    if campaign.calculator.committee is not None
                    else pair_maker_for(campaign, kind=kind)
                )
            pairs = makers[kind]
            members = pairs.members if isinstance(pairs, CommitteeMaker) else [pairs]
            ion = pair.intercalant
            member_phases: list[dict[str, Job] | None] = []
            for k, member in enumerate(members):
                if (k, ion) not in metals:
                    metals[k, ion] = member.metal_relax(ion)
                    flows.append(metals[k, ion])
                phases = None
                if member.stability is not None:
                    cache = phase_caches.setdefault(k, {})
                    known = set(cache)
                    phases = member.stability.phase_relaxes(host, ion, cache)
                    flows += [job for name, job in cache.items() if name not in known]
                member_phases.append(phases)
            x = campaign.x_of(pair)
            if isinstance(pairs, CommitteeMaker):
                own_metals = [metals[k, ion] for k in range(len(members))]
                flows.append(pairs.make(host, ion, x, metals=own_metals, phases=member_phases))
            else:
                cal = {"calibration": calibration.output} if calibration is not None else {}
                flows.append(pairs.make(host, ion, x, metal=metals[0, ion], phases=member_phases[0], **cal))
            steps = pair_steps(flows[-1]) if campaign.refine is not None else {}
            screened.append((flows[-1].output, host, kind, x, steps))
        if campaign.refine is not None and screened:
            refine = refine_maker_for(campaign, sorted({row[2] for row in screened}))
            results, hosts, kinds, xs, steps = (list(column) for column in zip(*screened, strict=True))
            flows.append(refine.make(results, hosts, kinds, xs, [warm_inputs(s) for s in steps]))
            flows[-1].name = f"refine {campaign.name} on {refine.label}"
        if campaign.paths:
            paths = path_maker_for(campaign)
            flows += [
                paths.make(p.key, read_structure(p.initial), read_structure(p.final)) for p in campaign.paths
            ]
        return Flow(flows, name=f"{self.name} {campaign.name}")


def host_kind(host: Host) -> str:
    """Which stages a host needs: spinel sites and hop, a file's own sites, or a site search."""
    if host.family == "spinel":
        return "spinel"
    return "file-sites" if host.discharged is not None else "search"


def _hop_neb(campaign: Campaign, calc: Calculator, mirror_end: bool) -> HopNebMaker:
    n = campaign.neb
    guard = None
    if n.dip_restarts is not None:
        guard = DipGuard(n.symmetric_tolerance_ev, n.endpoint_fmax, n.endpoint_steps, n.dip_restarts)
    return HopNebMaker(
        endpoint_relax_maker=calc.relax_maker(relax_cell=False, fmax=n.endpoint_fmax, steps=n.endpoint_steps),
        neb_maker=calc.neb_maker(
            fmax=n.fmax, steps=n.steps, climb=n.climb, optimizer=n.optimizer, guard=guard
        ),
        images=n.images,
        idpp=n.idpp,
        symmetric_tolerance_ev=n.symmetric_tolerance_ev,
        mirror_end=mirror_end,
        intermediate_tolerance_ev=n.intermediate_tolerance_ev,
        maximum_window=n.maximum_window,
        relax_intermediate=n.relax_intermediate,
        intermediate_relax_maker=calc.relax_maker(
            relax_cell=False, fmax=n.intermediate_fmax, steps=n.endpoint_steps
        ),
    )


def refined_campaign(campaign: Campaign) -> Campaign:
    """The campaign as its ``refine`` runs it: every setting kept, the calculator its VASP."""
    refine = campaign.refine
    if refine is None:
        raise ValueError(f"campaign {campaign.name} has no refine settings")
    config = refine.vasp_config or campaign.calculator.vasp_config
    calculator = campaign.calculator.model_copy(
        update={"kind": refine.calculator, "vasp_config": config, "committee": None}
    )
    return campaign.model_copy(update={"calculator": calculator, "refine": None, "calibration": None})


def refine_maker_for(campaign: Campaign, kinds: list[str]) -> RefineMaker:
    """The refinement a campaign's ``refine`` describes, with its VASP pair maker for each host kind."""
    refined = refined_campaign(campaign)
    makers = {kind: pair_maker_for(refined, kind=kind) for kind in kinds}
    return RefineMaker(
        rule=campaign.refine.model_dump(mode="json"),
        pair_makers=makers,
        label=next(iter(makers.values())).calculator_label,
    )


def path_maker_for(campaign: Campaign, calculator: Calculator | None = None) -> PathNebMaker:
    """NEBs between given endpoints with the campaign's NEB settings (the mirror where symmetric)."""
    calc = _for_campaign(calculator or calculator_for(campaign.calculator), campaign)
    return PathNebMaker(
        neb=_hop_neb(campaign, calc, mirror_end=True),
        campaign=campaign.name,
        settings_digest=campaign.settings_digest(),
        calculator_label=calc.label,
    )


def member_campaign(campaign: Campaign, model: str, model_kwargs: dict[str, Any]) -> Campaign:
    """The campaign as a committee member runs it: every setting kept, one model, no committee.

    It is the single-model campaign of that model, settings digest included, so that a member's
    jobs and result are the ones a single-model run of the campaign makes.
    """
    calculator = campaign.calculator.model_copy(
        update={"model": model, "model_kwargs": dict(model_kwargs), "committee": None}
    )
    return campaign.model_copy(update={"calculator": calculator})


def committee_maker_for(campaign: Campaign, kind: str | None = None) -> CommitteeMaker:
    """The committee a campaign's ``calculator.committee`` describes: each member's own pair maker."""
    committee = campaign.calculator.committee
    if committee is None:
        raise ValueError(f"campaign {campaign.name} has no calculator.committee")
    return CommitteeMaker(
        members=[
            pair_maker_for(member_campaign(campaign, model, kwargs), kind=kind)
            for model, kwargs in campaign.calculator.committee_models()
        ],
        max_barrier_spread_ev=committee.max_barrier_spread_ev,
        max_voltage_spread_v=committee.max_voltage_spread_v,
        campaign=campaign.name,
        settings_digest=campaign.settings_digest(),
    )


def pair_maker_for(
    campaign: Campaign,
    calculator: Calculator | None = None,
    stage_calculators: dict[str, Calculator] | None = None,
    kind: str | None = None,
) -> PairMaker:
    """The pair maker a campaign's settings describe, every stage on ``calculator`` unless
    ``stage_calculators`` names another for a stage (one of :data:`STAGES`).

    ``kind`` (:func:`host_kind`) picks the sites and hops stages; by default the campaign
    family's (spinel, or the site search of a shipped host).
    """
    base = calculator or calculator_for(campaign.calculator)
    unknown = set(stage_calculators or {}) - set(STAGES)
    if unknown:
        raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}; stages are {', '.join(STAGES)}")
    calc = {stage: _for_campaign((stage_calculators or {}).get(stage, base), campaign) for stage in STAGES}
    n, h, ins = campaign.neb, campaign.hops, campaign.insertion
    kind = kind or ("spinel" if campaign.family == "spinel" else "search")
    spinel = kind == "spinel"
    limits = tuple(n.limits)
    hops = None
    if n.enabled:
        # spinel hops are symmetric by construction; host hops relax both ends
        neb = _hop_neb(campaign, calc["hops"], mirror_end=spinel)
        hops = (
            SpinelHopsMaker(neb=neb, supercell=tuple(n.supercell), limits=limits)
            if spinel
            else MigrationGraphHopsMaker(
                neb=neb,
                max_hops=h.max_hops,
                max_hop_length_a=h.max_length_a,
                min_hop_length_a=h.min_length_a,
                min_supercell_length_a=h.min_supercell_length_a,
                min_supercell_atoms=h.min_supercell_atoms,
                max_supercell_atoms=h.max_supercell_atoms,
                limits=limits,
            )
        )
    sites_relax = calc["sites"].relax_maker()
    if kind == "spinel":
        sites = SpinelSitesMaker(relax_maker=sites_relax)
    elif kind == "file-sites":
        sites = FileSitesMaker(relax_maker=sites_relax)
    else:
        sites = InsertionSitesMaker(
            relax_maker=sites_relax, max_candidates=ins.max_candidates, min_distance_a=ins.min_distance_a
        )
    stability = None
    if campaign.stability.enabled:
        stability = StabilityMaker(
            relax_maker=calc["stability"].relax_maker(),
            molecule_relax_maker=calc["stability"].relax_maker(relax_cell=False),
            prototypes=campaign.stability.prototypes,
            user_entries=_user_entries(campaign),
        )
    return PairMaker(
        relax_maker=calc["relax"].relax_maker(),
        sites=sites,
        hops=hops,
        stability=stability,
        max_abs_delta_e_site_ev=campaign.screen.max_abs_delta_e_site_ev,
        max_e_hull_ev_atom=campaign.screen.max_e_hull_ev_atom,
        campaign=campaign.name,
        settings_digest=campaign.settings_digest(),
        calculator_label=base.label,
    )


def _for_campaign(calculator: Calculator, campaign: Campaign) -> Calculator:
    """The calculator for this campaign's jobs (fake VASP: with what the campaign demands of them)."""
    adapt = getattr(calculator, "for_campaign", None)
    return adapt(campaign) if adapt is not None else calculator


def _user_entries(campaign: Campaign) -> list[dict] | None:
    if not campaign.stability.entries_file:
        return None
    from mvflows.stability import load_entries_file

    return load_entries_file(campaign.stability.entries_file)


def pair_steps(pair_flow: Flow) -> dict[str, str | None]:
    """The uuids of a pair graph's steps, as its result job records them (``job_uuids``); a
    committee's: its headline member's (the first member's graph)."""
    raw = getattr(pair_result, "original", pair_result)
    for job, _ in pair_flow.iterflow():
        if getattr(job.function, "original", job.function) is raw:
            bound = inspect.signature(raw).bind(*job.function_args, **job.function_kwargs)
            return dict(bound.arguments["job_uuids"])
    raise ValueError(f"{pair_flow.name}: no pair result job")


def refine_job_uuids(flow: Flow) -> list[str]:
    """uuids of a campaign Flow's refine jobs (whose ``stored_data`` says what they picked)."""
    return [
        job.uuid
        for job, _ in flow.iterflow()
        if isinstance(getattr(job.function, "__self__", None), RefineMaker)
    ]


def result_job_uuids(flow: Flow) -> set[str]:
    """uuids of the result jobs of a campaign Flow, pairs and paths (the ids of the results it writes;
    a committee campaign's: its committee results and its members' own)."""
    raw = {getattr(f, "original", f) for f in (pair_result, path_result, committee_result)}
    return {job.uuid for job, _ in flow.iterflow() if getattr(job.function, "original", job.function) in raw}
