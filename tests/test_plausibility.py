"""Plausibility checks of NEB bands (mvflows.plausibility): synthetic profiles, the graph, the result."""

import dataclasses

import numpy as np
import pytest
from emmet.core.neb import NebResult
from pymatgen.core import Lattice, Structure
from rich.console import Console

from mvflows import plausibility
from mvflows.campaign import Campaign
from mvflows.flows import pair_maker_for
from mvflows.jobs.hop_neb import intermediate_structure, summarise_neb
from mvflows.jobs.hops import collect_limits
from mvflows.keys import canonical
from mvflows.neb_path import spinel_hop
from mvflows.report import build_report
from mvflows.reporting import notes, table, to_csv
from mvflows.schemas import NebSummary, PairResult
from mvflows.structures import charged_spinel

VIA = [5.0, 5.0, 5.0]


def _band(n=9, length=4.0):
    """``n`` images of one Mg moving straight through VIA (the middle image on it); the S frame fixed."""
    lattice = Lattice.cubic(10.0)
    frame = [[1.0, 1.0, 1.0], [8.0, 2.0, 3.0]]
    images = []
    for k in range(n):
        x = VIA[0] - length / 2 + length * k / (n - 1)
        ion = [x, 5.0, 5.0]
        images.append(Structure(lattice, ["S", "S", "Mg"], [*frame, ion], coords_are_cartesian=True))
    return images


def _site_structure(shift=0.0):
    s = _band()[0].copy()
    s.replace(2, "Mg", [VIA[0] + shift, 5.0, 5.0], coords_are_cartesian=True)
    return s


# a double-humped tet -> oct -> tet profile: maxima at images 2 and 6 (25 %, 75 %), oct dip at image 4
DOUBLE = [0.0, 0.3, 0.66, 0.4, 0.15, 0.4, 0.66, 0.3, 0.0]
# one hump on the intermediate site (50 %)
SINGLE = [0.0, 0.3, 0.9, 1.6, 2.0, 1.6, 0.9, 0.3, 0.0]


def _intermediate(energies, site_ev, **kwargs):
    e0 = -600.0
    images = kwargs.pop("images", _band(len(energies)))
    return plausibility.check_intermediate(
        [e0 + e for e in energies],
        images,
        2,
        "oct",
        VIA,
        None if site_ev is None else e0 + site_ev,
        kwargs.pop("site_structure", _site_structure()),
        kwargs.pop("tolerance_ev", 0.1),
        **kwargs,
    )


def test_a_middle_image_1_ev_above_the_relaxed_site_is_flagged():
    # the middle image at 1.15 eV, the ion relaxed on the oct site at 0.15 eV
    check = _intermediate([*DOUBLE[:4], 1.15, *DOUBLE[5:]], 0.15)
    assert check.status == "flagged" and check.check == "intermediate_site"
    assert check.values["middle_image_ev"] == pytest.approx(1.15)
    assert check.values["relaxed_site_ev"] == pytest.approx(0.15)
    assert check.values["excess_ev"] == pytest.approx(1.0)
    assert "1.000 eV above" in check.reason and "1.150 against 0.150 eV" in check.reason
    assert plausibility.flag_reasons([check]) == [f"intermediate_site: {check.reason}"]


def test_a_middle_image_0_05_ev_above_the_relaxed_site_passes():
    check = _intermediate(DOUBLE, 0.10)
    assert check.status == "passed" and check.values["excess_ev"] == pytest.approx(0.05)
    assert plausibility.flag_reasons([check]) == []
    # below the relaxed site (the band found a lower way through the void) is no flag either
    assert _intermediate(DOUBLE, 0.5).status == "passed"


def test_the_tolerance_is_the_campaigns():
    assert _intermediate(DOUBLE, 0.10, tolerance_ev=0.01).status == "flagged"


@pytest.mark.parametrize(
    "kwargs, site_ev, expected",
    [
        ({"relaxed": False}, 0.1, "not relaxed (neb.relax_intermediate: false)"),
        ({}, None, "did not complete"),
        # an even number of images: none in the middle
        ({"images": _band(8)}, 0.1, "no band image lies on the intermediate oct site"),
        ({"site_structure": _site_structure(shift=1.2)}, 0.1, "the ion left the intermediate oct site"),
    ],
)
def test_the_intermediate_check_says_why_it_could_not_be_made(kwargs, site_ev, expected):
    energies = DOUBLE if "images" not in kwargs else [0.0, 0.3, 0.6, 0.3, 0.3, 0.6, 0.3, 0.0]
    check = _intermediate(energies, site_ev, **kwargs)
    assert check.status == "unchecked" and expected in check.reason


