"""A model committee (``calculator.committee``) without compute: settings, the flag rules on made-up
member results, the graph it builds, how results show it, its error bars, ``refine.flagged``.

The real run is tests/test_committee_run.py.
"""

import json
import re

import pytest
from conftest import error_lines, invoke

from mvflows.campaign import CampaignError, load_campaign
from mvflows.committee import committee_document, member_of
from mvflows.jobs.results import committee_result
from mvflows.schemas import PairResult
from mvflows.structures.catalog import host_for

PAIR = "name: c\npairs: [{host: Cr2S4, intercalant: Mg}]\n"
SV, CH, MF = "forcefield:SevenNet", "forcefield:chgnet-0.3.0", "forcefield:7net-mf-0-pbe"


# --- settings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calculator", "members", "limits"),
    [
        ("{committee: [chgnet-0.3.0]}", ["SevenNet", "CHGNet"], (0.15, 0.15)),  # headline added first
        ("{committee: [chgnet-0.3.0, 7net-0]}", ["SevenNet", "CHGNet"], (0.15, 0.15)),  # listed: kept once
        (
            "{model: chgnet-0.2.0, committee: {members: [SevenNet], max_barrier_spread_ev: 0.3}}",
            ["chgnet-0.2.0", "SevenNet"],
            (0.3, 0.15),
        ),
        ("{committee: default}", ["SevenNet", "chgnet-0.2.0", "CHGNet"], (0.15, 0.15)),
        (
            "{committee: {members: default, max_voltage_spread_v: 0.05}}",
            ["SevenNet", "chgnet-0.2.0", "CHGNet"],
            (0.15, 0.05),
        ),
    ],
)
def test_committee_settings(campaign_file, calculator, members, limits):
    from mvflows.models import model_label

    calc = load_campaign(campaign_file(PAIR + f"calculator: {calculator}\n")).calculator
    assert [model_label(*m) for m in calc.committee_models()] == members
    assert (calc.committee.max_barrier_spread_ev, calc.committee.max_voltage_spread_v) == limits


def test_a_campaign_without_a_committee_keeps_its_digest_and_a_member_has_the_single_models(campaign_file):
    """The settings digest enters every result job's key: a member's is the single-model campaign's."""
    from mvflows.flows import member_campaign

    single = load_campaign(campaign_file(PAIR + "calculator: {model: chgnet-0.3.0}\n", "s.yaml"))
    committee = load_campaign(campaign_file(PAIR + "calculator: {committee: [chgnet-0.3.0]}\n", "c.yaml"))
    assert committee.settings_digest() != load_campaign(campaign_file(PAIR, "p.yaml")).settings_digest()
    chgnet = committee.calculator.committee_models()[1]
    assert member_campaign(committee, *chgnet).settings_digest() == single.settings_digest()


@pytest.mark.parametrize(
    ("calculator", "message"),
    [
        (
            "{committee: [chgnet, nosuchnet]}",
            "c.yaml:3:34: calculator.committee[1]: unknown force field 'nosuchnet'",
        ),
        (
            "{committee: {members: [chgnet-0.3.0, CHGNet]}}",
            "c.yaml:3:50: calculator.committee.members[1]: 'CHGNet' is the same model as 'chgnet-0.3.0'",
        ),
        (
            "{committee: [SevenNet, 7net-0]}",
            "calculator.committee[1]: '7net-0' is the same model as 'SevenNet'",
        ),
        (
            "{committee: [7net-0]}",
            "calculator.committee: a committee needs at least 2 models; it has only SevenNet",
        ),
        ("{committee: []}", "calculator.committee: a committee needs at least 2 models"),
        (
            "{kind: fake-vasp, committee: [CHGNet]}",
            "calculator.committee: a model committee runs force fields",
        ),
        (
            "{committee: {members: [CHGNet], max_barrier_spread_ev: -1}}",
            "max_barrier_spread_ev: Input should be",
        ),
        ("{committee: {members: [CHGNet], limit: 1}}", "calculator.committee.limit: unknown key"),
        ("{committee: 3}", "calculator.committee: Input should be"),
    ],
)
def test_bad_committee_settings_are_one_error_line(tmp_path, calculator, message):
    (tmp_path / "c.yaml").write_text(PAIR + f"calculator: {calculator}\n")
    result = invoke("run", tmp_path / "c.yaml", "--store", tmp_path / "store")
    assert result.exit_code == 2, (result.stderr, result.exception)
    (line,) = error_lines(result.stderr)
    assert message in line, line
    assert not (tmp_path / "store").exists()


