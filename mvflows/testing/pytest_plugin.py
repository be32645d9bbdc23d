"""pytest fixtures for fake-VASP test flows of your own campaigns.

Enabled automatically once mvflows is installed (entry point ``pytest11``), or with
``from mvflows.testing.pytest_plugin import fake_vasp_campaign`` in a test module::

    def test_my_campaign_dry_run(fake_vasp_campaign):
        docs = fake_vasp_campaign("workflows/my_campaign.yaml")
        assert all(d["fake_vasp"] and d["voltage_v"] is not None for d in docs)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def fake_vasp_campaign(tmp_path: Path):
    """Run a campaign's VASP graph on fake VASP into a store under tmp_path; return its pair results.

    ``run(campaign, overrides=None, store=None, jobs=1)``: ``campaign`` is a file or a
    Campaign; ``overrides`` are dotted campaign keys (as ``mvflows run`` uses); the store
    defaults to ``tmp_path / "store"`` (read it back with ``mvflows results --store``);
    ``jobs`` run at once, as ``mvflows run --jobs``. Every VASP job runs through atomate2's
    ``run_vasp`` and custodian with the ``mvflows-fake-vasp`` executable (``fake.vasp_cmd``
    of the campaign's VASP settings); ``run.report`` is the run's report (failed jobs and why).
    """
    from mvflows.calculators import calculator_for
    from mvflows.campaign import Campaign, load_campaign
    from mvflows.execution import run_flow
    from mvflows.flows import CampaignMaker, result_job_uuids
    from mvflows.store import job_store, query_results
    from mvflows.vasp.makers import fake_vasp_available_or_fail

    def run(
        campaign: str | Path | Campaign,
        overrides: dict[str, Any] | None = None,
        store: str | None = None,
        jobs: int = 1,
    ):
        if isinstance(campaign, Campaign):
            camp = campaign.model_copy(deep=True)
            camp.calculator.kind = "fake-vasp"
        else:
            camp = load_campaign(campaign, {"calculator.kind": "fake-vasp", **(overrides or {})})
        fake_vasp_available_or_fail(calculator_for(camp.calculator).settings)
        js = job_store(store or str(tmp_path / "store"))
        flow = CampaignMaker().make(camp)
        run.report = run_flow(flow, js, tmp_path / "work", jobs=jobs)
        ids = result_job_uuids(flow)  # this run's results, not whatever else the store holds
        return [
            d
            for d in query_results(js.additional_stores["results"], all_versions=True)
            if d["result_id"] in ids
        ]

    return run