def test_maxima_at_25_and_75_percent_pass_and_at_50_percent_are_flagged():
    coordinate = list(np.linspace(0, 1, 9))
    good = plausibility.check_maximum(DOUBLE, coordinate, "oct", 0.125)
    assert good.status == "passed" and good.values["maximum_at"] == pytest.approx(0.25)
    bad = plausibility.check_maximum(SINGLE, coordinate, "oct", 0.125)
    assert bad.status == "flagged" and bad.values["maximum_at"] == pytest.approx(0.5)
    assert "50 % of the path" in bad.reason and "closest to the intermediate oct site" in bad.reason
    # at an end: the band never rises above its start
    falling = plausibility.check_maximum([0.3, 0.2, 0.1, 0.0, 0.1], None, "tet", 0.125)
    assert falling.status == "flagged" and "closest to the start" in falling.reason
    # the window is the campaign's: 37.5 % is 12.5 % from a face
    near = [0.0, 0.3, 0.5, 0.66, 0.4, 0.66, 0.5, 0.3, 0.0]
    assert plausibility.check_maximum(near, coordinate, "oct", 0.125).status == "passed"
    assert plausibility.check_maximum(near, coordinate, "oct", 0.1).status == "flagged"


def _neb(energies, images):
    return NebResult(energies=[-600.0 + e for e in energies], images=images, tags=["neb force converged"])


def test_summary_of_a_spinel_band_runs_both_checks():
    s = summarise_neb.original(
        _neb(SINGLE, _band()), -600.0, None, "tet-oct-tet", 4.0, 0.02, "u",
        intermediate="oct", via=VIA, site_energy=-600.0 + 0.2, site_structure=_site_structure(),
    )  # fmt: skip
    assert [c.check for c in s.plausibility] == ["intermediate_site", "maximum_position"]
    assert [c.status for c in s.plausibility] == ["flagged", "flagged"]
    assert len(s.flag_reasons) == 2 and s.flag_reasons[0].startswith("intermediate_site: ")
    assert s.failure_reasons == []  # a flag is not a failure: the band converged
    assert s.plausibility[0].values["excess_ev"] == pytest.approx(1.8)


def test_a_hop_without_an_intermediate_site_records_that_the_checks_do_not_apply():
    s = summarise_neb.original(_neb([0.0, 0.5, 0.0], _band(3)), -600.0, -600.0, "along-chain", 4.3, 0.02, "u")
    assert [c.status for c in s.plausibility] == ["not_applicable", "not_applicable"]
    assert all("passes no intermediate site (along-chain)" in c.reason for c in s.plausibility)
    assert s.flag_reasons == []


def test_limits_and_the_pair_carry_the_flags():
    flagged = NebSummary(
        barrier_ev=2.0,
        plausibility=plausibility.not_applicable("x"),
        flag_reasons=["maximum_position: at 50 %"],
    )
    quiet = NebSummary(barrier_ev=0.5)
    both = collect_limits.original([quiet, flagged], ["dilute", "vacancy"])
    assert both.flag_reasons == ["vacancy limit: maximum_position: at 50 %"]
    assert both.limits["vacancy"].plausibility == flagged.plausibility and both.plausibility == []
    result = PairResult(
        campaign="c", host="Cr2S4", intercalant="Mg", formula_discharged="MgCr2S4", calculator="x",
        state="successful", flag_reasons=both.flag_reasons,
    )  # fmt: skip
    assert result.flagged and result.state == "successful"
    assert not PairResult(**{**result.model_dump(), "flag_reasons": [], "flagged": False}).flagged


def _spinel_neb_flow(**settings):
    maker = pair_maker_for(Campaign(name="t", hosts=["Cr2S4"], intercalants=["Mg"], neb=settings))
    return maker.hops.neb, maker.hops.neb.make(spinel_hop(charged_spinel("Cr"), "Mg", "tet"))


def test_the_intermediate_site_is_relaxed_like_the_endpoints_to_its_own_fmax():
    neb, flow = _spinel_neb_flow()
    jobs = {j.name: j for j, _ in flow.iterflow()}
    site = jobs["relax (fixed cell) NEB intermediate oct"]
    start = jobs["relax (fixed cell) NEB start"]
    assert canonical(start.function.__self__) == canonical(neb.endpoint_relax_maker)
    # the endpoints' relax (fixed cell, same model and steps) but to neb.intermediate_fmax:
    # its energy feeds only the check, never the barrier
    site_maker, start_maker = site.function.__self__, start.function.__self__
    assert site_maker.relax_kwargs == {"fmax": 0.05} and start_maker.relax_kwargs == {"fmax": 0.02}
    assert canonical(dataclasses.replace(site_maker, relax_kwargs=start_maker.relax_kwargs)) == canonical(
        start_maker
    )
    tight, tight_flow = _spinel_neb_flow(intermediate_fmax=0.02)
    tight_site = {j.name: j for j, _ in tight_flow.iterflow()}["relax (fixed cell) NEB intermediate oct"]
    assert canonical(tight_site.function.__self__) == canonical(tight.endpoint_relax_maker)
    assert tight_site.uuid != site.uuid  # the looser relax is a different job, not a stored one reused
    # from the relaxed start's framework, the ion moved onto the void
    placed = jobs["NEB intermediate oct (ion on the void)"]
    assert site.function_args[0].uuid == placed.uuid
    assert placed.function_args[0].uuid == start.uuid
    assert placed.function_args[1] == spinel_hop(charged_spinel("Cr"), "Mg", "tet").via
    summary = jobs["NEB summary"]
    assert summary.function_kwargs["site_energy"].uuid == site.uuid
    assert summary.function_kwargs["intermediate"] == "oct"
    assert list(jobs)[-1] == "NEB summary"  # the band's output is still its last job


