"""The NEB gate: the hops stage joins the graph only for pairs that pass the screen.

Both screens live here and nowhere else: the E_hull screen (a phase far above the hull
will not be made) and, where the sites stage gives one, the lower bound of the barrier
(spinels: |E(oct) - E(tet)|; a pair whose bound already exceeds the threshold cannot
migrate fast, so its NEB is not worth running). A skipped pair records why.
"""

from __future__ import annotations

from typing import Any

from jobflow import Response
from pymatgen.core import Structure

from mvflows.keys import job
from mvflows.schemas import NebSummary, SitesDocument, StabilityDocument
from mvflows.structures.catalog import Host


def screen_reason(
    sites: SitesDocument,
    stability: StabilityDocument | None,
    max_abs_delta_e_site_ev: float | None,
    max_e_hull_ev_atom: float | None,
) -> str | None:
    """Why a pair fails the screen, or None when its NEB should run."""
    if max_e_hull_ev_atom is not None and stability is not None:
        worst = max(stability.e_hull_charged_ev_atom, stability.e_hull_discharged_ev_atom)
        if worst > max_e_hull_ev_atom:
            return f"E_hull = {worst:.3f} eV/atom > screen threshold {max_e_hull_ev_atom} eV/atom"
    bound = sites.barrier_lower_bound_ev
    if max_abs_delta_e_site_ev is not None and bound is not None and bound > max_abs_delta_e_site_ev:
        return f"|dE_site| = {bound:.3f} eV > screen threshold {max_abs_delta_e_site_ev} eV"
    return None


@job  # no output_schema: the replacement's output is a reference until it runs
def neb_gate(
    sites: SitesDocument,
    host_structure: Structure,
    host: Host,
    intercalant: str,
    hops_maker: Any,
    max_abs_delta_e_site_ev: float | None,
    max_e_hull_ev_atom: float | None = None,
    stability: StabilityDocument | None = None,
    warm_band: list[Structure] | None = None,
) -> Response | NebSummary:
    """Replace this job by the hops stage's NEBs when the pair passes the screen, else say why not.

    ``warm_band``: a converged band the first limit's NEB starts from (a refinement's warm start).
    """
    if hops_maker is None:
        return NebSummary(skipped_reason="NEB disabled in the campaign")
    reason = screen_reason(sites, stability, max_abs_delta_e_site_ev, max_e_hull_ev_atom)
    if reason is not None:
        return NebSummary(skipped_reason=reason)
    warm = {"warm_band": warm_band} if warm_band else {}
    return Response(replace=hops_maker.make(host_structure, host, intercalant, sites, **warm))
