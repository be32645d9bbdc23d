"""The NEB of one hop, for every host family and every backend: endpoints, images, band, summary.

Endpoints are relaxed with the supercell lattice fixed (an NEB between unrelaxed
endpoints gives a meaningless barrier); with ``mirror_end`` and a symmetric hop only the
start is relaxed and the end is its symmetry image. The path starts through the hop's
``via`` point and is smoothed by IDPP, then the calculator's NEB maker runs the band. A
NEB maker that does not recompute the endpoints (VASP: folders 00 and NN) is handed
their relaxed energies. The summary reads emmet's NebResult: the barrier is its
``barrier_energy_range`` (max - min along the path) and the spline estimates of the
forward and reverse barriers are kept beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from emmet.core.neb import NebResult
from jobflow import Flow, Job, JobConfig, Maker, OnMissing
from pymatgen.core import Structure

from mvflows import plausibility
from mvflows.atomate2_fixes import NEB_CONVERGED_TAG
from mvflows.calculators import MvNebMaker, MvRelaxMaker
from mvflows.keys import KeyedMaker, job
from mvflows.neb_band import DIP_RESTART_TAG, DIP_STOP_TAG
from mvflows.neb_path import Hop, hop_images, hop_mirror, ion_path_a, migrating_site, mirrored_endpoint
from mvflows.schemas import NebSummary, PlausibilityCheck


@job
def neb_images(
    start: Structure, end: Structure, via: list[float], n_images: int, idpp: bool
) -> list[Structure]:
    """Starting path between the relaxed endpoints (see :func:`mvflows.neb_path.hop_images`)."""
    return hop_images(start, end, via, n_images, idpp=idpp)


@job
def mirror_endpoint(
    relaxed_start: Structure, start: Structure, end: Structure, via: list[float]
) -> Structure:
    """The relaxed end of a symmetric hop, mapped from the relaxed start (no second relax)."""
    end = mirrored_endpoint(relaxed_start, Hop(start, end, via, "", 0.0))
    if end is None:  # make() checked the unrelaxed hop; a relaxed start keeps its symmetry
        raise ValueError("the relaxed start has no symmetry image at the hop's end")
    return end


def warm_path(band: list[Structure], hop: Hop) -> list[Structure]:
    """``band`` in the lattice of ``hop``'s supercell, at its fractional positions.

    A band converged on one calculator's relaxed host, carried to another's: same
    supercell, same atoms in the same order, only the lattice differs.
    """
    lattice = hop.start.lattice
    if any(len(image) != len(hop.start) or image.species != hop.start.species for image in band):
        raise ValueError(
            f"the warm-start band ({len(band[0])} atoms) is not a band of this hop ({len(hop.start)} atoms, "
            "other species or order)"
        )
    return [Structure(lattice, image.species, image.frac_coords) for image in band]


@job
def warm_images(band: list[Structure], start: Structure, end: Structure) -> list[Structure]:
    """The starting path of a warm-started NEB: the band's moving images between the relaxed endpoints."""
    return [start, *band[1:-1], end]


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