def test_the_checks_settings_change_only_the_summary():
    _, base = _spinel_neb_flow()
    _, looser = _spinel_neb_flow(intermediate_tolerance_ev=0.3, maximum_window=0.2)
    a = {j.name: j.uuid for j, _ in base.iterflow()}
    b = {j.name: j.uuid for j, _ in looser.iterflow()}
    assert {n for n in a if a[n] != b[n]} == {"NEB summary"}
    _, off = _spinel_neb_flow(relax_intermediate=False)
    names = [j.name for j, _ in off.iterflow()]
    assert not any("intermediate" in n for n in names)
    assert {n: u for n, u in a.items() if n in names and n != "NEB summary"} == {
        j.name: j.uuid for j, _ in off.iterflow() if j.name != "NEB summary"
    }


def test_the_ion_is_held_on_the_void_and_everything_else_relaxes():
    hop = spinel_hop(charged_spinel("Cr"), "Mg", "tet")
    relaxed = hop.start.copy()
    relaxed.translate_sites([0], [0.05, 0, 0], frac_coords=False)
    site = intermediate_structure(relaxed, hop.via)
    assert site.cart_coords[0] == pytest.approx(relaxed.cart_coords[0])  # the relaxed framework
    assert site.cart_coords[-1] == pytest.approx(hop.via)
    flags = site.site_properties["selective_dynamics"]
    assert flags[-1] == [False] * 3 and all(f == [True] * 3 for f in flags[:-1])
    assert "selective_dynamics" not in relaxed.site_properties and hop.intermediate == "oct"


def _flagged_doc():
    check = plausibility.check_maximum(SINGLE, None, "oct", 0.125)
    return PairResult(
        campaign="c", host="Cr2S4", intercalant="Mg", formula_discharged="MgCr2S4",
        calculator="forcefield:SevenNet", state="successful", barrier_ev=2.0, plausibility=[check],
        flag_reasons=plausibility.flag_reasons([check]),
    ).model_dump(mode="json")  # fmt: skip


def test_results_show_the_flag_and_why(tmp_path):
    doc = _flagged_doc()
    quiet = {**doc, "host": "Ti2S4", "flagged": False, "flag_reasons": [], "plausibility": []}
    console = Console(width=250, record=True)
    console.print(table([doc, quiet]))
    text = console.export_text()
    assert "flag" in text and "flagged" in text.split("Ti2S4")[0]
    (line,) = notes([doc, quiet])
    assert line.startswith("Mg in Cr2S4 (c): flagged: maximum_position: the band's highest image")
    csv = to_csv([doc, quiet]).splitlines()
    assert "flagged" in csv[0].split(",") and "flag_reasons" in csv[0].split(",")
    assert ",True," in csv[1] and "maximum_position" in csv[1] and ",False," in csv[2]
    index = build_report([doc], tmp_path / "r", source="synthetic")
    page = next((tmp_path / "r" / "pairs").glob("*.html")).read_text(encoding="utf-8")
    assert "Plausibility checks" in page and "maximum_position" in page and "flagged" in page
    assert ">flagged<" in index.read_text(encoding="utf-8")


def test_host_hops_keep_each_hops_checks_and_name_the_hop_in_its_flags(monkeypatch):
    import mvflows.jobs.hops as hops

    monkeypatch.setattr(hops, "percolating_barrier", lambda *a, **k: 0.5)
    direct = summarise_neb.original(
        _neb([0.0, 0.5, 0.0], _band(3)), -600.0, -600.0, "along-chain", 4.3, 0.02, "u"
    )
    doubted = direct.model_copy(update={"flag_reasons": ["maximum_position: at 50 %"]})
    out = hops.collect_hops.original(
        [direct, doubted], ["along-chain", "between-S2"], [0, 1], [4.3, 2.8], None, "Mg", [0, 0, 0], 6.5
    )
    assert [h.plausibility for h in out.hops] == [direct.plausibility, doubted.plausibility]
    assert out.plausibility == direct.plausibility and out.flag_reasons == [
        "between-S2 hop: maximum_position: at 50 %"
    ]
