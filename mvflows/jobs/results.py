"""The per-pair result document, assembled from the graph and written to the results store."""

from __future__ import annotations

from jobflow import CURRENT_JOB, JobConfig, JobStore, OnMissing

from mvflows.calibration import CalibrationDocument, calibrated_barrier
from mvflows.keys import job
from mvflows.schemas import (
    NebSummary,
    PairResult,
    SitesDocument,
    StabilityDocument,
    VoltageDocument,
)
from mvflows.store import RESULT_KEY, RESULTS_STORE_NAME, publish_from_job, publish_result
from mvflows.structures.catalog import Host


def discharged_formula(intercalant: str, x_max: float, host: Host) -> str:
    """``MgCr2S4``, or ``Mg0.5V2O5`` when a pair discharges to another x."""
    x_label = "" if abs(x_max - 1) < 1e-9 else f"{x_max:g}"
    return f"{intercalant}{x_label}{host.name}"


@job(output_schema=PairResult, config=JobConfig(on_missing_references=OnMissing.NONE, expose_store=True))
def pair_result(
    campaign: str,
    settings_digest: str,
    host: Host,
    intercalant: str,
    x_max: float,
    calculator: str,
    sites: SitesDocument | None,
    volt: VoltageDocument | None,
    neb: NebSummary | None,
    job_uuids: dict[str, str | None],
    stability: StabilityDocument | None = None,
    calibration: CalibrationDocument | None = None,
) -> PairResult:
    """Collect one pair's numbers; runs even when upstream jobs failed, and says which.

    With a campaign's ``calibration`` (the model's softening factor, :mod:`mvflows.calibration`)
    the result carries the calibrated barrier beside the raw one.

    Its own uuid (the content key of everything upstream, the campaign and its settings)
    is the result's id: an unchanged re-run replaces this document, anything else adds one.
    """
    failures: list[str] = []
    if sites is None:
        failures.append(f"site-energy job {job_uuids.get('site_energy')} did not complete (a relax failed?)")
    if volt is None:
        failures.append(f"voltage job {job_uuids.get('voltage')} did not complete")
    if neb is None:
        failures.append(f"NEB step {job_uuids.get('neb')} did not complete")
    else:
        failures += neb.failure_reasons
    if "stability" in job_uuids and stability is None:
        failures.append(f"stability job {job_uuids.get('stability')} did not complete")
    if sites is None or volt is None:
        state = "failed"
    elif failures or neb is None or (neb.barrier_ev is None and neb.skipped_reason is None):
        state = "partial"
    else:
        state = "successful"
    if neb is not None and neb.neb_job_uuid:
        job_uuids = {**job_uuids, "neb": neb.neb_job_uuid}
    own = CURRENT_JOB.job.uuid if CURRENT_JOB.job else None
    result = PairResult(
        result_id=own,
        campaign=campaign,
        settings_digest=settings_digest,
        host=host.name,
        intercalant=intercalant,
        formula_discharged=discharged_formula(intercalant, x_max, host),
        stable_site=sites.stable_site if sites else None,
        delta_e_site_ev=sites.delta_e_site_ev if sites else None,
        voltage_v=volt.voltage_v if volt else None,
        capacity_mah_g=volt.capacity_mah_g if volt else None,
        specific_energy_wh_kg=volt.specific_energy_wh_kg if volt else None,
        barrier_ev=neb.barrier_ev if neb else None,
        neb_energies_ev=neb.neb_energies_ev if neb else None,
        neb_path_distance_a=neb.path_distance_a if neb else None,
        neb_skipped_reason=neb.skipped_reason if neb else None,
        calculator=calculator,
        redox_metal=host.redox_metal,
        x=volt.x if volt else x_max,
        voltage_profile=volt.profile if volt else None,
        hops=neb.hops if neb else None,
        percolating_barrier_ev=neb.percolating_barrier_ev if neb else None,
        limits=neb.limits if neb else None,
        e_hull_charged_ev_atom=stability.e_hull_charged_ev_atom if stability else None,
        e_hull_discharged_ev_atom=stability.e_hull_discharged_ev_atom if stability else None,
        state=state,
        failure_reasons=failures,
        plausibility=neb.plausibility if neb else [],
        flag_reasons=neb.flag_reasons if neb else [],
        calibrated_barrier_ev=calibrated_barrier(neb.barrier_ev if neb else None, calibration),
        calibration=calibration,
        job_uuids={**job_uuids, "pair_result": own},
    )
    return publish_from_job(result)


