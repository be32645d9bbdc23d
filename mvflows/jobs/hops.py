"""NEB on every distinct hop of a host (up to a campaign limit), gated by the stability screen.

Reuses the spinel NEB pieces: endpoints relaxed in a fixed supercell by the calculator's
relax maker, starting images from :func:`mvflows.jobs.neb.neb_images` (straight hop through
its midpoint, IDPP-smoothed), the calculator's NEB maker, and
:func:`mvflows.jobs.neb.summarise_neb` for barrier, profile and sanity checks. The
supercells come from pymatgen-analysis-diffusion's ``MigrationHop.get_sc_structures``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jobflow import Flow, Job, JobConfig, Maker, OnMissing, Response, job
from pymatgen.core import Structure

from mvflows.calculators import MvNebMaker, MvRelaxMaker
from mvflows.content_keys import keyed
from mvflows.hops import distinct_hops, percolating_barrier
from mvflows.jobs.neb import neb_images, summarise_neb
from mvflows.schemas import HopBarrier, NebSummary, SiteSearchDocument, StabilityDocument


def _ion_last(structure: Structure, intercalant: str) -> Structure:
    """The mobile ion (pymatgen-analysis-diffusion puts it first) moved to the last site."""
    idx = next(i for i, s in enumerate(structure) if s.specie.symbol == intercalant)
    sites = [s for i, s in enumerate(structure) if i != idx] + [structure[idx]]
    return Structure.from_sites(sites)


@dataclass
class HostHopsNebMaker(Maker):
    """Dilute-limit NEB of one ion on each distinct hop between its sites in a host."""

    name: str = "host hops NEB"
    endpoint_relax_maker: Maker = field(default_factory=lambda: MvRelaxMaker(relax_cell=False))
    neb_maker: Maker = field(default_factory=MvNebMaker)
    images: int = 5
    idpp: bool = True
    max_hops: int = 2
    max_hop_length_a: float = 6.5
    min_hop_length_a: float = 1.5
    min_supercell_length_a: float = 8.0
    min_supercell_atoms: int = 20
    max_supercell_atoms: int = 120
    symmetric_tolerance_ev: float = 0.05

    def make(self, host: Structure, intercalant: str, site_frac: list[float], chain_metal: str | None = None) -> Flow:
        found = distinct_hops(host, intercalant, site_frac, self.max_hop_length_a, chain_metal, self.min_hop_length_a)
        # the shortest hop of every kind first (VS4: along the chains and between S2 groups), then the rest
        rank = {id(h): sum(g.kind == h.kind for g in found[:i]) for i, h in enumerate(found)}
        hops = sorted(found, key=lambda h: (rank[id(h)], h.length_a))[: self.max_hops]
        jobs, summaries = [], []
        notes: list[str | None] = []
        shared: dict[str, Job] = {}  # hops that share an endpoint (same site, same supercell) share its relax
        for h in hops:
            start, end, _base = h.hop.get_sc_structures(
                vac_mode=False,
                min_atoms=self.min_supercell_atoms,
                max_atoms=self.max_supercell_atoms,
                min_length=self.min_supercell_length_a,
            )
            start, end = _ion_last(start, intercalant), _ion_last(end, intercalant)
            relax_start = self._endpoint(start, f" NEB start {h.kind}", shared, jobs)
            relax_end = self._endpoint(end, f" NEB end {h.kind}", shared, jobs)
            # the hop's own vector, not the minimum image: in a small supercell these differ
            vec = h.hop.esite.coords - h.hop.isite.coords
            mid = start.cart_coords[-1] + vec / 2
            if np.linalg.norm(mid + _min_image(start, end.cart_coords[-1] - mid) - (start.cart_coords[-1] + vec)) > 0.2:
                notes.append(f"{h.kind} hop ({h.length_a:.2f} Å) is ambiguous in a supercell this small: "
                             "raise hops.min_supercell_length_a")
                summaries.append(None)
                continue
            notes.append(None)
            images = keyed(
                neb_images(relax_start.output.structure, relax_end.output.structure, [float(v) for v in mid],
                           self.images, self.idpp)
            )
            images.name = f"NEB images {h.kind}"
            neb = keyed(self.neb_maker.make(images.output))
            neb.append_name(f" {h.kind}")
            summary = keyed(summarise_neb(
                neb.output, relax_start.output.output.energy, relax_end.output.output.energy,
                f"{h.kind} (label {h.label})", h.length_a, self.symmetric_tolerance_ev, neb.uuid,
            ))
            summary.name = f"NEB summary {h.kind}"
            jobs += [images, neb, summary]
            summaries.append(summary.output)
        collect = keyed(collect_hops(
            summaries, [h.kind for h in hops], [h.label for h in hops], [h.length_a for h in hops],
            host, intercalant, site_frac, self.max_hop_length_a, notes,
        ))
        collect.name = f"hops summary {intercalant}"
        return Flow([*jobs, collect], output=collect.output, name=f"{self.name} {intercalant}")


    def _endpoint(self, structure: Structure, label: str, shared: dict[str, Job], jobs: list[Job]) -> Job:
        relax = keyed(self.endpoint_relax_maker.make(structure))
        if relax.uuid in shared:
            return shared[relax.uuid]
        relax.append_name(label)
        shared[relax.uuid] = relax
        jobs.append(relax)
        return relax


def _min_image(s: Structure, vec: np.ndarray) -> np.ndarray:
    frac = s.lattice.get_fractional_coords(vec)
    return s.lattice.get_cartesian_coords(frac - np.round(frac))


@job(output_schema=NebSummary, config=JobConfig(on_missing_references=OnMissing.NONE))
def collect_hops(
    summaries: list[NebSummary | None],
    kinds: list[str],
    labels: list[int],
    lengths: list[float],
    host: Structure,
    intercalant: str,
    site_frac: list[float],
    max_hop_length: float,
    notes: list[str | None] | None = None,
) -> NebSummary:
    """Every hop's barrier, and the lowest one at which the computed hops percolate."""
    if not kinds:
        return NebSummary(skipped_reason=f"no hop between {intercalant} sites shorter than {max_hop_length} Å")
    hops, failures = [], []
    for summary, kind, label, length, note in zip(summaries, kinds, labels, lengths, notes or [None] * len(kinds)):
        if summary is None:
            reason = note or "NEB did not complete"
            hops.append(HopBarrier(kind=kind, label=label, length_a=length, failure_reasons=[reason]))
            failures.append(reason if note else f"{kind} hop: {reason}")
            continue
        hops.append(HopBarrier(
            kind=kind, label=label, length_a=length, barrier_ev=summary.barrier_ev,
            neb_energies_ev=summary.neb_energies_ev, converged=summary.converged,
            failure_reasons=summary.failure_reasons,
        ))
        failures += [f"{kind} hop: {r}" for r in summary.failure_reasons]
    known = {h.label: h.barrier_ev for h in hops if h.barrier_ev is not None}
    perc = percolating_barrier(host, intercalant, site_frac, max_hop_length, known) if known else None
    best = None
    if perc is not None:
        best = min((h for h in hops if h.barrier_ev is not None and h.barrier_ev <= perc + 1e-9),
                   key=lambda h: -h.barrier_ev)
    else:
        failures.append("the computed hops do not form a percolating path (barrier is that of the lowest hop)")
        done = [h for h in hops if h.barrier_ev is not None]
        best = min(done, key=lambda h: h.barrier_ev) if done else None
    return NebSummary(
        barrier_ev=perc if perc is not None else (best.barrier_ev if best else None),
        neb_energies_ev=best.neb_energies_ev if best else None,
        hop=best.kind if best else None,
        hop_length_a=best.length_a if best else None,
        converged=all(h.converged for h in hops) if hops else None,
        failure_reasons=failures,
        hops=hops,
        percolating_barrier_ev=perc,
    )


@job  # no output_schema: the replacement's output is a reference until it runs
def hops_neb_if_stable(
    site: SiteSearchDocument,
    host: Structure,
    intercalant: str,
    neb_maker: HostHopsNebMaker | None,
    chain_metal: str | None = None,
    stability: StabilityDocument | None = None,
    max_e_hull_ev_atom: float | None = None,
) -> Response | NebSummary:
    """Add the hop NEBs to the graph unless NEB is off or the E_hull screen rejects the pair."""
    if neb_maker is None:
        return NebSummary(skipped_reason="NEB disabled in the campaign")
    if max_e_hull_ev_atom is not None and stability is not None:
        worst = max(stability.e_hull_charged_ev_atom, stability.e_hull_discharged_ev_atom)
        if worst > max_e_hull_ev_atom:
            return NebSummary(
                skipped_reason=f"E_hull = {worst:.3f} eV/atom > screen threshold {max_e_hull_ev_atom} eV/atom"
            )
    return Response(replace=neb_maker.make(host, intercalant, site.site_frac_coords, chain_metal))
