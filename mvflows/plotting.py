"""The study's figures from stored pair results (matplotlib, PNG or SVG by file suffix).

* ``hull``: energy above the hull per compound, charged and discharged;
* ``neb``: NEB energy profiles (every stored hop);
* ``site-barrier``: site-energy difference versus barrier;
* ``voltage-capacity``: average voltage versus gravimetric capacity, with iso-specific-energy
  curves at 200, 300 and 400 Wh/kg, points labelled by redox metal, coloured by intercalant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text (searchable, editable)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from pymatgen.core import Composition  # noqa: E402

KINDS = ("hull", "neb", "site-barrier", "voltage-capacity")
ISO_ENERGIES_WH_KG = (200, 300, 400)
ION_COLOURS = {"Mg": "tab:orange", "Ca": "tab:green", "Zn": "tab:blue", "Y": "tab:purple", "Al": "tab:gray"}


class NothingToPlot(ValueError):
    """The store holds none of the values this figure needs."""


def _colour(ion: str) -> str:
    return ION_COLOURS.get(ion, "black")


def redox_metal(doc: dict[str, Any]) -> str:
    """The redox metal of a pair: the host's metal (Cr of Cr2S4, V of VS4, Mo of Mo6S8)."""
    if doc.get("redox_metal"):
        return str(doc["redox_metal"])
    host = str(doc.get("host", "")).split("-")[0]
    try:
        metals = [el.symbol for el in Composition(host).elements if el.is_metal or el.is_transition_metal]
    except (ValueError, KeyError):
        return host
    return metals[0] if metals else host


def _label(doc: dict[str, Any]) -> str:
    return f"{doc.get('intercalant')} in {doc.get('host')}"


def voltage_capacity(docs: list[dict[str, Any]], ax: plt.Axes) -> None:
    rows = [d for d in docs if d.get("voltage_v") is not None and d.get("capacity_mah_g") is not None]
    if not rows:
        raise NothingToPlot("no pair in the store has a voltage and a capacity")
    cmax = max(400.0, max(d["capacity_mah_g"] for d in rows) * 1.15)
    vmax = max(3.0, max(d["voltage_v"] for d in rows) * 1.2)
    c = np.linspace(1.0, cmax, 400)
    for e in ISO_ENERGIES_WH_KG:
        ax.plot(c, e / c, ls="--", lw=0.8, color="0.5")
        x = cmax * 0.98  # label each curve at the right edge, where the curves are apart
        ax.annotate(f"{e} Wh/kg", (x, e / x), fontsize=7, color="0.35", ha="right", va="bottom")
    seen = set()
    for d in rows:
        ion = d.get("intercalant", "?")
        ax.scatter(d["capacity_mah_g"], d["voltage_v"], color=_colour(ion), s=36, zorder=3,
                   label=ion if ion not in seen else None, edgecolors="k", linewidths=0.4)
        seen.add(ion)
        ax.annotate(redox_metal(d), (d["capacity_mah_g"], d["voltage_v"]), xytext=(4, 3),
                    textcoords="offset points", fontsize=8)
    ax.set_xlim(0, cmax)
    ax.set_ylim(min(0.0, min(d["voltage_v"] for d in rows) - 0.2), vmax)
    ax.set_xlabel("gravimetric capacity (mAh/g)")
    ax.set_ylabel("average voltage (V)")
    ax.set_title("Average voltage vs capacity (dashed: specific energy)")
    ax.legend(title="intercalant", fontsize=8)


def _profiles(doc: dict[str, Any]) -> list[tuple[str, list[float]]]:
    out = []
    for hop in doc.get("hops") or []:
        if hop.get("neb_energies_ev"):
            out.append((f"{_label(doc)} {hop.get('kind') or ''}".strip(), hop["neb_energies_ev"]))
    if not out and doc.get("neb_energies_ev"):
        out.append((_label(doc), doc["neb_energies_ev"]))
    return out


