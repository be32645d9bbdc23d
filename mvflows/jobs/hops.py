"""The hops stage of the pair graph: which hops of the ion get an NEB, each through one HopNebMaker.

Two makers with one ``make`` signature, both returning a Flow whose output is a
:class:`~mvflows.schemas.NebSummary`:

* :class:`SpinelHopsMaker`: the hop between neighbouring stable voids through the other
  void type (tet -> oct -> tet, or oct -> tet -> oct) in a supercell of the relaxed host;
* :class:`MigrationGraphHopsMaker`: the dilute site spread over the host by its symmetry,
  pymatgen-analysis-diffusion's ``MigrationGraph`` gives the symmetry-distinct hops, NEB
  runs on the shortest few (supercells from ``MigrationHop.get_sc_structures``), and the
  pair's barrier is the lowest at which the computed hops percolate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from jobflow import Flow, Job, JobConfig, OnMissing
from pymatgen.core import Structure

from mvflows.hops import distinct_hops, percolating_barrier
from mvflows.jobs.hop_neb import HopNebMaker
from mvflows.keys import KeyedMaker, job
from mvflows.neb_path import Hop, spinel_hop, spinel_vacancy_hop
from mvflows.schemas import HopBarrier, LimitResult, NebSummary, SitesDocument
from mvflows.structures.catalog import Host

LIMITS = ("dilute", "vacancy")


def _label(limit: str) -> str:
    """Job names of a limit: the dilute limit keeps its plain names (one limit is the usual case)."""
    return "" if limit == "dilute" else f" {limit}"


@dataclass
class SpinelHopsMaker(KeyedMaker):
    """The hop of one ion in a ``supercell`` of the relaxed spinel, in each migration limit.

    Dilute: one ion in the empty host. Vacancy: one vacancy in the fully discharged cell
    (the sites stage's last cell), a neighbouring ion hopping into it; symmetric too.
    """

    name: str = "spinel hop"
    neb: HopNebMaker = field(default_factory=HopNebMaker)
    supercell: tuple[int, int, int] = (2, 2, 2)
    limits: tuple[str, ...] = ("dilute",)

    def make(
        self,
        host_structure: Structure,
        host: Host,  # noqa: ARG002
        intercalant: str,
        sites: SitesDocument,
        warm_band: list[Structure] | None = None,
    ) -> Flow:
        """``warm_band``: a converged band of the first limit's hop, its NEB's starting path."""
        flows = []
        for limit in self.limits:
            if limit == "dilute":
                hop = spinel_hop(host_structure, intercalant, sites.stable_site, tuple(self.supercell))
            else:
                discharged = sites.discharge[-1].structure
                hop = spinel_vacancy_hop(discharged, intercalant, sites.stable_site, tuple(self.supercell))
            warm = {"warm_band": warm_band} if warm_band and limit == self.limits[0] else {}
            flows.append(self.neb.make(hop, label=_label(limit), **warm))
        return _by_limit(flows, self.limits, intercalant)


def _by_limit(flows: list[Flow], limits: tuple[str, ...], intercalant: str) -> Flow:
    """One limit: its flow as it is; several: a summary that keeps each limit under its name."""
    if len(flows) == 1:
        return flows[0]
    collect = collect_limits([f.output for f in flows], list(limits))
    collect.name = f"limits summary {intercalant}"
    return Flow([*flows, collect], output=collect.output, name=f"NEB limits {intercalant}")


@job(output_schema=NebSummary, config=JobConfig(on_missing_references=OnMissing.NONE))
def collect_limits(summaries: list[NebSummary | None], limits: list[str]) -> NebSummary:
    """The first limit's barrier as the pair's, every limit under its name, every failure said.

    ``barrier_ev`` is the first limit the campaign lists (``neb.limits``; dilute by default).
    """
    kept: dict[str, LimitResult] = {}
    failures: list[str] = []
    flags: list[str] = []
    for limit, summary in zip(limits, summaries, strict=True):
        if summary is None:
            failures.append(f"{limit} limit: NEB did not complete")
            continue
        kept[limit] = LimitResult(**summary.model_dump(include=set(LimitResult.model_fields)))
        failures += [f"{limit} limit: {r}" for r in summary.failure_reasons]
        flags += [f"{limit} limit: {r}" for r in summary.flag_reasons]
    first = next((s for lim, s in zip(limits, summaries, strict=True) if lim == limits[0]), None)
    dropped = {"failure_reasons", "flag_reasons", "limits", "band"}
    base = first.model_dump(exclude=dropped) if first is not None else {}
    band = first.band if first is not None else None
    return NebSummary(**base, band=band, failure_reasons=failures, flag_reasons=flags, limits=kept)


def _ion_last(structure: Structure, intercalant: str) -> Structure:
    """The mobile ion (pymatgen-analysis-diffusion puts it first) moved to the last site."""
    idx = next(i for i, s in enumerate(structure) if s.specie.symbol == intercalant)
    sites = [s for i, s in enumerate(structure) if i != idx] + [structure[idx]]
    return Structure.from_sites(sites)


def _mover_last(start: Structure, end: Structure, hop, intercalant: str) -> tuple[Structure, Structure]:
    """Vacancy-mode endpoints in one atom order, the moving ion last.

    pymatgen-analysis-diffusion removes the ion at the other end from each endpoint, so the
    two lists differ by which ion is missing: the ion at the hop's start (in ``start``) and
    at its end (in ``end``) go last, and the other atoms then match one to one.
    """
    out = []
    for cell, site in ((start, hop.isite), (end, hop.esite)):
        target = cell.lattice.get_fractional_coords(site.coords)
        ions = [i for i, s in enumerate(cell) if s.specie.symbol == intercalant]
        d = [
            np.linalg.norm(_min_image(cell, cell.lattice.get_cartesian_coords(cell[i].frac_coords - target)))
            for i in ions
        ]
        mover = ions[int(np.argmin(d))]
        out.append(Structure.from_sites([s for i, s in enumerate(cell) if i != mover] + [cell[mover]]))
    return out[0], out[1]


def _min_image(s: Structure, vec: np.ndarray) -> np.ndarray:
    frac = s.lattice.get_fractional_coords(vec)
    return s.lattice.get_cartesian_coords(frac - np.round(frac))


@dataclass
class MigrationGraphHopsMaker(KeyedMaker):
    """Dilute-limit NEB of one ion on each of the ``max_hops`` shortest distinct hops of a host."""

    name: str = "host hops"
    neb: HopNebMaker = field(
        default_factory=lambda: HopNebMaker(images=5, symmetric_tolerance_ev=0.05, mirror_end=False)
    )
    max_hops: int = 2
    max_hop_length_a: float = 6.5
    min_hop_length_a: float = 1.5
    min_supercell_length_a: float = 8.0
    min_supercell_atoms: int = 20
    max_supercell_atoms: int = 120
    limits: tuple[str, ...] = ("dilute",)

    def make(
        self,
        host_structure: Structure,
        host: Host,
        intercalant: str,
        sites: SitesDocument,
        warm_band: list[Structure] | None = None,  # noqa: ARG002 - several hops: no one band to start from
    ) -> Flow:
        shared: dict[str, Job] = {}  # hops that share an endpoint (same site, same supercell) share its relax
        flows = [
            self._limit(limit, host_structure, host, intercalant, sites, shared) for limit in self.limits
        ]
        return _by_limit(flows, self.limits, intercalant)

    def _limit(
        self,
        limit: str,
        host_structure: Structure,
        host: Host,
        intercalant: str,
        sites: SitesDocument,
        shared: dict[str, Job],
    ) -> Flow:
        """Dilute: the site spread over the empty host by its symmetry. Vacancy: the ions of the
        fully discharged cell, one of them removed (pymatgen-analysis-diffusion's vacancy mode)."""
        vacancy = limit == "vacancy"
        site_frac = sites.site_frac_coords
        full = sites.discharge[-1].structure if vacancy else None
        found = distinct_hops(
            full if vacancy else host_structure,
            intercalant,
            site_frac,
            self.max_hop_length_a,
            host.chain_metal,
            self.min_hop_length_a,
            full=full,
        )
        # the shortest hop of every kind first (VS4: along the chains and between S2 groups), then the rest
        rank = {id(h): sum(g.kind == h.kind for g in found[:i]) for i, h in enumerate(found)}
        hops = sorted(found, key=lambda h: (rank[id(h)], h.length_a))[: self.max_hops]
        flows: list[Flow] = []
        summaries, notes = [], []
        for h in hops:
            start, end, _base = h.hop.get_sc_structures(
                vac_mode=vacancy,
                min_atoms=self.min_supercell_atoms,
                max_atoms=self.max_supercell_atoms,
                min_length=self.min_supercell_length_a,
            )
            if vacancy:
                start, end = _mover_last(start, end, h.hop, intercalant)
            else:
                start, end = _ion_last(start, intercalant), _ion_last(end, intercalant)
            # the hop's own vector, not the minimum image: in a small supercell these differ
            vec = h.hop.esite.coords - h.hop.isite.coords
            mid = start.cart_coords[-1] + vec / 2
            if (
                np.linalg.norm(
                    mid + _min_image(start, end.cart_coords[-1] - mid) - (start.cart_coords[-1] + vec)
                )
                > 0.2
            ):
                notes.append(
                    f"{h.kind} hop ({h.length_a:.2f} Å) is ambiguous in a supercell this small: "
                    "raise hops.min_supercell_length_a"
                )
                summaries.append(None)
                continue
            notes.append(None)
            kind = f"{h.kind} (label {h.label})" + (" (vacancy)" if vacancy else "")
            hop = Hop(start, end, [float(v) for v in mid], kind, h.length_a)
            neb = self.neb.make(hop, label=f" {h.kind}{_label(limit)}", shared=shared)
            flows.append(neb)
            summaries.append(neb.output)
        extra = {"full": full} if vacancy else {}  # the dilute limit's job keeps its arguments (and key)
        collect = collect_hops(
            summaries,
            [h.kind for h in hops],
            [h.label for h in hops],
            [h.length_a for h in hops],
            host_structure,
            intercalant,
            site_frac,
            self.max_hop_length_a,
            notes,
            **extra,
        )
        collect.name = f"hops summary {intercalant}{_label(limit)}"
        return Flow(
            [*flows, collect], output=collect.output, name=f"{self.name} {intercalant}{_label(limit)}"
        )


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
    full: Structure | None = None,
) -> NebSummary:
    """Every hop's barrier, and the lowest one at which the computed hops percolate."""
    if not kinds:
        return NebSummary(
            skipped_reason=f"no hop between {intercalant} sites shorter than {max_hop_length} Å"
        )
    hops, failures, flags = [], [], []
    for summary, kind, label, length, note in zip(
        summaries, kinds, labels, lengths, notes or [None] * len(kinds), strict=True
    ):
        if summary is None:
            reason = note or "NEB did not complete"
            hops.append(HopBarrier(kind=kind, label=label, length_a=length, failure_reasons=[reason]))
            failures.append(reason if note else f"{kind} hop: {reason}")
            continue
        hops.append(
            HopBarrier(
                kind=kind,
                label=label,
                length_a=length,
                barrier_ev=summary.barrier_ev,
                neb_energies_ev=summary.neb_energies_ev,
                path_distance_a=summary.path_distance_a,
                converged=summary.converged,
                failure_reasons=summary.failure_reasons,
                plausibility=summary.plausibility,
            )
        )
        failures += [f"{kind} hop: {r}" for r in summary.failure_reasons]
        flags += [f"{kind} hop: {r}" for r in summary.flag_reasons]
    known = {h.label: h.barrier_ev for h in hops if h.barrier_ev is not None}
    perc = (
        percolating_barrier(host, intercalant, site_frac, max_hop_length, known, full=full) if known else None
    )
    best = None
    if perc is not None:
        best = min(
            (h for h in hops if h.barrier_ev is not None and h.barrier_ev <= perc + 1e-9),
            key=lambda h: -h.barrier_ev,
        )
    else:
        failures.append(
            "the computed hops do not form a percolating path (barrier is that of the lowest hop)"
        )
        done = [h for h in hops if h.barrier_ev is not None]
        best = min(done, key=lambda h: h.barrier_ev) if done else None
    return NebSummary(
        barrier_ev=perc if perc is not None else (best.barrier_ev if best else None),
        neb_energies_ev=best.neb_energies_ev if best else None,
        path_distance_a=best.path_distance_a if best else None,
        hop=best.kind if best else None,
        hop_length_a=best.length_a if best else None,
        converged=all(h.converged for h in hops) if hops else None,
        failure_reasons=failures,
        plausibility=best.plausibility if best else [],
        flag_reasons=flags,
        hops=hops,
        percolating_barrier_ev=perc,
    )