def test_a_member_that_cannot_be_loaded_stops_the_run_before_anything(tmp_path):
    (tmp_path / "c.yaml").write_text(PAIR + "calculator:\n  model: chgnet-0.3.0\n  committee: [MACE]\n")
    result = invoke("run", tmp_path / "c.yaml", "--store", tmp_path / "store")
    assert result.exit_code == 2, (result.stderr, result.exception)
    (line,) = error_lines(result.stderr)
    assert "c.yaml:5:14: calculator.committee: force field 'MACE' cannot be loaded" in line, line
    assert not (tmp_path / "store").exists()


def test_refine_flagged_needs_a_committee_and_takes_one(campaign_file, tmp_path):
    (tmp_path / "vasp.yaml").write_text("encut: 520\n")
    refine = f"refine: {{vasp_config: {tmp_path / 'vasp.yaml'}, flagged: true}}\n"
    with pytest.raises(CampaignError, match=r"refine.flagged: needs calculator.committee"):
        load_campaign(campaign_file(PAIR + refine))
    camp = load_campaign(campaign_file(PAIR + "calculator: {committee: [CHGNet]}\n" + refine))
    assert camp.refine.flagged


# --- the flag rules on made-up members ------------------------------------------------------


def _member(label, site="tet", de=0.3, voltage=1.5, barrier=0.6, state="successful", skipped=None):
    return PairResult(
        result_id=f"id-{label}",
        campaign="c",
        host="Cr2S4",
        intercalant="Mg",
        formula_discharged="MgCr2S4",
        calculator=label,
        stable_site=site,
        delta_e_site_ev=de,
        voltage_v=voltage,
        barrier_ev=barrier,
        neb_skipped_reason=skipped,
        state=state,
        failure_reasons=[] if state == "successful" else ["NEB forces not converged"],
        job_uuids={"relax_charged": f"{label}-relax", "pair_result": f"id-{label}"},
    )


def _block(*results, barrier=0.15, voltage=0.15):
    return committee_document([member_of(r.calculator, r) for r in results], barrier, voltage)


def test_members_that_agree_are_not_flagged_and_the_spread_is_theirs():
    block = _block(_member(SV, barrier=0.60, voltage=1.50), _member(CH, barrier=0.70, voltage=1.60))
    assert block.flag_reasons == []
    assert block.barrier_ev.spread == pytest.approx(0.10) and block.barrier_ev.mean == pytest.approx(0.65)
    assert block.barrier_ev.std == pytest.approx(0.05)  # population standard deviation
    assert (block.voltage_v.min, block.voltage_v.max, block.voltage_v.n) == (1.50, 1.60, 2)
    assert [m.label for m in block.members] == [SV, CH] and block.members[1].result_id == f"id-{CH}"


def test_members_that_disagree_on_the_stable_site_flag_the_pair_naming_members_and_sites():
    block = _block(_member(SV, site="tet", de=0.05), _member(CH, site="oct", de=-0.10), _member(MF))
    (reason,) = block.flag_reasons
    assert "stable site" in reason
    assert "SevenNet tet (+0.050 eV)" in reason and "chgnet-0.3.0 oct (-0.100 eV)" in reason
    assert "7net-mf-0-pbe tet" in reason


def test_a_barrier_spread_above_the_limit_flags_the_pair_with_both_numbers():
    block = _block(_member(SV, barrier=0.66), _member(CH, barrier=0.42), _member(MF, barrier=0.60))
    (reason,) = block.flag_reasons
    assert "barrier spread 0.240 eV exceeds max_barrier_spread_ev 0.15 eV" in reason
    assert "SevenNet 0.660, chgnet-0.3.0 0.420, 7net-mf-0-pbe 0.600 eV" in reason
    assert _block(_member(SV, barrier=0.66), _member(CH, barrier=0.42), barrier=0.25).flag_reasons == []


def test_a_voltage_spread_has_its_own_limit():
    members = (_member(SV, voltage=1.68), _member(CH, voltage=1.42))
    (reason,) = _block(*members).flag_reasons
    assert "voltage spread 0.260 V exceeds max_voltage_spread_v 0.15 V" in reason
    assert _block(*members, voltage=0.3).flag_reasons == []