@job(output_schema=NebSummary, config=JobConfig(on_missing_references=OnMissing.NONE))
def summarise_neb(
    neb: NebResult | None,
    start_energy: float | None,
    end_energy: float | None,
    hop_kind: str,
    hop_length: float,
    symmetric_tolerance_ev: float,
    neb_job_uuid: str,
    intermediate: str | None = None,
    via: list[float] | None = None,
    site_energy: float | None = None,
    site_structure: Structure | None = None,
    intermediate_tolerance_ev: float = plausibility.TOLERANCE_EV,
    maximum_window: float = plausibility.WINDOW,
    relax_intermediate: bool = True,
) -> NebSummary:
    """Barrier, profile and sanity checks of one NEB; a failed NEB becomes reasons, not an error.

    With an ``intermediate`` site (its Cartesian position ``via``; relaxed with the ion held there:
    ``site_energy``, ``site_structure``) the band gets the plausibility checks of
    :mod:`mvflows.plausibility`; without one both are recorded as not applicable.
    """
    if neb is None or not neb.energies:
        return NebSummary(
            hop=hop_kind,
            hop_length_a=hop_length,
            failure_reasons=[f"NEB job {neb_job_uuid} failed or produced no energies"],
            neb_job_uuid=neb_job_uuid,
        )
    energies = np.asarray(neb.energies, dtype=float)
    failures = []
    tags = [str(t) for t in neb.tags or []]
    converged = NEB_CONVERGED_TAG in tags
    stopped = [t for t in tags if t.startswith(DIP_STOP_TAG)]
    if stopped:
        failures += stopped
    elif not converged:
        failures.append("NEB forces not converged within the step limit")
    # a restarted band's barrier is measured from its re-relaxed end, lower than the relaxed
    # endpoint the site energies and voltage were computed from: worth a second opinion
    restarted = [t for t in tags if t.startswith(DIP_RESTART_TAG)]
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
    distances = ion_path_a(neb.images) if neb.images and len(neb.images) > 1 else None
    coordinate = [d / (distances[-1] or 1.0) for d in distances] if distances else None
    checks = _checks(
        neb,
        coordinate,
        hop_kind,
        intermediate,
        via,
        site_energy,
        site_structure,
        intermediate_tolerance_ev,
        maximum_window,
        relax_intermediate,
    )
    return NebSummary(
        barrier_ev=float(neb.barrier_energy_range),
        neb_energies_ev=[float(e) for e in energies - energies[0]],
        reaction_coordinate=coordinate,
        path_distance_a=distances,
        forward_barrier_ev=_finite(neb.forward_barrier),
        reverse_barrier_ev=_finite(neb.reverse_barrier),
        endpoint_mismatch_ev=mismatch,
        hop=hop_kind,
        hop_length_a=hop_length,
        converged=converged,
        failure_reasons=failures,
        neb_job_uuid=neb_job_uuid,
        plausibility=checks,
        flag_reasons=[*restarted, *plausibility.flag_reasons(checks)],
        band=list(neb.images) if neb.images else None,
    )


def _checks(
    neb: NebResult,
    coordinate: list[float] | None,
    hop_kind: str,
    intermediate: str | None,
    via: list[float] | None,
    site_energy: float | None,
    site_structure: Structure | None,
    tolerance_ev: float,
    window: float,
    relaxed: bool,
) -> list[PlausibilityCheck]:
    """The band's plausibility checks (:mod:`mvflows.plausibility`)."""
    if intermediate is None or via is None:
        return plausibility.not_applicable(hop_kind)
    images = list(neb.images or [])
    ion = migrating_site(images) if len(images) > 1 else -1
    energies = [float(e) for e in neb.energies]
    return [
        plausibility.check_intermediate(
            energies, images, ion, intermediate, via, site_energy, site_structure, tolerance_ev, relaxed
        ),
        plausibility.check_maximum(energies, coordinate, intermediate, window),
    ]


def intermediate_structure(relaxed_start: Structure, via: list[float]) -> Structure:
    """The relaxed start with its ion (the last site) moved onto the intermediate void and held there.

    The ion is fixed (``selective_dynamics``: ASE's FixAtoms for a force field, the POSCAR's
    flags for VASP) and every other atom relaxes: the configuration of the band's image on
    the void, relaxed all the way. Both choices are measured (SevenNet-0, Mg in Cr2S4, the
    smoke store): left free, the ion slid 2.0 Å into a tetrahedron at fmax 0.02, leaving no
    site to compare with; started from the unrelaxed host the framework stayed in its
    symmetric saddle, 0.59 eV above the start, where the relaxed start's framework relaxes
    to 0.146 eV (the converged 7-image band's oct image: 0.152 eV).
    """
    site = relaxed_start.copy()
    site.replace(len(site) - 1, site[-1].species, via, coords_are_cartesian=True)
    site.add_site_property("selective_dynamics", [[True] * 3] * (len(site) - 1) + [[False] * 3])
    return site


@job
def ion_on_site(relaxed_start: Structure, via: list[float]) -> Structure:
    """The relax's start with the ion held on the intermediate void (:func:`intermediate_structure`)."""
    return intermediate_structure(relaxed_start, via)


