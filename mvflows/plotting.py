"""The study's figures from stored pair results (matplotlib, PNG or SVG by file suffix).

* ``hull``: energy above the hull per compound, charged and discharged;
* ``neb``: NEB energy profiles as small multiples, one panel per host, one line per
  intercalant (and hop); see :func:`neb_profiles` for the x axis and the outlier rule;
* ``site-barrier``: site-energy difference versus barrier;
* ``voltage-capacity``: average voltage versus gravimetric capacity, with iso-specific-energy
  curves at 200, 300 and 400 Wh/kg, points labelled by redox metal, coloured by intercalant.

A committee result (``committee`` block) is drawn at its headline model's numbers with error
bars from the lowest to the highest member's value (voltage; |dE_site| and barrier).

A campaign has 20 to 40 pairs, so every figure grows with them (panels, figure width) and
point labels are spread apart (:func:`spread_labels`) rather than drawn on top of each other.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pymatgen.core import Composition

matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text (searchable, editable)

KINDS = ("hull", "neb", "site-barrier", "voltage-capacity")
ISO_ENERGIES_WH_KG = (200, 300, 400)
ION_COLOURS = {"Mg": "tab:orange", "Ca": "tab:green", "Zn": "tab:blue", "Y": "tab:purple", "Al": "tab:gray"}
MARKERS = ("o", "s", "^", "D", "v", "P")  # several bands of one ion in a panel (hops, models)
PANEL_COLUMNS = 4
# An outlier lies above both OUTLIER_FACTOR times a reference and the reference plus
# OUTLIER_MARGIN_EV (reference: an NEB panel's lowest peak, the median barrier of
# site-barrier). It is clipped at the top edge with a marker and its value written, so one
# 12 eV band does not flatten the 0.5 eV ones.
OUTLIER_FACTOR = 4.0
OUTLIER_MARGIN_EV = 1.5
POINT_RADIUS_PT = 4.0  # scatter markers (s=36 is a 6 pt disc) plus a margin
LEADER = {"arrowstyle": "-", "lw": 0.5, "color": "0.45", "shrinkA": 0, "shrinkB": 3}  # label to its point


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


def _model(doc: dict[str, Any]) -> str:
    return str(doc.get("calculator")).split(":")[-1]


# ---------------------------------------------------------------- label placement
def _text_size(ax: Axes, text: str, fontsize: float, renderer: Any) -> tuple[float, float]:
    probe = ax.text(0, 0, text, fontsize=fontsize)
    box = probe.get_window_extent(renderer)
    probe.remove()
    return box.width, box.height


def _push(
    pos: np.ndarray,
    half: np.ndarray,
    other: np.ndarray,
    other_half: np.ndarray,
    share: float,
    tie: np.ndarray | None = None,
) -> np.ndarray:
    """How far to move each box (centres ``pos``, half sizes ``half``) off the boxes ``other``.

    Each overlapping pair moves apart along the axis where it overlaps least, by ``share``
    of the overlap (half each when labels push each other, all of it off a fixed box).
    ``tie`` (labels against labels) picks the direction of boxes at the same place and,
    being 0 on the diagonal, keeps a box from pushing itself.
    """
    d = pos[:, None, :] - other[None, :, :]
    overlap = half[:, None, :] + other_half[None, :, :] - np.abs(d)
    hit = (overlap > 0).all(axis=2) & (True if tie is None else tie != 0)
    axis = np.argmin(overlap, axis=2)
    sign = np.sign(np.take_along_axis(d, axis[..., None], 2)[..., 0])
    sign[sign == 0] = 1.0 if tie is None else tie[sign == 0]
    amount = np.where(hit, share * np.take_along_axis(overlap, axis[..., None], 2)[..., 0] + 0.5, 0.0)
    push = np.zeros_like(pos)
    for k in (0, 1):
        push[:, k] = (amount * sign * (axis == k)).sum(axis=1)
    return push


def spread_labels(
    ax: Axes, xy: list[tuple[float, float]], texts: list[str], fontsize: float = 8, obstacles: list = ()
) -> None:
    """Write ``texts`` beside the points ``xy`` (data coordinates) so that no two overlap.

    Call it once the axes have their final limits and position (after tight_layout). Each
    label starts up-right of its point; then every pair of overlapping boxes (label-label,
    label-point, label-obstacle such as a curve label) is pushed apart along the axis
    where they overlap least, labels are kept inside the axes, and this repeats until
    nothing overlaps (at most 500 rounds). A label that ends away from its point gets a thin leader line. The
    layout is deterministic. (adjustText does this more thoroughly; a few dozen labels
    need no more than this, and it adds no dependency.)
    """
    if not texts:
        return
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    px_per_pt = fig.dpi / 72
    anchors = ax.transData.transform(np.asarray(xy, float))
    half = (np.array([_text_size(ax, t, fontsize, renderer) for t in texts]) + 2 * px_per_pt) / 2
    pos = anchors + half + 2 * px_per_pt
    r = POINT_RADIUS_PT * px_per_pt
    fixed_c = [*anchors, *(((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2) for b in obstacles)]
    fixed_h = [*[(r, r)] * len(anchors), *((b.width / 2, b.height / 2) for b in obstacles)]
    fixed_c, fixed_h = np.asarray(fixed_c, float), np.asarray(fixed_h, float)
    box = ax.get_window_extent(renderer)
    lo, hi = np.array([box.x0, box.y0]) + half, np.array([box.x1, box.y1]) - half
    n = len(texts)
    tie = np.sign(np.arange(n)[:, None] - np.arange(n)[None, :])  # which of two coincident labels moves up
    for _ in range(500):
        push = _push(pos, half, pos, half, 0.5, tie) + _push(pos, half, fixed_c, fixed_h, 1.0)
        if not push.any():
            break
        pos = np.clip(pos + push, lo, np.maximum(lo, hi))
    for text, anchor, centre, h in zip(texts, anchors, pos, half):
        offset = (centre - anchor) / px_per_pt
        far = np.hypot(*offset) > np.hypot(*h) / px_per_pt + 6
        ann = ax.annotate(
            text,
            ax.transData.inverted().transform(anchor),
            xytext=offset,
            textcoords="offset points",
            ha="center",
            va="center",
            fontsize=fontsize,
            arrowprops=LEADER if far else None,
        )
        ann.set_in_layout(False)


def _scatter_by_ion(
    ax: Axes, rows: list[dict[str, Any]], x: list[float], y: list[float], clipped: list[bool] | None = None
) -> None:
    """One disc per pair coloured by intercalant; a clipped point is an upward triangle."""
    seen = set()
    for i, (d, xi, yi) in enumerate(zip(rows, x, y)):
        ion = d.get("intercalant", "?")
        ax.scatter(
            xi,
            yi,
            color=_colour(ion),
            s=36,
            zorder=3,
            label=ion if ion not in seen else None,
            marker="^" if clipped and clipped[i] else "o",
            edgecolors="k",
            linewidths=0.4,
            clip_on=False,
        )
        seen.add(ion)
    ax.legend(title="intercalant", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def committee_range(doc: dict[str, Any], quantity: str, absolute: bool = False) -> tuple[float, float] | None:
    """The members' min and max of ``quantity`` in a committee result (None without two values);
    ``absolute``: of their absolute values (|dE_site|)."""
    members = (doc.get("committee") or {}).get("members") or []
    values = [m.get(quantity) for m in members if m.get(quantity) is not None]
    if len(values) < 2:
        return None
    values = [abs(v) for v in values] if absolute else values
    return min(values), max(values)


def _error_bars(
    ax: Axes,
    rows: list[dict[str, Any]],
    x: list[float],
    y: list[float],
    x_ranges: list[tuple[float, float] | None],
    y_ranges: list[tuple[float, float] | None],
) -> bool:
    """The committee members' min-max around each point (behind it); True if any was drawn."""
    drawn = False
    for d, xi, yi, xr, yr in zip(rows, x, y, x_ranges, y_ranges, strict=True):
        if xr is None and yr is None:
            continue
        ax.errorbar(
            xi,
            yi,
            xerr=None if xr is None else [[max(xi - xr[0], 0.0)], [max(xr[1] - xi, 0.0)]],
            yerr=None if yr is None else [[max(yi - yr[0], 0.0)], [max(yr[1] - yi, 0.0)]],
            fmt="none",
            ecolor=_colour(d.get("intercalant", "?")),
            elinewidth=1.0,
            capsize=3,
            zorder=2,
        )
        drawn = True
    return drawn


