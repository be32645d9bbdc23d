"""Figures: each kind draws a non-trivial image; missing data is a one-line error."""

import pytest

from mvflows.plotting import KINDS, NothingToPlot, plot, redox_metal
from conftest import mvflows_cli as _mvflows

DOCS = [
    {"host": "Cr2S4", "intercalant": "Mg", "formula_discharged": "MgCr2S4", "voltage_v": 1.5, "capacity_mah_g": 209,
     "delta_e_site_ev": 0.4, "barrier_ev": 0.6, "neb_energies_ev": [0, 0.3, 0.6, 0.3, 0.0],
     "e_hull_charged_ev_atom": 0.05, "e_hull_discharged_ev_atom": 0.0},
    {"host": "VS4", "intercalant": "Ca", "formula_discharged": "CaVS4", "voltage_v": 2.0, "capacity_mah_g": 245,
     "delta_e_site_ev": 0.2, "barrier_ev": 1.2, "redox_metal": "V",
     "hops": [{"kind": "along-chain", "neb_energies_ev": [0, 1.2, 0]}, {"kind": "between-S2", "neb_energies_ev": [0, 1.5, 0]}]},
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
    assert out.returncode == 2 and out.stderr.startswith("error:") and len(out.stderr.strip().splitlines()) == 1
    out = _mvflows("plot", "neb", "--store", "mongomock://p", "-o", str(tmp_path / "x.pdf"))
    assert out.returncode == 2 and "png or .svg" in out.stderr
    out = _mvflows("plot", "neb", "--store", "mongomock://p", "-o", str(tmp_path / "x.png"))
    assert out.returncode == 1 and "nothing to plot" in out.stderr


def test_neb_legend_names_the_model_when_stores_hold_several(tmp_path):
    import matplotlib.pyplot as plt

    from mvflows.plotting import neb_profiles

    two = [{**DOCS[0], "calculator": "forcefield:SevenNet"}, {**DOCS[0], "calculator": "forcefield:CHGNet"}]
    fig, ax = plt.subplots()
    neb_profiles(two, ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("[SevenNet]" in t for t in labels) and any("[CHGNet]" in t for t in labels)
    fig, ax = plt.subplots()
    neb_profiles(two[:1], ax)
    assert not any("[" in t.get_text() for t in ax.get_legend().get_texts())