def neb_profiles(docs: list[dict[str, Any]], ax: plt.Axes) -> None:
    models = {d.get("calculator") for d in docs}
    curves = [  # name the model when several are drawn together (stores read side by side)
        (f"{label} [{str(d.get('calculator')).split(':')[-1]}]" if len(models) > 1 else label, e)
        for d in docs
        for label, e in _profiles(d)
    ]
    if not curves:
        raise NothingToPlot("no pair in the store has an NEB energy profile")
    for label, energies in curves:
        e = np.asarray(energies, float)
        x = np.linspace(0.0, 1.0, len(e))
        ax.plot(x, e - e[0], marker="o", ms=3, label=f"{label} ({e.max() - e.min():.2f} eV)")
    ax.set_xlabel("reaction coordinate (fraction of path)")
    ax.set_ylabel("energy relative to start (eV)")
    ax.set_title("NEB energy profiles")
    ax.legend(fontsize=6, ncol=2)


def site_barrier(docs: list[dict[str, Any]], ax: plt.Axes) -> None:
    rows = [d for d in docs if d.get("delta_e_site_ev") is not None and d.get("barrier_ev") is not None]
    if not rows:
        raise NothingToPlot("no pair in the store has both a site-energy difference and a barrier")
    lim = max(max(abs(d["delta_e_site_ev"]) for d in rows), max(d["barrier_ev"] for d in rows)) * 1.1
    ax.plot([0, lim], [0, lim], ls=":", color="0.5", label="barrier = |dE_site| (lower bound)")
    seen = set()
    for d in rows:
        ion = d.get("intercalant", "?")
        ax.scatter(abs(d["delta_e_site_ev"]), d["barrier_ev"], color=_colour(ion), s=36,
                   label=ion if ion not in seen else None, edgecolors="k", linewidths=0.4, zorder=3)
        seen.add(ion)
        ax.annotate(redox_metal(d), (abs(d["delta_e_site_ev"]), d["barrier_ev"]), xytext=(4, 3),
                    textcoords="offset points", fontsize=8)
    ax.set_xlabel("|dE_site| = |E(site 2) - E(site 1)| per ion (eV)")
    ax.set_ylabel("migration barrier (eV)")
    ax.set_title("Site-energy difference vs NEB barrier")
    ax.legend(fontsize=8)


def hull(docs: list[dict[str, Any]], ax: plt.Axes) -> None:
    rows = [d for d in docs if d.get("e_hull_charged_ev_atom") is not None
            or d.get("e_hull_discharged_ev_atom") is not None]
    if not rows:
        raise NothingToPlot("no pair in the store has hull energies (run with stability enabled)")
    names, charged, discharged = [], [], []
    for d in rows:
        names.append(f"{d.get('formula_discharged')}\n/{d.get('host')}")
        charged.append(d.get("e_hull_charged_ev_atom"))
        discharged.append(d.get("e_hull_discharged_ev_atom"))
    x = np.arange(len(rows))
    w = 0.4
    ax.bar(x - w / 2, [v if v is not None else np.nan for v in charged], w, label="charged", color="tab:blue")
    ax.bar(x + w / 2, [v if v is not None else np.nan for v in discharged], w, label="discharged", color="tab:red")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("energy above hull (eV/atom)")
    ax.set_title("Stability: energy above the convex hull")
    ax.legend(fontsize=8)


_DRAW = {"hull": hull, "neb": neb_profiles, "site-barrier": site_barrier, "voltage-capacity": voltage_capacity}


def plot(kind: str, docs: list[dict[str, Any]], path: str | Path) -> Path:
    """Draw figure ``kind`` from result documents into ``path`` (.png or .svg)."""
    if kind not in _DRAW:
        raise ValueError(f"unknown figure {kind!r} (one of: {', '.join(KINDS)})")
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"output {path} must end in .png or .svg")
    fig, ax = plt.subplots(figsize=(7, 5))
    try:
        _DRAW[kind](docs, ax)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    finally:
        plt.close(fig)
    return path