@dataclass
class HopNebMaker(KeyedMaker):
    """NEB of one ion along one :class:`~mvflows.neb_path.Hop` of a relaxed host supercell.

    ``mirror_end``: when the unrelaxed hop maps onto itself reversed (:func:`hop_mirror`),
    relax only the start and take the end as its symmetry image; the summary checks the
    band's end energy against the start.

    A hop through an intermediate site (``hop.intermediate``, the spinels') is also relaxed
    with the ion held on that site, from the relaxed start, by ``intermediate_relax_maker``
    (the endpoint relax maker when None; ``relax_intermediate``, :func:`intermediate_structure`).
    Its energy only feeds the check, never the barrier, so it may be relaxed more loosely than
    the endpoints (spinel21 at 0.05 against 0.02 eV/Å: 1-52 meV higher, median 5, against a
    tolerance of 100). The summary
    checks the band against it and the position of its maximum against the faces
    (:mod:`mvflows.plausibility`, tolerance ``intermediate_tolerance_ev``, window
    ``maximum_window``).
    """

    name: str = "hop NEB"
    endpoint_relax_maker: Maker = field(default_factory=lambda: MvRelaxMaker(relax_cell=False))
    neb_maker: Maker = field(default_factory=MvNebMaker)
    images: int = 7
    idpp: bool = True
    symmetric_tolerance_ev: float = 0.02
    mirror_end: bool = True
    intermediate_tolerance_ev: float = plausibility.TOLERANCE_EV
    maximum_window: float = plausibility.WINDOW
    relax_intermediate: bool = True
    intermediate_relax_maker: Maker | None = None

    def make(
        self,
        hop: Hop,
        label: str = "",
        shared: dict[str, Job] | None = None,
        warm_band: list[Structure] | None = None,
    ) -> Flow:
        """``label`` ends the job names (" along-chain"); ``shared`` lets hops reuse one endpoint relax.

        ``warm_band``: a converged band of this hop (another calculator's; any lattice, the same
        atoms in the same order). Its images, in this hop's supercell at their fractional
        positions, are the starting path instead of IDPP's, and the endpoint relaxes start
        from its ends (:func:`warm_path`).
        """
        jobs: list[Job] = []
        band = warm_path(warm_band, hop) if warm_band else None
        relax_start = self._relax(band[0] if band else hop.start, f" NEB start{label}", shared, jobs)
        start_energy = relax_start.output.output.energy
        if self.mirror_end and hop_mirror(hop) is not None:
            relax_end = mirror_endpoint(relax_start.output.structure, hop.start, hop.end, hop.via)
            relax_end.name = f"NEB end{label} (symmetry image of the start)"
            jobs.append(relax_end)
            end_structure, end_energy = relax_end.output, None
        else:
            relax_end = self._relax(band[-1] if band else hop.end, f" NEB end{label}", shared, jobs)
            end_structure, end_energy = relax_end.output.structure, relax_end.output.output.energy
        if band:
            images = warm_images(band, relax_start.output.structure, end_structure)
            images.name = f"NEB images{label} (warm start)"
        else:
            images = neb_images(relax_start.output.structure, end_structure, hop.via, self.images, self.idpp)
            images.name = f"NEB images{label}"
        endpoints = {}
        if getattr(self.neb_maker, "wants_endpoint_energies", False):
            endpoints["endpoint_energies"] = [
                start_energy,
                start_energy if end_energy is None else end_energy,
            ]
        neb = self.neb_maker.make(images.output, **endpoints)
        neb.append_name(label)
        site = {}
        if hop.intermediate is not None:
            site = {
                "intermediate": hop.intermediate,
                "via": hop.via,
                "intermediate_tolerance_ev": self.intermediate_tolerance_ev,
                "maximum_window": self.maximum_window,
                "relax_intermediate": self.relax_intermediate,
            }
            if self.relax_intermediate:
                # the same fixed-cell relax as the endpoints', from the relaxed start's framework:
                # its energy is comparable with the band's
                placed = ion_on_site(relax_start.output.structure, hop.via)
                placed.name = f"NEB intermediate {hop.intermediate}{label} (ion on the void)"
                jobs.append(placed)
                relax_site = self._relax(
                    placed.output,
                    f" NEB intermediate {hop.intermediate}{label}",
                    shared,
                    jobs,
                    self.intermediate_relax_maker,
                )
                site["site_energy"] = relax_site.output.output.energy
                site["site_structure"] = relax_site.output.structure
        summary = summarise_neb(
            neb.output,
            start_energy,
            end_energy,
            hop.kind,
            hop.length,
            self.symmetric_tolerance_ev,
            neb.uuid,
            **site,
        )
        summary.name = f"NEB summary{label}"
        jobs += [images, neb, summary]
        return Flow(jobs, output=summary.output, name=f"NEB {hop.kind}{label}")

    def _relax(
        self,
        structure: Structure,
        label: str,
        shared: dict[str, Job] | None,
        jobs: list[Job],
        maker: Maker | None = None,
    ) -> Job:
        relax = (maker or self.endpoint_relax_maker).make(structure)
        if shared is not None and relax.uuid in shared:
            return shared[relax.uuid]  # already in an earlier hop's flow
        relax.append_name(label)
        if shared is not None:
            shared[relax.uuid] = relax
        jobs.append(relax)
        return relax