def _kept_top(values: list[float], reference: float) -> float:
    """The highest value that is not an outlier: within OUTLIER_FACTOR of ``reference``."""
    limit = max(OUTLIER_FACTOR * reference, reference + OUTLIER_MARGIN_EV)
    return max(v for v in values if v <= limit)


# ---------------------------------------------------------------- figures
def voltage_capacity(docs: list[dict[str, Any]], fig: Figure) -> None:
    rows = [d for d in docs if d.get("voltage_v") is not None and d.get("capacity_mah_g") is not None]
    if not rows:
        raise NothingToPlot("no pair in the store has a voltage and a capacity")
    fig.set_size_inches(8, 5.5)
    ax = fig.add_subplot()
    cmax = max(400.0, max(d["capacity_mah_g"] for d in rows) * 1.15)
    vmax = max(3.0, max(d["voltage_v"] for d in rows) * 1.2)
    c = np.linspace(1.0, cmax, 400)
    curve_labels = []
    for e in ISO_ENERGIES_WH_KG:
        ax.plot(c, e / c, ls="--", lw=0.8, color="0.5")
        x = cmax * 0.98  # label each curve at the right edge, where the curves are apart
        curve_labels.append(
            ax.annotate(f"{e} Wh/kg", (x, e / x), fontsize=7, color="0.35", ha="right", va="bottom")
        )
    caps, volts = [d["capacity_mah_g"] for d in rows], [d["voltage_v"] for d in rows]
    ranges = [committee_range(d, "voltage_v") for d in rows]
    bars = _error_bars(ax, rows, caps, volts, [None] * len(rows), ranges)
    _scatter_by_ion(ax, rows, caps, volts)
    lows = [r[0] for r in ranges if r] + volts
    vmax = max([vmax, *(1.05 * r[1] for r in ranges if r)])
    ax.set_xlim(0, cmax)
    ax.set_ylim(min(0.0, min(lows) - 0.2), vmax)
    ax.set_xlabel("gravimetric capacity (mAh/g)")
    ax.set_ylabel("average voltage (V)")
    bar_note = "; bars: committee min-max" if bars else ""
    ax.set_title(f"Average voltage vs capacity (dashed: specific energy{bar_note})")
    fig.tight_layout()
    renderer = fig.canvas.get_renderer()
    spread_labels(
        ax,
        list(zip(caps, volts)),
        [redox_metal(d) for d in rows],
        obstacles=[t.get_window_extent(renderer) for t in curve_labels],
    )


