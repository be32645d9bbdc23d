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

    ``run(campaign, overrides=None, store=None)``: ``campaign`` is a file or a Campaign;
    ``overrides`` are dotted campaign keys (as ``mvflows run`` uses); the store defaults to
    ``tmp_path / "store"`` (read it back with ``mvflows results --store``).
    """
    from mvflows.campaign import Campaign, load_campaign
    from mvflows.execution import run_flow
    from mvflows.flows import CampaignMaker, result_job_uuids
    from mvflows.store import job_store, query_results
    from mvflows.testing.fake_vasp import FakeVaspSpec, fake_vasp

    def run(
        campaign: str | Path | Campaign, overrides: dict[str, Any] | None = None, store: str | None = None
    ):
        if isinstance(campaign, Campaign):
            camp = campaign.model_copy(deep=True)
            camp.calculator.kind = "fake-vasp"
        else:
            camp = load_campaign(campaign, {"calculator.kind": "fake-vasp", **(overrides or {})})
        js = job_store(store or str(tmp_path / "store"))
        flow = CampaignMaker().make(camp)
        with fake_vasp(FakeVaspSpec.from_campaign(camp)):
            run.report = run_flow(flow, js, tmp_path / "work")
        ids = result_job_uuids(flow)  # this run's results, not whatever else the store holds
        return [
            d
            for d in query_results(js.additional_stores["results"], all_versions=True)
            if d["result_id"] in ids
        ]

    return run
