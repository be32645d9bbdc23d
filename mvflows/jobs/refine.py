"""Refinement: once the force-field results are in, the picked pairs' VASP graphs join the Flow.

:class:`RefineMaker` makes one job that reads every force-field pair result, picks pairs
by the campaign's rule (:func:`mvflows.refine.select`) and is replaced at run time by:

* for each picked pair, the same pair graph on VASP (:func:`mvflows.flows.pair_maker_for`
  with the refinement's calculator), **warm-started**: every relax starts from the
  force-field job's relaxed structure (charged host, metal, the site cells) and the
  first limit's NEB from the force field's converged band instead of an IDPP path;
* for every pair, :func:`merge_levels`, which writes the pair's one result document with
  each level (``levels``) and the headline level's numbers on top.

What the warm start needs of the force-field jobs comes in as the refine job's inputs
(:func:`warm_inputs`, references made with the campaign's Flow), so the jobs it adds refer
to nothing outside themselves: jobflow-remote refuses a dynamic Flow that does. The added
jobs are content-keyed like every other: a re-run reuses all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import CURRENT_JOB, Flow, Job, JobConfig, OnMissing, OutputReference, Response

from mvflows.keys import KeyedMaker, job
from mvflows.refine import RefineSettings, picks_record, select
from mvflows.schemas import PairResult
from mvflows.store import publish_from_job
from mvflows.structures.catalog import Host, pair_label

# steps of a force-field pair whose relaxed structure starts the same VASP relax
WARM_STEPS = ("relax_charged", "relax_tet", "relax_oct", "relax_discharged")
# fields of a result that say which pair it is, not what a level computed
IDENTITY = ("result_id", "campaign", "host", "intercalant", "formula_discharged", "levels", "headline_level")


def level_of(result: PairResult) -> dict[str, Any]:
    """What one level computed: the result without the pair's identity."""
    return result.model_dump(mode="json", exclude=set(IDENTITY))


@job(output_schema=PairResult, config=JobConfig(on_missing_references=OnMissing.NONE, expose_store=True))
def merge_levels(
    screen: PairResult | None, refined: PairResult | None, refined_label: str | None = None
) -> PairResult | None:
    """The pair's result with every level; the refined (DFT) one is the headline when it was run.

    It keeps the screen's ``result_id``, so it replaces the force-field document in the results
    store. A refined pair whose DFT result is missing is failed at the refined level.
    """
    if screen is None:
        return None
    levels = {screen.calculator: level_of(screen)}
    headline = screen
    if refined_label is not None:
        if refined is None:
            refined = screen.model_copy(
                update={
                    "calculator": refined_label,
                    "state": "failed",
                    "failure_reasons": ["the refined result did not complete"],
                    **{k: None for k in ("voltage_v", "barrier_ev", "delta_e_site_ev", "neb_energies_ev")},
                }
            )
        levels[refined.calculator] = level_of(refined)
        headline = refined
    own = CURRENT_JOB.job.uuid if CURRENT_JOB.job else None
    result = PairResult(
        **{
            # completed now, after the level's own result (the one document a reader should pick)
            **headline.model_dump(exclude={"fake_vasp", "completed_at"}),
            "result_id": screen.result_id,
            "levels": levels,
            "headline_level": headline.calculator,
            "job_uuids": {**headline.job_uuids, "merge_levels": own},
        }
    )
    return publish_from_job(result)


def warm_inputs(steps: dict[str, str | None]) -> dict[str, Any]:
    """References to where a pair's VASP jobs would start, made when the campaign's Flow is built.

    ``steps``: the uuids of the pair's force-field steps (:func:`mvflows.flows.pair_steps`):
    the relaxed structures (charged host, site cells), the relaxed metal, and the band of the
    NEB, which the NEB gate's final output carries (its NEB job is added at run time). They are
    inputs of the refine job, resolved before it runs (jobflow-remote: by the runner, from
    MongoDB): a job the refine job adds may not refer to another job outside what it adds.
    """
    return {
        "start": {step: OutputReference(steps[step]).structure for step in WARM_STEPS if steps.get(step)},
        "metal": OutputReference(steps["relax_metal"]).structure if steps.get("relax_metal") else None,
        "band": OutputReference(steps["neb"]).band if steps.get("neb") else None,
    }


def warm_start(screen: PairResult, warm: dict[str, Any] | None) -> tuple[dict[str, Any], Any, Any]:
    """The start structures, the metal and the band (None unless the screen ran one NEB to a
    barrier) of a picked pair, from its resolved :func:`warm_inputs`."""
    warm = warm or {}
    start = {step: s for step, s in (warm.get("start") or {}).items() if s is not None}
    band = warm.get("band")
    if screen.barrier_ev is None or not screen.neb_energies_ev or screen.hops:
        band = None
    return start, warm.get("metal"), band or None


@dataclass
class RefineMaker(KeyedMaker):
    """The refinement of a campaign: its rule and the VASP pair makers (by :func:`host_kind`)."""

    name: str = "refine"
    rule: dict[str, Any] = field(default_factory=dict)  # RefineSettings, as JSON
    pair_makers: dict[str, Any] = field(default_factory=dict)  # host kind -> PairMaker on VASP
    label: str = "vasp:PBE"

    @job(config=JobConfig(on_missing_references=OnMissing.NONE, expose_store=True))
    def make(
        self,
        results: list[PairResult | None],
        hosts: list[Host],
        kinds: list[str],
        x_maxes: list[float],
        warm: list[dict[str, Any]] | None = None,
    ) -> Response:
        """Replaced at run time by the picked pairs' VASP graphs and every pair's merged result.

        The refined jobs carry the pair and the level in their metadata (as a cluster run's pair
        jobs carry the pair), so ``mvflows status`` lists them apart and ``mvflows rerun PAIR``
        reaches them; each merged result carries its pair. What was picked is the job's
        ``stored_data`` (``refine``: :func:`mvflows.refine.picks_record`), which ``mvflows run``
        and ``mvflows status`` print.
        """
        rule = RefineSettings.model_validate(self.rule)
        order = select(results, rule)
        picked = set(order)
        labels = [
            pair_label(host, screen.intercalant) if screen else host.name
            for screen, host in zip(results, hosts, strict=True)
        ]
        jobs: list[Flow | Job] = []
        metals: dict[str, Job] = {}
        merged = []
        for i, (screen, host) in enumerate(zip(results, hosts, strict=True)):
            refined = None
            if i in picked:
                start, metal_start, band = warm_start(screen, warm[i] if warm else None)
                pairs = self.pair_makers[kinds[i]]
                ion = screen.intercalant
                if ion not in metals:
                    metals[ion] = pairs.metal_relax(ion, start=metal_start)
                    metals[ion].append_name(" (warm start)")
                    jobs.append(metals[ion])
                flow = pairs.make(host, ion, x_maxes[i], metal=metals[ion], start=start, warm_band=band)
                flow.name = f"{flow.name} on {self.label}"
                flow.update_metadata({"pair": pair_label(host, ion), "level": self.label}, dynamic=True)
                jobs.append(flow)
                refined = flow.output
            merge = merge_levels(screen, refined, self.label if i in picked else None)
            merge.name = f"levels {screen.intercalant} in {screen.host}" if screen else "levels (no result)"
            if screen:
                merge.update_metadata({"pair": labels[i]})
            jobs.append(merge)
            merged.append(merge.output)
        return Response(
            replace=Flow(jobs, output=merged, name=f"refine on {self.label}"),
            stored_data={"refine": picks_record(results, order, labels, rule, self.label)},
        )