def site_barrier(docs: list[dict[str, Any]], fig: Figure) -> None:
    """|dE_site| against the barrier; barriers far above the median are drawn at the top edge."""
    rows = [d for d in docs if d.get("delta_e_site_ev") is not None and d.get("barrier_ev") is not None]
    if not rows:
        raise NothingToPlot("no pair in the store has both a site-energy difference and a barrier")
    fig.set_size_inches(8, 5.5)
    ax = fig.add_subplot()
    sites, barriers = [abs(d["delta_e_site_ev"]) for d in rows], [d["barrier_ev"] for d in rows]
    bar_tops = [r[1] for r in (committee_range(d, "barrier_ev") for d in rows) if r]  # committee bars
    top = 1.1 * max(max(sites), _kept_top(barriers + bar_tops, max(float(np.median(barriers)), 0.1)))
    clipped = [b > top for b in barriers]
    shown = [min(b, top) for b in barriers]
    ax.plot([0, top], [0, top], ls=":", color="0.5", label="barrier = |dE_site| (lower bound)")
    x_ranges = [committee_range(d, "delta_e_site_ev", absolute=True) for d in rows]
    y_ranges = [None if c else committee_range(d, "barrier_ev") for d, c in zip(rows, clipped)]
    bars = _error_bars(ax, rows, sites, shown, x_ranges, y_ranges)
    _scatter_by_ion(ax, rows, sites, shown, clipped)
    ax.set_xlim(0, 1.1 * max([*sites, *(r[1] for r in x_ranges if r)]))
    ax.set_ylim(0, top)
    ax.set_xlabel("|dE_site| = |E(site 2) - E(site 1)| per ion (eV)")
    ax.set_ylabel("migration barrier (eV)")
    notes = [
        *(["▲: above the axis, barrier written"] if any(clipped) else []),
        *(["bars: committee min-max"] if bars else []),
    ]
    clip_note = f" ({'; '.join(notes)})" if notes else ""
    ax.set_title(f"Site-energy difference vs NEB barrier{clip_note}")
    fig.tight_layout()
    labels = [redox_metal(d) + (f" {b:.1f} eV" if c else "") for d, b, c in zip(rows, barriers, clipped)]
    spread_labels(ax, list(zip(sites, shown)), labels)


