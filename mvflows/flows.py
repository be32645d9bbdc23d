"""The screening graph: one Flow per host/intercalant pair, one Flow per campaign."""

from __future__ import annotations

from dataclasses import dataclass, field

from jobflow import Flow, Job, Maker

from mvflows.calculators import MvRelaxMaker
from mvflows.campaign import Campaign, spinel_redox_metal
from mvflows.content_keys import keyed
from mvflows.jobs.analysis import site_energy, voltage
from mvflows.jobs.neb import SpinelHopNebMaker, neb_if_promising
from mvflows.jobs.results import pair_result
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

    def make(self, host: str, intercalant: str, metal_relax: Job | None = None) -> Flow:
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
        neb = keyed(
            neb_if_promising(
                site.output, charged.output.structure, intercalant, self.max_abs_delta_e_site_ev, self.neb_maker
            )
        )
        neb.name = f"NEB screen {intercalant}{host}"
        formula = f"{intercalant}{host}"  # e.g. MgCr2S4: the study's way of writing it
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
            },
        ))
        result.name = f"result {intercalant}{host}"
        jobs += [charged, tet, octa, site, volt, neb, result]
        return Flow(jobs, output=result.output, name=f"{intercalant} in {host}")


@dataclass
class CampaignMaker(Maker):
    """The whole campaign as one Flow: shared metal references, then every pair."""

    name: str = "campaign"

    def make(self, campaign: Campaign) -> Flow:
        pair_maker = pair_maker_for(campaign)
        metals: dict[str, Job] = {}
        flows: list[Flow | Job] = []
        for pair in campaign.pair_list():
            if pair.intercalant not in metals:
                metal = keyed(pair_maker.relax_maker.make(metal_reference(pair.intercalant)))
                metal.append_name(f" {pair.intercalant} metal")
                metals[pair.intercalant] = metal
                flows.append(metal)
            flows.append(pair_maker.make(pair.host, pair.intercalant, metal_relax=metals[pair.intercalant]))
        return Flow(flows, name=f"{self.name} {campaign.name}")


def calculator_for(campaign: Campaign):  # noqa: ANN201 - any object of the Calculator protocol
    """The calculator named by ``campaign.calculator.kind`` (see mvflows.calculators.CALCULATORS)."""
    from mvflows.calculators import CALCULATORS

    return CALCULATORS[campaign.calculator.kind](campaign.calculator)


def pair_maker_for(campaign: Campaign) -> IntercalationPairMaker:
    """The pair maker a campaign's settings describe."""
    calc = calculator_for(campaign)
    n = campaign.neb
    neb_maker = None
    if n.enabled:
        neb_maker = SpinelHopNebMaker(
            endpoint_relax_maker=calc.relax_maker(relax_cell=False, fmax=n.endpoint_fmax, steps=n.endpoint_steps),
            neb_maker=calc.neb_maker(fmax=n.fmax, steps=n.steps, climb=n.climb, optimizer=n.optimizer),
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
    )
