"""The dilute-limit NEB of one ion: gate on the site-energy screen, images, summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from emmet.core.neb import NebResult
from jobflow import Flow, JobConfig, Maker, OnMissing, Response, job
from pymatgen.core import Structure

from mvflows.atomate2_fixes import NEB_CONVERGED_TAG
from mvflows.calculators import MvNebMaker, MvRelaxMaker
from mvflows.content_keys import keyed
from mvflows.neb_path import Hop, hop_images, hop_mirror, mirrored_endpoint, spinel_hop
from mvflows.schemas import NebSummary, SiteEnergyDocument

_TOLERATE_FAILED_PARENTS = JobConfig(on_missing_references=OnMissing.NONE)


@job
def neb_images(start: Structure, end: Structure, via: list[float], n_images: int, idpp: bool) -> list[Structure]:
    """Starting path between the relaxed endpoints (see :func:`mvflows.neb_path.hop_images`)."""
    return hop_images(start, end, via, n_images, idpp=idpp)


@job
def mirror_endpoint(relaxed_start: Structure, start: Structure, end: Structure, via: list[float]) -> Structure:
    """The relaxed end of a symmetric hop, mapped from the relaxed start (no second relax)."""
    end = mirrored_endpoint(relaxed_start, Hop(start, end, via, "", 0.0))
    if end is None:  # make() checked the unrelaxed hop; a relaxed start keeps its symmetry
        raise ValueError("the relaxed start has no symmetry image at the hop's end")
    return end


@job(output_schema=NebSummary, config=_TOLERATE_FAILED_PARENTS)
def summarise_neb(
    neb: NebResult | None,
    start_energy: float | None,
    end_energy: float | None,
    hop_kind: str,
    hop_length: float,
    symmetric_tolerance_ev: float,
    neb_job_uuid: str,
) -> NebSummary:
    """Barrier (max - min along the path), profile and sanity checks of one NEB."""
    if neb is None or not neb.energies:
        return NebSummary(
            hop=hop_kind,
            hop_length_a=hop_length,
            failure_reasons=[f"NEB job {neb_job_uuid} failed or produced no energies"],
            neb_job_uuid=neb_job_uuid,
        )
    energies = np.asarray(neb.energies, dtype=float)
    failures = []
    converged = NEB_CONVERGED_TAG in (neb.tags or [])
    if not converged:
        failures.append("NEB forces not converged within the step limit")
    mismatch = None
    if start_energy is not None and end_energy is None:  # end mapped from the start: check the band's own
        end_energy = start_energy + float(energies[-1] - energies[0])
    if start_energy is not None and end_energy is not None:
        mismatch = abs(start_energy - end_energy)
        if mismatch > symmetric_tolerance_ev:
            failures.append(
                f"endpoints of a symmetric {hop_kind} hop differ by {mismatch:.3f} eV "
                f"(> {symmetric_tolerance_ev} eV): the endpoints are not equivalent sites"
            )
    dip = float(min(energies[0], energies[-1]) - energies.min())
    if dip > symmetric_tolerance_ev:
        failures.append(
            f"the band passes {dip:.3f} eV below its endpoints: the relaxed endpoints are not the "
            "minima of the hop, so the barrier (max - min) is not that of the intended sites"
        )
    coords = _path_coordinate(neb.images) if neb.images else None
    return NebSummary(
        barrier_ev=float(energies.max() - energies.min()),
        neb_energies_ev=[float(e) for e in energies - energies[0]],
        reaction_coordinate=coords,
        endpoint_mismatch_ev=mismatch,
        hop=hop_kind,
        hop_length_a=hop_length,
        converged=converged,
        failure_reasons=failures,
        neb_job_uuid=neb_job_uuid,
    )


def _path_coordinate(images: list[Structure]) -> list[float]:
    """Cumulative displacement along the path, scaled to [0, 1]."""
    steps = [0.0]
    for a, b in zip(images[:-1], images[1:]):
        d = b.lattice.get_fractional_coords(b.cart_coords - a.cart_coords)
        d -= np.round(d)
        steps.append(steps[-1] + float(np.linalg.norm(b.lattice.get_cartesian_coords(d))))
    total = steps[-1] or 1.0
    return [s / total for s in steps]


@dataclass
class SpinelHopNebMaker(Maker):
    """NEB of one ion hopping between neighbouring stable voids of a relaxed spinel host.

    Endpoints are relaxed with the supercell lattice fixed, the path is started through
    the other void type and smoothed by IDPP, then a climbing-image NEB runs. With
    ``mirror_end`` only the start is relaxed and the end is its symmetry image (the two
    are equivalent sites; Mg in Cr2S4: the mapped end's energy is within ... of a relaxed one).
    """

    name: str = "spinel hop NEB"
    endpoint_relax_maker: Maker = field(default_factory=lambda: MvRelaxMaker(relax_cell=False))
    neb_maker: Maker = field(default_factory=MvNebMaker)
    supercell: tuple[int, int, int] = (2, 2, 2)
    images: int = 7
    idpp: bool = True
    symmetric_tolerance_ev: float = 0.02
    mirror_end: bool = True

    def make(self, host: Structure, intercalant: str, stable_site: str) -> Flow:
        hop = spinel_hop(host, intercalant, stable_site, tuple(self.supercell))
        relax_start = keyed(self.endpoint_relax_maker.make(hop.start))
        relax_start.append_name(" NEB start")
        start_energy = relax_start.output.output.energy
        if self.mirror_end and hop_mirror(hop) is not None:
            relax_end = keyed(mirror_endpoint(relax_start.output.structure, hop.start, hop.end, hop.via))
            relax_end.name = "NEB end (symmetry image of the start)"
            end_structure, end_energy = relax_end.output, None
        else:
            relax_end = keyed(self.endpoint_relax_maker.make(hop.end))
            relax_end.append_name(" NEB end")
            end_structure, end_energy = relax_end.output.structure, relax_end.output.output.energy
        images = keyed(neb_images(relax_start.output.structure, end_structure, hop.via, self.images, self.idpp))
        images.name = "NEB images"
        # VASP NEB makers do not recompute the endpoints: they take the relaxed energies
        endpoints = (
            {"endpoint_energies": [start_energy, start_energy if end_energy is None else end_energy]}
            if getattr(self.neb_maker, "wants_endpoint_energies", False)
            else {}
        )
        neb = keyed(self.neb_maker.make(images.output, **endpoints))
        summary = keyed(summarise_neb(
            neb.output,
            start_energy,
            end_energy,
            hop.kind,
            hop.length,
            self.symmetric_tolerance_ev,
            neb.uuid,
        ))
        summary.name = "NEB summary"
        jobs = [relax_start, relax_end, images, neb, summary]
        return Flow(jobs, output=summary.output, name=f"{self.name} {intercalant} {hop.kind}")


@job  # no output_schema: jobflow would validate the replacement's unresolved reference
def neb_if_promising(
    site: SiteEnergyDocument,
    host: Structure,
    intercalant: str,
    max_abs_delta_e_site_ev: float,
    neb_maker: SpinelHopNebMaker | None,
) -> Response | NebSummary:
    """Add the NEB to the graph only when |ΔE_site| passes the screen, else say why not.

    |E(oct) - E(tet)| is a lower bound of the tet -> oct -> tet barrier, so a pair whose
    bound already exceeds the threshold cannot migrate fast and its NEB is not worth running.
    """
    if neb_maker is None:
        return NebSummary(skipped_reason="NEB disabled in the campaign")
    bound = abs(site.delta_e_site_ev)
    if bound > max_abs_delta_e_site_ev:
        return NebSummary(
            skipped_reason=f"|dE_site| = {bound:.3f} eV > screen threshold {max_abs_delta_e_site_ev} eV"
        )
    return Response(replace=neb_maker.make(host, intercalant, site.stable_site))
