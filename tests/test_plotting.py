"""Figures: each kind draws a non-trivial image; missing data is a one-line error."""

import pytest
from conftest import mvflows_cli as _mvflows
from conftest import synthetic_docs
from matplotlib.text import Text

from mvflows.plotting import KINDS, NothingToPlot, plot, redox_metal

DOCS = [
    {
        "host": "Cr2S4",
        "intercalant": "Mg",
        "formula_discharged": "MgCr2S4",
        "voltage_v": 1.5,
        "capacity_mah_g": 209,
        "delta_e_site_ev": 0.4,
        "barrier_ev": 0.6,
        "neb_energies_ev": [0, 0.3, 0.6, 0.3, 0.0],
        "e_hull_charged_ev_atom": 0.05,
        "e_hull_discharged_ev_atom": 0.0,
    },
    {
        "host": "VS4",
        "intercalant": "Ca",
        "formula_discharged": "CaVS4",
        "voltage_v": 2.0,
        "capacity_mah_g": 245,
        "delta_e_site_ev": 0.2,
        "barrier_ev": 1.2,
        "redox_metal": "V",
        "hops": [
            {"kind": "along-chain", "neb_energies_ev": [0, 1.2, 0]},
            {"kind": "between-S2", "neb_energies_ev": [0, 1.5, 0]},
        ],
    },
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_each_figure_renders(tmp_path, kind, suffix):
    path = plot(kind, DOCS, tmp_path / f"{kind}{suffix}")
    assert path.stat().st_size > 5_000
    if suffix == ".svg":
        text = path.read_text()
        assert "<svg" in text and text.count("<path") > 10
        assert text.count("<text") >= 4  # title and axis labels kept as text


def test_redox_metal_labels():
    assert redox_metal({"host": "Cr2S4"}) == "Cr"
    assert redox_metal({"host": "Mo6S8"}) == "Mo"
    assert redox_metal({"host": "V2O5"}) == "V"


def test_nothing_to_plot():
    with pytest.raises(NothingToPlot):
        plot("hull", [{"host": "Cr2S4", "intercalant": "Mg"}], "x.png")


def test_plot_cli_errors(tmp_path):
    out = _mvflows("plot", "bogus", "--store", "mongomock://p")
    assert out.returncode == 2 and out.stderr.startswith("error:")
    assert len(out.stderr.strip().splitlines()) == 1
    out = _mvflows("plot", "neb", "--store", "mongomock://p", "-o", str(tmp_path / "x.pdf"))
    assert out.returncode == 2 and "png or .svg" in out.stderr
    out = _mvflows("plot", "neb", "--store", "mongomock://p", "-o", str(tmp_path / "x.png"))
    assert out.returncode == 1 and "nothing to plot" in out.stderr


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure()
    FigureCanvasAgg(fig)
    return fig


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _bands(ax):
    """label -> line of every NEB band drawn in a panel (not the zero line or clip markers)."""
    return {line.get_label(): line for line in ax.lines if not line.get_label().startswith("_")}


def test_neb_legend_names_the_model_when_stores_hold_several():
    from mvflows.plotting import neb_profiles

    two = [{**DOCS[0], "calculator": "forcefield:SevenNet"}, {**DOCS[0], "calculator": "forcefield:CHGNet"}]
    fig = _figure()
    neb_profiles(two, fig)
    labels = _legend(fig.axes[0])
    assert any("[SevenNet]" in t for t in labels) and any("[CHGNet]" in t for t in labels)
    fig = _figure()
    neb_profiles(two[:1], fig)
    assert not any("[" in t for t in _legend(fig.axes[0]))


def _visible(fig):
    return [ax for ax in fig.axes if ax.get_visible()]


def test_neb_small_multiples_one_panel_per_host_one_line_per_ion():
    from mvflows.plotting import neb_profiles

    docs = synthetic_docs(35)
    fig = _figure()
    neb_profiles(docs, fig)
    panels = {ax.get_title(): ax for ax in _visible(fig)}
    assert set(panels) == {d["host"] for d in docs} and len(panels) == 12
    for host, ax in panels.items():
        ions = [d["intercalant"] for d in docs if d["host"] == host]
        assert [t.split(":")[0] for t in _legend(ax)] == ions
        assert list(_bands(ax)) == _legend(ax)
        assert all(len(line.get_xdata()) == 5 and line.get_marker() != "None" for line in _bands(ax).values())
    w, h = fig.get_size_inches()
    assert w <= 15 and h <= 12  # 12 panels in 4 columns, not one 35-line panel or a 35-panel strip


def test_neb_outlier_is_clipped_not_flattening_its_panel():
    from mvflows.plotting import neb_profiles

    docs = synthetic_docs(35)
    fig = _figure()
    neb_profiles(docs, fig)
    panels = {ax.get_title(): ax for ax in _visible(fig)}
    v2s4 = panels["V2S4"]  # Mg, Zn below 1.4 eV; Ca (12 eV) clipped with its peak written
    others = max(d["barrier_ev"] for d in docs if d["host"] == "V2S4" and d["intercalant"] != "Ca")
    hi = v2s4.get_ylim()[1]
    assert others < hi < 2 * others
    assert any(t.get_text() == "12.0 eV" for t in v2s4.texts)
    for host, ax in panels.items():  # nothing else clipped: each panel shows its own peaks whole
        if host != "V2S4":
            assert ax.get_ylim()[1] >= max(d["barrier_ev"] for d in docs if d["host"] == host)
            assert not ax.texts


def test_neb_x_axis_is_distance_in_angstrom_where_known():
    from mvflows.plotting import neb_profiles

    base = {**DOCS[0], "state": "successful"}
    fig = _figure()
    neb_profiles([{**base, "neb_path_distance_a": [0.0, 1.1, 2.0, 2.9, 4.1]}], fig)
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == [0.0, 1.1, 2.0, 2.9, 4.1]
    assert ax.get_xlabel() == "distance along the path (Å)"
    fig = _figure()
    hops = [{**h, "length_a": 3.0} for h in DOCS[1]["hops"]]
    neb_profiles([{**DOCS[1], "hops": hops}], fig)  # hops: their length with evenly spaced images
    ax = fig.axes[0]
    assert ax.get_xlabel() == "distance along the path (Å)" and ax.lines[0].get_xdata()[-1] == 3.0
    fig = _figure()
    neb_profiles([base], fig)  # neither: say so rather than invent a length
    assert fig.axes[0].get_xlabel() == "fraction of the path"


def test_neb_flawed_bands_are_dashed_and_labelled():
    from mvflows.plotting import neb_profiles

    hops = [
        {"kind": "a", "length_a": 3, "neb_energies_ev": [0, 0.5, 0], "converged": False},
        {"kind": "b", "length_a": 3, "neb_energies_ev": [0, 0.7, 0], "failure_reasons": ["dip"]},
        {"kind": "c", "length_a": 3, "neb_energies_ev": [0, 0.9, 0]},
    ]
    fig = _figure()
    failed = {**DOCS[0], "host": "VS4", "intercalant": "Mg", "state": "failed"}
    neb_profiles([{**DOCS[1], "hops": hops}, failed], fig)
    ax = fig.axes[0]
    styles = {t: line.get_linestyle() for t, line in _bands(ax).items()}
    assert styles == {
        "Ca a: 0.50 eV (not converged)": "--",
        "Ca b: 0.70 eV (partial)": "--",
        "Ca c: 0.90 eV": "-",
        "Mg: 0.60 eV (failed)": "--",
    }


def _label_boxes(fig, texts):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    # the text's own box: an annotation's extent includes its leader line, which may cross others
    return ax, [Text.get_window_extent(t, renderer) for t in ax.texts if t.get_text().split()[0] in texts]


def _assert_apart(ax, boxes, points):
    frame = ax.get_window_extent()
    for i, a in enumerate(boxes):
        assert frame.x0 - 1 <= a.x0 and a.x1 <= frame.x1 + 1 and frame.y0 - 1 <= a.y0 and a.y1 <= frame.y1 + 1
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
        for x, y in points:  # no label covers a point
            assert not (a.x0 < x < a.x1 and a.y0 < y < a.y1)


@pytest.mark.parametrize("kind", ["voltage-capacity", "site-barrier"])
def test_point_labels_do_not_overlap_with_35_pairs(kind):
    from mvflows.plotting import redox_metal, site_barrier, voltage_capacity

    docs = synthetic_docs(35)
    fig = _figure()
    (voltage_capacity if kind == "voltage-capacity" else site_barrier)(docs, fig)
    metals = {redox_metal(d) for d in docs}
    ax, boxes = _label_boxes(fig, metals)
    assert len(boxes) == 35
    points = [p for c in ax.collections for p in ax.transData.transform(c.get_offsets())]
    assert len(points) == 35
    _assert_apart(ax, boxes, points)
    if kind == "site-barrier":  # the 12 eV barrier sits on the top edge, value written, scale kept
        assert ax.get_ylim()[1] < 2 and any(t.get_text() == "V 12.0 eV" for t in ax.texts)


def test_hull_tick_labels_do_not_overlap_with_35_pairs():
    from mvflows.plotting import hull

    fig = _figure()
    hull(synthetic_docs(35), fig)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in fig.axes[0].get_xticklabels()]
    assert len(boxes) == 35
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