def test_a_missing_barrier_is_disagreement_only_when_another_member_has_one():
    skipped = _member(CH, barrier=None, skipped="|dE_site| 1.2 eV > 1.0 eV")
    (reason,) = _block(_member(SV, barrier=0.6), skipped).flag_reasons
    assert reason.startswith("committee: barrier from SevenNet but not from chgnet-0.3.0 (NEB skipped: |dE")
    both = _block(_member(SV, barrier=None, skipped="x"), _member(CH, barrier=None, skipped="y"))
    assert both.flag_reasons == [] and both.barrier_ev.n == 0 and both.barrier_ev.spread is None


def test_the_void_of_another_host_is_not_compared():
    assert (
        _block(
            _member(SV, site="void 1/3 (free 2.10 Å)"), _member(CH, site="void 2/3 (free 2.31 Å)")
        ).flag_reasons
        == []
    )


def test_the_committee_result_carries_the_headline_and_a_failed_member_makes_it_partial():
    host = host_for("Cr2S4", "spinel")
    run = committee_result.original  # the job's function, outside a Flow (no store: nothing published)
    members = [_member(SV, barrier=0.66), _member(CH, barrier=0.42, state="partial")]
    result = run("c", "digest", host, "Mg", 1.0, [SV, CH], members, 0.15, 0.15)
    assert (result.calculator, result.barrier_ev, result.settings_digest) == (SV, 0.66, "digest")
    assert result.flagged and result.barrier_spread_ev == pytest.approx(0.24)
    assert result.state == "partial"
    assert result.failure_reasons == ["committee member chgnet-0.3.0 is partial: NEB forces not converged"]
    assert result.job_uuids["relax_charged"] == f"{SV}-relax"  # a refinement warm-starts from the headline's
    assert result.committee.members[1].barrier_ev == 0.42
    missing = run("c", "d", host, "Mg", 1.0, [SV, CH], [members[0], None], 0.15, 0.15)
    assert (
        missing.state == "partial"
        and "chgnet-0.3.0: its result did not complete" in missing.failure_reasons[0]
    )
    headless = run("c", "d", host, "Mg", 1.0, [SV, CH], [None, members[0]], 0.15, 0.15)
    assert headless.state == "failed" and headless.calculator == SV and headless.barrier_ev is None
    assert headless.committee.members[1].barrier_ev == 0.66  # the others' numbers are kept


# --- the graph ------------------------------------------------------------------------------


def test_the_committee_graph_is_the_members_single_model_graphs_plus_one_result_per_pair(campaign_file):
    from mvflows.flows import CampaignMaker, result_job_uuids

    def jobs(flow):
        return {j.uuid: j.name for j, _ in flow.iterflow()}

    settings = "  relax: {fmax: 0.1}\nneb: {images: 3}\n"
    committee = CampaignMaker().make(
        load_campaign(campaign_file(PAIR + "calculator:\n  committee: [chgnet-0.3.0]\n" + settings, "c.yaml"))
    )
    seven = jobs(
        CampaignMaker().make(load_campaign(campaign_file(PAIR + "calculator:\n" + settings, "s.yaml")))
    )
    chgnet = CampaignMaker().make(
        load_campaign(campaign_file(PAIR + "calculator:\n  model: CHGNet\n" + settings, "h.yaml"))
    )
    both = jobs(committee)
    assert set(seven) | set(jobs(chgnet)) <= set(both)  # same keys: either run reuses the other's jobs
    assert [both[u] for u in set(both) - set(seven) - set(jobs(chgnet))] == ["committee result MgCr2S4"]
    assert len(result_job_uuids(committee)) == 3  # the committee result and the members' own
    (pair,) = [f for f in committee.jobs if f.name == "Mg in Cr2S4"]  # what mvflows submit tags by pair
    assert pair.output.uuid in result_job_uuids(committee)


def test_a_refinement_reads_the_committee_results(campaign_file, tmp_path):
    from mvflows.flows import CampaignMaker

    (tmp_path / "vasp.yaml").write_text("encut: 520\n")
    text = PAIR + "calculator: {committee: [CHGNet]}\n"
    text += f"refine: {{calculator: fake-vasp, vasp_config: {tmp_path / 'vasp.yaml'}, flagged: true}}\n"
    flow = CampaignMaker().make(load_campaign(campaign_file(text)))
    refine = flow.jobs[-1]
    (screen,), *_ = refine.function_args
    (pair,) = [f for f in flow.jobs if f.name == "Mg in Cr2S4"]
    assert screen.uuid == pair.output.uuid  # the committee result, not a member's
    assert refine.function.__self__.pair_makers["spinel"].calculator_label == "fake-vasp:PBE"