def hull(docs: list[dict[str, Any]], fig: Figure) -> None:
    rows = [
        d
        for d in docs
        if d.get("e_hull_charged_ev_atom") is not None or d.get("e_hull_discharged_ev_atom") is not None
    ]
    if not rows:
        raise NothingToPlot("no pair in the store has hull energies (run with stability enabled)")
    several = len({d.get("calculator") for d in rows}) > 1
    # the discharged formula names the host too (MgCr2S4 is Mg in Cr2S4)
    names = [
        f"{d.get('formula_discharged') or d.get('host')}" + (f" [{_model(d)}]" if several else "")
        for d in rows
    ]
    charged = [d.get("e_hull_charged_ev_atom") for d in rows]
    discharged = [d.get("e_hull_discharged_ev_atom") for d in rows]
    fig.set_size_inches(max(7.0, 0.3 * len(rows) + 2.0), 5)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    w = 0.4
    for shift, values, label, colour in (
        (-w / 2, charged, "charged", "tab:blue"),
        (w / 2, discharged, "discharged", "tab:red"),
    ):
        ax.bar(x + shift, [v if v is not None else np.nan for v in values], w, label=label, color=colour)
    few = len(rows) <= 12  # slanted names while they fit, upright beyond
    ax.set_xticks(x, names, rotation=60 if few else 90, ha="right" if few else "center", fontsize=7)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylabel("energy above hull (eV/atom)")
    ax.set_title("Stability: energy above the convex hull", loc="left")
    # above the axes, beside the title: inside, it covered the last bars
    ax.legend(fontsize=8, ncols=2, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()


# ---------------------------------------------------------------- NEB small multiples
@dataclass
class Profile:
    """One NEB energy profile, ready to draw."""

    host: str
    ion: str
    name: str  # legend text before the barrier, e.g. "Mg along-chain [CHGNet]"
    energies: np.ndarray  # eV, relative to the first image
    distance: np.ndarray | None  # Å along the path, None when unknown
    flaw: str | None  # "partial", "failed", "not converged"; None for a sound band

    @property
    def barrier(self) -> float:
        return float(self.energies.max() - self.energies.min())


def _distance(n: int, path_a: list[float] | None, length_a: float | None) -> np.ndarray | None:
    if path_a is not None and len(path_a) == n:
        return np.asarray(path_a, float)
    if length_a:
        return np.linspace(0.0, float(length_a), n)
    return None


def profiles(doc: dict[str, Any], name_model: bool = False) -> list[Profile]:
    """The NEB profiles of one pair: every hop of a host, or the spinel pair's one hop."""
    ion, host = str(doc.get("intercalant", "?")), str(doc.get("host", "?"))
    suffix = f" [{_model(doc)}]" if name_model else ""
    pair_flaw = doc.get("state") if doc.get("state") in ("partial", "failed") else None
    out = []
    for hop in doc.get("hops") or []:
        if not hop.get("neb_energies_ev"):
            continue
        e = np.asarray(hop["neb_energies_ev"], float)
        flaw = (
            "not converged"
            if hop.get("converged") is False
            else "partial"
            if hop.get("failure_reasons")
            else None
        )
        out.append(
            Profile(
                host,
                ion,
                f"{ion} {hop.get('kind') or ''}".strip() + suffix,
                e - e[0],
                _distance(len(e), hop.get("path_distance_a"), hop.get("length_a")),
                flaw,
            )
        )
    if not out and doc.get("neb_energies_ev"):
        e = np.asarray(doc["neb_energies_ev"], float)
        out.append(
            Profile(
                host,
                ion,
                ion + suffix,
                e - e[0],
                _distance(len(e), doc.get("neb_path_distance_a"), doc.get("hop_length_a")),
                pair_flaw,
            )
        )
    return out


def _y_limits(bands: list[Profile]) -> tuple[float, float]:
    """The panel's y range: all of its sound bands, outliers clipped (see OUTLIER_FACTOR)."""
    peaks = [float(b.energies.max()) for b in bands]
    top = _kept_top(peaks, max(min(peaks), 0.1))
    kept = [b for b, p in zip(bands, peaks) if p <= top]
    bottom = min(0.0, min(float(b.energies.min()) for b in kept))
    span = max(top - bottom, 0.1)
    return bottom - 0.08 * span, top + 0.18 * span


def _draw_panel(ax: Axes, host: str, bands: list[Profile]) -> None:
    in_angstrom = all(b.distance is not None for b in bands)
    lo, hi = _y_limits(bands)
    per_ion: dict[str, int] = {}
    for band in bands:
        k = per_ion.get(band.ion, 0)
        per_ion[band.ion] = k + 1
        x = band.distance if in_angstrom else np.linspace(0.0, 1.0, len(band.energies))
        label = f"{band.name}: {band.barrier:.2f} eV" + (f" ({band.flaw})" if band.flaw else "")
        ax.plot(
            x,
            band.energies,
            color=_colour(band.ion),
            marker=MARKERS[k % len(MARKERS)],
            ms=4,
            ls="--" if band.flaw else "-",
            lw=1.4,
            label=label,
        )
        i = int(np.argmax(band.energies))
        if band.energies[i] > hi:  # clipped outlier: mark where it leaves the panel and say how high
            ax.plot([x[i]], [hi], marker="^", color=_colour(band.ion), ms=7, zorder=4, clip_on=False)
            ax.annotate(
                f"{band.energies[i]:.1f} eV",
                (x[i], hi),
                xytext=(6, -10),
                textcoords="offset points",
                fontsize=7,
                color=_colour(band.ion),
            )
        j = int(np.argmin(band.energies))
        if band.energies[j] < lo:
            ax.plot([x[j]], [lo], marker="v", color=_colour(band.ion), ms=7, zorder=4, clip_on=False)
            ax.annotate(
                f"{band.energies[j]:.1f} eV",
                (x[j], lo),
                xytext=(6, 4),
                textcoords="offset points",
                fontsize=7,
                color=_colour(band.ion),
            )
    ax.set_ylim(lo, hi)
    ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.set_title(host, fontsize=10, pad=9)  # room for a clip marker
    ax.set_xlabel("distance along the path (Å)" if in_angstrom else "fraction of the path", fontsize=8)
    ax.set_ylabel("E - E(start) (eV)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6.5, loc="best", framealpha=0.85)


def neb_profiles(docs: list[dict[str, Any]], fig: Figure) -> None:
    """NEB profiles as small multiples: one panel per host, one line per intercalant (and hop).

    x is the distance along the path in Å: the migrating ion's path length through the NEB
    images when a document carries it (``neb_path_distance_a``, or ``path_distance_a`` on
    a hop; :func:`mvflows.report.artifacts.with_neb_paths` adds it from the job store to
    documents written without it); else the
    hop length with the images evenly spaced (a hop's ``length_a``); a panel where some
    band has neither uses the fraction of the path for all of its bands, and says so.
    Every image is marked; a band of a partial or failed pair, or one that did not
    converge, is dashed and says so in the legend. Each panel has its own y range, and a
    band far above the panel's lowest one is clipped with a marker giving its peak.
    """
    several = len({d.get("calculator") for d in docs}) > 1  # stores read side by side
    bands = [b for d in docs for b in profiles(d, name_model=several)]
    if not bands:
        raise NothingToPlot("no pair in the store has an NEB energy profile")
    hosts = sorted({b.host for b in bands})
    cols = min(PANEL_COLUMNS, len(hosts))
    rows = math.ceil(len(hosts) / cols)
    fig.set_size_inches(3.6 * cols + 0.4, 2.9 * rows + 0.7)
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, host in zip(axes.flat, hosts):
        _draw_panel(ax, host, [b for b in bands if b.host == host])
    for ax in axes.flat[len(hosts) :]:
        ax.set_visible(False)
    key = "markers: images; dashed: partial, failed or unconverged band; ▲: clipped, peak written"
    width_chars = int((3.6 * cols + 0.4) * 72 / (0.55 * 9))  # of 9 pt text across the figure
    fig.suptitle(textwrap.fill(f"NEB energy profiles ({key})", width_chars), fontsize=9)
    fig.tight_layout()


_DRAW = {
    "hull": hull,
    "neb": neb_profiles,
    "site-barrier": site_barrier,
    "voltage-capacity": voltage_capacity,
}


def plot(kind: str, docs: list[dict[str, Any]], path: str | Path) -> Path:
    """Draw figure ``kind`` from result documents into ``path`` (.png or .svg)."""
    if kind not in _DRAW:
        raise ValueError(f"unknown figure {kind!r} (one of: {', '.join(KINDS)})")
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"output {path} must end in .png or .svg")
    fig = Figure()  # no pyplot: nothing global to switch or close, safe in any process
    FigureCanvasAgg(fig)  # label placement measures text with Agg's renderer
    _DRAW[kind](docs, fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path
