"""The screening graph: one Flow per host/intercalant pair, one Flow per campaign."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Job, Maker

from mvflows.calculators import MvRelaxMaker
from mvflows.campaign import Campaign, spinel_redox_metal
from mvflows.content_keys import keyed
from mvflows.jobs.analysis import site_energy, voltage
from mvflows.jobs.neb import SpinelHopNebMaker, neb_if_promising
from mvflows.jobs.hops import HostHopsNebMaker, hops_neb_if_stable
from mvflows.jobs.insertion import InsertionPlan, dilute_site, insert_next_ion, insertion_voltage
from mvflows.jobs.results import pair_result
from mvflows.jobs.stability import discharged_of_spinel, spinel_neb_if_stable, stability
from mvflows.structures import charged_spinel, metal_reference, octahedral_spinel, tetrahedral_spinel


@dataclass
class IntercalationPairMaker(Maker):
    """relax (charged, tet, oct) -> site energy -> voltage, NEB if promising -> result.

    The metal reference relax is passed in so that one relax serves every pair of a
    campaign; without it the pair makes its own.
    """

    name: str = "intercalation pair"
    relax_maker: Maker = field(default_factory=MvRelaxMaker)
    neb_maker: SpinelHopNebMaker | None = field(default_factory=SpinelHopNebMaker)
    max_abs_delta_e_site_ev: float = 1.0
    campaign: str = "adhoc"
    calculator_label: str = "forcefield:SevenNet"
    max_e_hull_ev_atom: float | None = None  # E_hull screen before the NEB (needs phases)
    user_entries: list[dict] | None = None  # competing phases from a user entries file

    def make(
        self, host: str, intercalant: str, metal_relax: Job | None = None, phases: dict[str, Job] | None = None
    ) -> Flow:
        """``phases`` (name -> relax job of a competing phase) switches the stability job on."""
        redox = spinel_redox_metal(host)
        jobs: list[Job] = []
        if metal_relax is None:
            metal_relax = keyed(self.relax_maker.make(metal_reference(intercalant)))
            metal_relax.append_name(f" {intercalant} metal")
            jobs.append(metal_relax)
        charged = keyed(self.relax_maker.make(charged_spinel(redox)))
        charged.append_name(f" {host}")
        tet = keyed(self.relax_maker.make(tetrahedral_spinel(intercalant, redox)))
        tet.append_name(f" {intercalant}{host} tet")
        octa = keyed(self.relax_maker.make(octahedral_spinel(intercalant, redox)))
        octa.append_name(f" {intercalant}{host} oct")
        site = keyed(
            site_energy(
                intercalant,
                tet.output.structure,
                tet.output.output.energy,
                octa.output.structure,
                octa.output.output.energy,
            )
        )
        site.name = f"site energy {intercalant}{host}"
        volt = keyed(voltage(
            intercalant,
            charged.output.structure,
            charged.output.output.energy,
            tet.output.structure,
            site.output,
            metal_relax.output.structure,
            metal_relax.output.output.energy,
        ))
        volt.name = f"voltage {intercalant}{host}"
        stab = None
        if phases is not None:
            disch = keyed(discharged_of_spinel(
                site.output, tet.output.structure, tet.output.output.energy, octa.output.structure,
                octa.output.output.energy,
            ))
            disch.name = f"discharged {intercalant}{host}"
            stab = stability_job(
                charged, disch.output["structure"], disch.output["energy"], phases, metal_relax, self.user_entries
            )
            stab.name = f"stability {intercalant}{host}"
            jobs += [disch, stab]
        if stab is not None and self.max_e_hull_ev_atom is not None:
            neb = keyed(spinel_neb_if_stable(
                stab.output, self.max_e_hull_ev_atom, site.output, charged.output.structure, intercalant,
                self.max_abs_delta_e_site_ev, self.neb_maker,
            ))
        else:
            neb = keyed(
                neb_if_promising(
                    site.output, charged.output.structure, intercalant, self.max_abs_delta_e_site_ev, self.neb_maker
                )
            )
        neb.name = f"NEB screen {intercalant}{host}"
        formula = f"{intercalant}{host}"  # e.g. MgCr2S4: the study's way of writing it
        more = {} if stab is None else {"stability": stab.output}
        result = keyed(pair_result(
            self.campaign,
            host,
            intercalant,
            formula,
            self.calculator_label,
            site.output,
            volt.output,
            neb.output,
            {
                "relax_charged": charged.uuid,
                "relax_tet": tet.uuid,
                "relax_oct": octa.uuid,
                "relax_metal": metal_relax.uuid,
                "site_energy": site.uuid,
                "voltage": volt.uuid,
                "neb": neb.uuid,
                **({} if stab is None else {"stability": stab.uuid}),
            },
            **more,
        ))
        result.name = f"result {intercalant}{host}"
        jobs += [charged, tet, octa, site, volt, neb, result]
        return Flow(jobs, output=result.output, name=f"{intercalant} in {host}")


@dataclass
class HostPairMaker(Maker):
    """The same graph for a shipped host (VS4, V2O5, Mo6S8) whose sites symmetry does not give.

    relax host -> stepwise insertion (find sites, relax each, keep the lowest; the first
    step is the dilute site) -> voltage over the whole reaction and per step -> (E_hull) ->
    NEB gate -> NEB on each distinct hop -> pair result (the spinel flow's result job).
    """

    name: str = "host pair"
    relax_maker: Maker = field(default_factory=MvRelaxMaker)
    neb_maker: HostHopsNebMaker | None = field(default_factory=HostHopsNebMaker)
    max_candidates: int = 3
    min_distance_a: float = 1.8
    max_e_hull_ev_atom: float | None = None
    user_entries: list[dict] | None = None
    campaign: str = "adhoc"
    calculator_label: str = "forcefield:SevenNet"

    def make(
        self,
        host: str,
        intercalant: str,
        x_max: float = 1.0,
        metal_relax: Job | None = None,
        phases: dict[str, Job] | None = None,
    ) -> Flow:
        from mvflows.campaign import ions_in_cell
        from mvflows.structures.hosts import host_catalog, host_formula_units, host_structure, redox_metal_of

        jobs: list[Job] = []
        if metal_relax is None:
            metal_relax = keyed(self.relax_maker.make(metal_reference(intercalant)))
            metal_relax.append_name(f" {intercalant} metal")
            jobs.append(metal_relax)
        start = host_structure(host)
        units = host_formula_units(host, start)
        charged = keyed(self.relax_maker.make(start))
        charged.append_name(f" {host}")
        plan = InsertionPlan(host, intercalant, units, ions_in_cell(host, x_max), self.relax_maker,
                             self.max_candidates, self.min_distance_a)
        insert = keyed(insert_next_ion(charged.output.structure, plan, []))
        insert.name = f"insert {intercalant}1 in {host}"
        site = keyed(dilute_site(insert.output))
        site.name = f"site search {intercalant} in {host}"
        volt = keyed(insertion_voltage(
            intercalant, charged.output.structure, charged.output.output.energy, insert.output,
            metal_relax.output.structure, metal_relax.output.output.energy,
        ))
        volt.name = f"voltage {intercalant} in {host}"
        stab = None
        if phases is not None:
            last = insert.output.steps[-1]
            stab = stability_job(charged, last.structure, last.energy_ev, phases, metal_relax, self.user_entries)
            stab.name = f"stability {intercalant} in {host}"
        chain_metal = redox_metal_of(host) if host_catalog()[host].get("chain_axis") else None
        neb = keyed(hops_neb_if_stable(
            site.output, charged.output.structure, intercalant, self.neb_maker, chain_metal,
            stab.output if stab is not None else None, self.max_e_hull_ev_atom,
        ))
        neb.name = f"NEB screen {intercalant} in {host}"
        x_label = "" if abs(x_max - 1) < 1e-9 else f"{x_max:g}"
        uuids = {
            "relax_charged": charged.uuid, "insertion": insert.uuid, "relax_metal": metal_relax.uuid,
            "site_energy": site.uuid, "voltage": volt.uuid, "neb": neb.uuid,
            **({} if stab is None else {"stability": stab.uuid}),
        }
        result = keyed(pair_result(
            self.campaign, host, intercalant, f"{intercalant}{x_label}{host}", self.calculator_label,
            site.output, volt.output, neb.output, uuids,
            stability=stab.output if stab is not None else None,
            extra={"redox_metal": redox_metal_of(host)},
        ))
        result.name = f"result {intercalant} in {host}"
        jobs += [charged, insert, site, volt, *([stab] if stab is not None else []), neb, result]
        return Flow(jobs, output=result.output, name=f"{intercalant} in {host}")


@dataclass
class CampaignMaker(Maker):
    """The whole campaign as one Flow: shared metal references, then every pair."""

    name: str = "campaign"

    def make(self, campaign: Campaign) -> Flow:
        pair_maker = pair_maker_for(campaign)
        metals: dict[str, Job] = {}
        phase_jobs: dict[str, Job] = {}
        flows: list[Flow | Job] = []
        for pair in campaign.pair_list():
            if pair.intercalant not in metals:
                metal = keyed(pair_maker.relax_maker.make(metal_reference(pair.intercalant)))
                metal.append_name(f" {pair.intercalant} metal")
                metals[pair.intercalant] = metal
                flows.append(metal)
            phases = None
            if campaign.stability.enabled:
                phases = {}
                for name in _competing_names(campaign, pair):
                    if name not in phase_jobs:
                        phase_jobs[name] = _phase_relax(calculator_for(campaign), name)
                        flows.append(phase_jobs[name])
                    phases[name] = phase_jobs[name]
            if campaign.family == "host":
                flows.append(pair_maker.make(
                    pair.host, pair.intercalant, campaign.x_of(pair), metal_relax=metals[pair.intercalant], phases=phases
                ))
            else:
                kwargs = {} if phases is None else {"phases": phases}
                flows.append(pair_maker.make(pair.host, pair.intercalant, metal_relax=metals[pair.intercalant], **kwargs))
        return Flow(flows, name=f"{self.name} {campaign.name}")


def _competing_names(campaign: Campaign, pair) -> list[str]:  # noqa: ANN001 - a campaign Pair
    """Shipped competing phases of the pair's chemical system (none when prototypes are off).

    The intercalant's metal is left out: its own relax (the voltage reference) is used.
    """
    from pymatgen.core import Composition

    from mvflows.structures.prototypes import phases_in

    if not campaign.stability.prototypes:
        return []
    elements = {el.symbol for el in Composition(pair.host.split("-")[0]).elements} | {pair.intercalant}
    return [n for n in phases_in(elements) if n != pair.intercalant]


def _phase_relax(calc, name: str) -> Job:  # noqa: ANN001 - a Calculator
    """Relax one shipped competing phase with the campaign's calculator (molecules: box fixed)."""
    from mvflows.structures.prototypes import build, is_molecule

    maker = calc.relax_maker(relax_cell=not is_molecule(name))
    relax = keyed(maker.make(build(name)))
    relax.append_name(f" {name} (competing phase)")
    return relax


def stability_job(
    charged: Job, discharged_structure, discharged_energy, phases: dict[str, Job], metal: Job,  # noqa: ANN001
    user_entries: list[dict] | None,
) -> Job:
    """The E_hull job of one pair from relaxed competing phases, the intercalant metal and user entries."""
    names = [*phases, "metal"]
    jobs = [*phases.values(), metal]
    return keyed(stability(
        charged.output.structure, charged.output.output.energy, discharged_structure, discharged_energy,
        names, [j.output.structure for j in jobs], [j.output.output.energy for j in jobs], user_entries,
    ))


def calculator_for(campaign: Campaign):  # noqa: ANN201 - any object of the Calculator protocol
    """The calculator named by ``campaign.calculator.kind`` (see mvflows.calculators.CALCULATORS)."""
    from mvflows.calculators import CALCULATORS

    return CALCULATORS[campaign.calculator.kind](campaign.calculator)


def _user_entries(campaign: Campaign) -> list[dict] | None:
    if not campaign.stability.entries_file:
        return None
    from mvflows.stability import load_entries_file

    return load_entries_file(campaign.stability.entries_file)


def pair_maker_for(campaign: Campaign) -> IntercalationPairMaker | HostPairMaker:
    """The pair maker a campaign's settings describe."""
    calc = calculator_for(campaign)
    n = campaign.neb
    if campaign.family == "host":
        return host_pair_maker_for(campaign, calc)
    neb_maker = None
    if n.enabled:
        neb_maker = SpinelHopNebMaker(
            **_neb_makers(calc, n),
            supercell=tuple(n.supercell),
            images=n.images,
            idpp=n.idpp,
            symmetric_tolerance_ev=n.symmetric_tolerance_ev,
        )
    return IntercalationPairMaker(
        relax_maker=calc.relax_maker(),
        neb_maker=neb_maker,
        max_abs_delta_e_site_ev=campaign.screen.max_abs_delta_e_site_ev,
        campaign=campaign.name,
        calculator_label=calc.label,
        **_stability_kwargs(campaign),
    )


def _neb_makers(calc, n) -> dict:  # noqa: ANN001 - a Calculator and the campaign's NebSettings
    """Endpoint relax and NEB makers, the same for spinel and generic-host hops."""
    return {
        "endpoint_relax_maker": calc.relax_maker(relax_cell=False, fmax=n.endpoint_fmax, steps=n.endpoint_steps),
        "neb_maker": calc.neb_maker(fmax=n.fmax, steps=n.steps, climb=n.climb, optimizer=n.optimizer),
    }


def _stability_kwargs(campaign: Campaign) -> dict:
    """Stability settings of the spinel pair maker, only when used (keeps older content keys)."""
    kwargs: dict = {}
    if campaign.stability.enabled and campaign.screen.max_e_hull_ev_atom is not None:
        kwargs["max_e_hull_ev_atom"] = campaign.screen.max_e_hull_ev_atom
    if campaign.stability.enabled and campaign.stability.entries_file:
        kwargs["user_entries"] = _user_entries(campaign)
    return kwargs


def host_pair_maker_for(campaign: Campaign, calc) -> HostPairMaker:  # noqa: ANN001 - a Calculator
    """The generic-host pair maker of a ``family: host`` campaign."""
    n, h = campaign.neb, campaign.hops
    neb_maker = None
    if n.enabled:
        neb_maker = HostHopsNebMaker(
            **_neb_makers(calc, n),
            images=n.images,
            idpp=n.idpp,
            max_hops=h.max_hops,
            max_hop_length_a=h.max_length_a,
            min_hop_length_a=h.min_length_a,
            min_supercell_length_a=h.min_supercell_length_a,
            min_supercell_atoms=h.min_supercell_atoms,
            max_supercell_atoms=h.max_supercell_atoms,
            symmetric_tolerance_ev=n.symmetric_tolerance_ev,
        )
    return HostPairMaker(
        relax_maker=calc.relax_maker(),
        neb_maker=neb_maker,
        max_candidates=campaign.insertion.max_candidates,
        min_distance_a=campaign.insertion.min_distance_a,
        max_e_hull_ev_atom=campaign.screen.max_e_hull_ev_atom,
        user_entries=_user_entries(campaign),
        campaign=campaign.name,
        calculator_label=calc.label,
    )
