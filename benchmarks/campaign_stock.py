"""B-campaign-stock: the spinel21 graph on atomate2's stock force-field makers, by run_locally.

The same pair graph as ``mvflows run`` (relaxes, sites, screen, NEB, voltage; one
campaign file, its settings), with every energy computed by atomate2's own makers as a
user of atomate2 would run them, and the Flow run by jobflow's ``run_locally`` in one
process:

* relaxes: ``ForceFieldRelaxMaker`` with its default optimiser (FIRE), the campaign's
  fmax and steps; each job loads the model again (atomate2's behaviour);
* NEB: ``ForceFieldNebFromImagesMaker`` (ASE's NEB, FIRE, every image computed by one
  calculator in turn) with the climbing image, from linear images (``neb.idpp: false``),
  both endpoints relaxed (no mirror image of the start);
* no band guard, no image workers, no content-key reuse across runs.

atomate2's stock NEB tags a band converged only when every raw force is below fmax
(``mvflows.atomate2_fixes``, 7), so its bands read "not converged" and its pairs
``partial`` even when converged; the table keeps the barrier and the ASE optimiser's own
state beside it.

    python -m benchmarks.campaign_stock [--campaign workflows/spinel21.yaml] [--model 7net-0]
        [--pairs Mg/Cr2S4,...] -> campaign_stock.json (commit as benchmarks/results/campaign_stock.json)

Takes hours on 2 cores (spinel21): run it where nothing else runs, and compare its wall
time with ``benchmarks/results/campaign.json`` of the same machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from atomate2.forcefields.jobs import ForceFieldRelaxMaker
from atomate2.forcefields.neb import ForceFieldNebFromImagesMaker

from benchmarks.common import machine, write_result
from mvflows.keys import KeyedMaker
from mvflows.models import resolve_model


@dataclass
class StockRelaxMaker(KeyedMaker, ForceFieldRelaxMaker):
    """atomate2's relax maker unchanged; keyed only so that mvflows' graph accepts it."""


@dataclass
class StockNebMaker(KeyedMaker, ForceFieldNebFromImagesMaker):
    """atomate2's NEB-from-images maker unchanged; keyed only so that mvflows' graph accepts it."""


@dataclass
class StockCalculator:
    """mvflows' Calculator protocol answered with atomate2's stock force-field makers."""

    model: str = "7net-0"
    relax_fmax: float = 0.05
    relax_steps: int = 500
    neb_needs_endpoint_energies: bool = False

    @property
    def label(self) -> str:
        return f"atomate2-stock:{self.model}"

    def _model(self) -> dict[str, Any]:
        name, kwargs = resolve_model(self.model)
        return {"force_field_name": name, "calculator_kwargs": kwargs}

    def relax_maker(
        self, relax_cell: bool = True, fmax: float | None = None, steps: int | None = None
    ) -> StockRelaxMaker:
        return StockRelaxMaker(
            **self._model(),
            relax_cell=relax_cell,
            steps=steps or self.relax_steps,
            relax_kwargs={"fmax": fmax or self.relax_fmax},
        )

    def neb_maker(
        self, fmax: float, steps: int, climb: bool, optimizer: str = "ODE", guard: Any = None
    ) -> StockNebMaker:
        del optimizer, guard  # atomate2's ASE NEB is FIRE, unguarded (atomate2_fixes, 3)
        return StockNebMaker(
            **self._model(),
            # stated, or atomate2's empty neb_kwargs drop the climbing image (atomate2_fixes, 2)
            neb_kwargs={"climb": climb, "method": "improvedtangent"},
            relax_kwargs={"fmax": fmax},
            steps=steps,
        )


def stock_flow(campaign: Any, model: str) -> Any:
    """The campaign's Flow with every energy on atomate2's stock makers, both NEB ends relaxed."""
    from mvflows.flows import CampaignMaker, pair_maker_for

    relax = campaign.calculator.relax
    calculator = StockCalculator(model=model, relax_fmax=relax.fmax, relax_steps=relax.steps)
    pairs = pair_maker_for(campaign, calculator=calculator)
    if pairs.hops is not None:
        pairs.hops.neb = dataclasses.replace(pairs.hops.neb, mirror_end=False, idpp=False)
    return CampaignMaker(pair_maker=pairs).make(campaign)


def pair_rows(responses: dict, campaign: str) -> list[dict]:
    """Every pair result among run_locally's responses, as campaign.json's pairs_table rows."""
    from mvflows.schemas import PairResult

    rows = []
    for by_index in responses.values():
        for response in by_index.values():
            out = getattr(response, "output", None)
            if not isinstance(out, PairResult) or out.campaign != campaign:
                continue
            rows.append(
                {
                    "host": out.host,
                    "intercalant": out.intercalant,
                    "stable_site": out.stable_site,
                    "voltage_v": out.voltage_v,
                    "barrier_ev": out.barrier_ev,
                    "state": str(out.state),
                    "reasons": list(out.failure_reasons or []),
                }
            )
    return sorted(rows, key=lambda r: (r["intercalant"], r["host"]))


def main() -> None:
    from jobflow import JobStore, run_locally
    from maggma.stores import MemoryStore

    from mvflows.campaign import load_campaign

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--campaign", default="workflows/spinel21.yaml")
    p.add_argument("--model", default="7net-0", help="a model of docs/models.md (default: the campaign's)")
    p.add_argument("--pairs", default="", help="ION/HOST,... to run only these pairs (a smoke run)")
    p.add_argument("--out", default="campaign_stock.json")
    p.add_argument("--note", default=None)
    args = p.parse_args()
    campaign = load_campaign(args.campaign)
    if args.pairs:
        wanted = [tuple(item.split("/")) for item in args.pairs.split(",")]
        campaign = campaign.model_copy(
            update={"hosts": sorted({h for _, h in wanted}), "intercalants": sorted({i for i, _ in wanted})}
        )
    flow = stock_flow(campaign, args.model)
    store = JobStore(MemoryStore(), additional_stores={"data": MemoryStore()})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mvflows-stock-") as tmp:
        responses = run_locally(flow, store=store, log=False, root_dir=tmp, create_folders=True)
    wall = time.perf_counter() - t0
    rows = pair_rows(responses, campaign.name)
    result = {
        "benchmark": "B-campaign-stock: the campaign graph on atomate2's stock makers (run_locally)",
        "campaign": campaign.name,
        "model": args.model,
        "pairs": len(rows),
        "jobs_run": len(responses),
        "wall_s": wall,
        "pairs_table": rows,
        "note": args.note,
    }
    write_result(args.out, {**result, **machine()})
    print(f"{campaign.name} on atomate2's stock makers: {len(rows)} pairs in {wall:.0f} s")


if __name__ == "__main__":
    main()