@job(output_schema=PairResult, config=JobConfig(on_missing_references=OnMissing.NONE, expose_store=True))
def path_result(
    campaign: str,
    settings_digest: str,
    name: str,
    intercalant: str,
    framework: str,
    formula: str,
    calculator: str,
    neb: NebSummary | None,
    job_uuids: dict[str, str | None],
) -> PairResult:
    """The result of an NEB between given endpoints: a pair result with only the barrier.

    ``host`` is the path's name, so results, plots and reports list paths beside pairs.
    """
    failures = ["NEB did not complete"] if neb is None else list(neb.failure_reasons)
    barrier = neb.barrier_ev if neb is not None else None
    state = "failed" if barrier is None else ("partial" if failures else "successful")
    own = CURRENT_JOB.job.uuid if CURRENT_JOB.job else None
    result = PairResult(
        result_id=own,
        campaign=campaign,
        settings_digest=settings_digest,
        host=name,
        intercalant=intercalant,
        formula_discharged=formula,
        barrier_ev=barrier,
        neb_energies_ev=neb.neb_energies_ev if neb else None,
        neb_path_distance_a=neb.path_distance_a if neb else None,
        calculator=calculator,
        redox_metal=None,
        stable_site=f"path in {framework}",
        state=state,
        failure_reasons=failures,
        plausibility=neb.plausibility if neb else [],
        flag_reasons=neb.flag_reasons if neb else [],
        job_uuids={
            **job_uuids,
            **({"neb": neb.neb_job_uuid} if neb and neb.neb_job_uuid else {}),
            "pair_result": own,
        },
    )
    return publish_from_job(result)


@job(output_schema=PairResult, config=JobConfig(on_missing_references=OnMissing.NONE, expose_store=True))
def committee_result(
    campaign: str,
    settings_digest: str,
    host: Host,
    intercalant: str,
    x_max: float,
    labels: list[str],
    members: list[PairResult | None],
    max_barrier_spread_ev: float,
    max_voltage_spread_v: float,
) -> PairResult:
    """One pair's committee result from its members' own results (``labels[k]`` computed ``members[k]``).

    The headline member (the first, the campaign's ``calculator.model``) gives every top-level
    number, its job uuids and its calculator label; the ``committee`` block holds every member's
    values, their spread and the flags (:mod:`mvflows.committee`). A member whose result is missing
    leaves the pair partial. Its own uuid is the result's id, beside the members' own results.
    """
    from mvflows.committee import committee_pair, member_of

    results = [PairResult.model_validate(m) if isinstance(m, dict) else m for m in members]
    summaries = [member_of(label, r) for label, r in zip(labels, results, strict=True)]
    own = CURRENT_JOB.job.uuid if CURRENT_JOB.job else None
    headline = results[0]
    if headline is None:  # the headline's own result job failed: nothing to put on top
        headline = PairResult(
            campaign=campaign,
            host=host.name,
            intercalant=intercalant,
            formula_discharged=discharged_formula(intercalant, x_max, host),
            calculator=labels[0],
            redox_metal=host.redox_metal,
            state="failed",
            failure_reasons=[f"the headline member's result ({labels[0]}) did not complete"],
        )
    fields = committee_pair(headline, summaries, results, max_barrier_spread_ev, max_voltage_spread_v)
    result = PairResult(
        **{
            **headline.model_dump(exclude={"fake_vasp", "completed_at", "flagged"}),
            **fields,
            "result_id": own,
            "campaign": campaign,
            "settings_digest": settings_digest,
            "job_uuids": {**headline.job_uuids, "committee_result": own},
        }
    )
    return publish_from_job(result)


def republish(store: JobStore, uuid: str) -> bool:
    """Publish a finished result job's output again if the results store lost it or holds an older one.

    The job's output is the result document, so nothing is recomputed: a deleted or
    damaged ``pair_results`` collection is rebuilt by the next run from the stored jobs.
    True when a document was written.
    """
    results = store.additional_stores.get(RESULTS_STORE_NAME)
    doc = store.query_one({"uuid": uuid}, properties=["output"], sort={"index": -1}) or {}
    output = doc.get("output")
    if results is None or not isinstance(output, dict) or output.get("@class") != PairResult.__name__:
        return False
    result = {k: v for k, v in output.items() if not k.startswith("@")}
    have = results.query_one({RESULT_KEY: uuid}, properties=["completed_at"])
    if have is not None and str(have.get("completed_at", "")) >= str(result.get("completed_at", "")):
        return False
    return publish_result(results, result)