# --- reading results ------------------------------------------------------------------------


def _published(tmp_path):
    """A committee result and its members' own results in a store, as a committee run leaves them."""
    from mvflows.store import publish_result, results_store

    host = host_for("Cr2S4", "spinel")
    members = [_member(SV, barrier=0.66), _member(CH, site="oct", de=-0.1, barrier=0.42)]
    result = committee_result.original("c", "d", host, "Mg", 1.0, [SV, CH], members, 0.15, 0.15)
    result.result_id = "id-committee"
    store = results_store(str(tmp_path / "store"))
    for doc in (*members, result):
        publish_result(store, doc)
    store.close()
    return tmp_path / "store"


def test_results_show_one_row_per_pair_with_spread_and_flag_and_members_on_request(tmp_path):
    store = _published(tmp_path)
    docs = json.loads(invoke("results", "--store", store, "--format", "json").stdout)
    assert [d["result_id"] for d in docs] == ["id-committee"]
    assert docs[0]["flagged"] and len(docs[0]["flag_reasons"]) == 2
    shown = invoke("results", "--store", store)
    assert re.search(r"│\s*flagged\s*│", shown.stdout) and re.search(r"│\s*0\.240\s*│", shown.stdout)
    assert "flagged: committee: members disagree on the stable site" in shown.stdout
    every = json.loads(invoke("results", "--store", store, "--format", "json", "--members").stdout)
    assert sorted(d["result_id"] for d in every) == sorted(["id-committee", f"id-{SV}", f"id-{CH}"])
    csv = invoke("results", "--store", store, "--format", "csv").stdout.splitlines()
    header = csv[0].split(",")
    row = dict(zip(header, csv[1].split(",")))  # no commas in these values
    assert row["flagged"] == "True" and row["barrier_spread_ev"].startswith("0.24")


def test_figures_draw_the_members_range_as_error_bars(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.container import ErrorbarContainer
    from matplotlib.figure import Figure

    from mvflows.plotting import site_barrier, voltage_capacity

    store = _published(tmp_path)
    (doc,) = json.loads(invoke("results", "--store", store, "--format", "json").stdout)
    doc["capacity_mah_g"] = 209.0
    plain = {**doc, "committee": None, "host": "Ti2S4", "result_id": "x"}
    for draw, title in ((voltage_capacity, "bars: committee min-max"), (site_barrier, "bars: committee")):
        fig = Figure()
        FigureCanvasAgg(fig)
        draw([doc, plain], fig)
        ax = fig.axes[0]
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 1 and title in ax.get_title()  # the committee's point only
    x_bar = bars[0].lines[2][0].get_segments()[0]  # site-barrier: the |dE_site| range first
    assert sorted(x_bar[:, 0]) == pytest.approx([0.1, 0.3])  # the two members' |dE_site|


def test_refine_flagged_picks_the_flagged_pairs_with_the_other_conditions():
    from mvflows.refine import RefineSettings, select

    docs = [
        {"host": "A", "state": "successful", "flagged": True, "barrier_ev": 0.9},
        {"host": "B", "state": "successful", "flagged": False, "barrier_ev": 0.4},
        {"host": "C", "state": "partial", "flagged": True, "barrier_ev": 0.5},
        {"host": "D", "state": "successful", "flagged": True, "barrier_ev": 0.3},
        {"host": "E", "state": "successful", "barrier_ev": 0.2},  # a result without a committee
    ]
    picked = [docs[i]["host"] for i in select(docs, RefineSettings(flagged=True))]
    assert picked == ["A", "D"]
    assert [docs[i]["host"] for i in select(docs, RefineSettings(flagged=True, top=1))] == ["D"]
    rule = RefineSettings(flagged=True, states=["successful", "partial"], where={"barrier_ev": {"max": 0.6}})
    assert [docs[i]["host"] for i in select(docs, rule)] == ["C", "D"]
    assert len(select(docs, RefineSettings())) == 4  # flagged: false is no condition
