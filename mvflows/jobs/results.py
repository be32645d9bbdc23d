"""The per-pair result document, assembled from the graph and written to the results store."""

from __future__ import annotations

from typing import Any

from jobflow import CURRENT_JOB, JobConfig, OnMissing, job

from mvflows.schemas import NebSummary, PairResult, SiteEnergyDocument, StabilityDocument, VoltageDocument
from mvflows.store import RESULTS_STORE_NAME, publish_result


@job(output_schema=PairResult, config=JobConfig(on_missing_references=OnMissing.NONE, expose_store=True))
def pair_result(
    campaign: str,
    host: str,
    intercalant: str,
    formula_discharged: str,
    calculator: str,
    site: SiteEnergyDocument | None,
    volt: VoltageDocument | None,
    neb: NebSummary | None,
    job_uuids: dict[str, str | None],
    stability: StabilityDocument | None = None,
    extra: dict[str, Any] | None = None,
) -> PairResult:
    """Collect one pair's numbers; runs even when upstream jobs failed, and says which."""
    failures: list[str] = []
    if site is None:
        failures.append(f"site-energy job {job_uuids.get('site_energy')} did not complete (a relax failed?)")
    if volt is None:
        failures.append(f"voltage job {job_uuids.get('voltage')} did not complete")
    if neb is None:
        failures.append(f"NEB step {job_uuids.get('neb')} did not complete")
    else:
        failures += neb.failure_reasons
    if "stability" in job_uuids and stability is None:
        failures.append(f"stability job {job_uuids.get('stability')} did not complete")
    if site is None or volt is None:
        state = "failed"
    elif failures or neb is None or (neb.barrier_ev is None and neb.skipped_reason is None):
        state = "partial"
    else:
        state = "successful"
    if neb is not None and neb.neb_job_uuid:
        job_uuids = {**job_uuids, "neb": neb.neb_job_uuid}
    result = PairResult(
        campaign=campaign,
        host=host,
        intercalant=intercalant,
        formula_discharged=formula_discharged,
        stable_site=site.stable_site if site else None,
        delta_e_site_ev=site.delta_e_site_ev if site else None,
        voltage_v=volt.voltage_v if volt else None,
        capacity_mah_g=volt.capacity_mah_g if volt else None,
        specific_energy_wh_kg=volt.specific_energy_wh_kg if volt else None,
        barrier_ev=neb.barrier_ev if neb else None,
        neb_energies_ev=neb.neb_energies_ev if neb else None,
        neb_skipped_reason=neb.skipped_reason if neb else None,
        calculator=calculator,
        redox_metal=(extra or {}).get("redox_metal"),
        x=volt.x if volt and extra else None,
        voltage_profile=volt.profile if volt else None,
        hops=neb.hops if neb else None,
        percolating_barrier_ev=neb.percolating_barrier_ev if neb else None,
        e_hull_charged_ev_atom=stability.e_hull_charged_ev_atom if stability else None,
        e_hull_discharged_ev_atom=stability.e_hull_discharged_ev_atom if stability else None,
        state=state,
        failure_reasons=failures,
        job_uuids={**job_uuids, "pair_result": CURRENT_JOB.job.uuid if CURRENT_JOB.job else None},
    )
    store = CURRENT_JOB.store
    if store is not None and RESULTS_STORE_NAME in store.additional_stores:
        publish_result(store.additional_stores[RESULTS_STORE_NAME], result)
    return result
