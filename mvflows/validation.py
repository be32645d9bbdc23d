"""Validation report: computed values beside the published ones, MAE, qualitative trends.

The published numbers live in ``mvflows/data/reference_values.yaml`` (with their source);
the computed ones are whatever the results store holds. A reference row without a computed
counterpart is listed as "not computed", never filled in.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from importlib import resources
from statistics import mean
from typing import Any

import yaml

NOT_COMPUTED = "not computed"


def load_reference(path: str | None = None) -> dict[str, Any]:
    """The shipped reference file (or ``path``): ``rows`` and ``trends``."""
    if path is None:
        text = resources.files("mvflows").joinpath("data/reference_values.yaml").read_text()
    else:
        with open(path) as fh:
            text = fh.read()
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or "rows" not in data:
        raise ValueError(f"reference file {path or 'reference_values.yaml'} has no 'rows'")
    return data


@dataclass
class Comparison:
    """One reference row against one model's computed value (or none)."""

    row: dict[str, Any]
    calculator: str | None
    computed: Any = None

    @property
    def numeric(self) -> bool:
        return isinstance(self.row["value"], int | float) and isinstance(self.computed, int | float)

    @property
    def difference(self) -> float | None:
        return float(self.computed) - float(self.row["value"]) if self.numeric else None

    @property
    def agrees(self) -> bool | None:
        if self.computed is None or self.numeric:
            return None
        return str(self.computed) == str(self.row["value"])


@dataclass
class TrendCheck:
    id: str
    text: str
    verdict: str  # "holds", "does not hold" or "not computed"
    evidence: str = ""


@dataclass
class ValidationReport:
    comparisons: list[Comparison] = field(default_factory=list)
    trends: list[TrendCheck] = field(default_factory=list)

    def mae(self) -> dict[tuple[str, str, str], tuple[float, int]]:
        """(quantity, kind, calculator) -> (MAE, number of pairs) over numeric comparisons."""
        groups: dict[tuple[str, str, str], list[float]] = defaultdict(list)
        for c in self.comparisons:
            if c.difference is not None:
                groups[(c.row["quantity"], c.row.get("kind", "dft"), c.calculator or "-")].append(
                    abs(c.difference)
                )
        return {k: (mean(v), len(v)) for k, v in sorted(groups.items())}


def _value_of(doc: dict[str, Any], row: dict[str, Any]) -> Any:
    """The computed quantity of a result document for a reference row (a named hop if given)."""
    hop = row.get("hop")
    if hop and row["quantity"] == "barrier_ev":
        barriers = [h.get("barrier_ev") for h in doc.get("hops") or [] if h.get("kind") == hop]
        barriers = [b for b in barriers if b is not None]
        return min(barriers) if barriers else None
    return doc.get(row["quantity"])


def compare(docs: list[dict[str, Any]], reference: dict[str, Any]) -> ValidationReport:
    """Every reference row against every model that computed its pair; rows with none say so."""
    report = ValidationReport()
    for row in reference["rows"]:
        matches = [
            d for d in docs if d.get("host") == row["host"] and d.get("intercalant") == row["intercalant"]
        ]
        found = False
        for doc in sorted(matches, key=lambda d: d.get("calculator", "")):
            value = _value_of(doc, row)
            if value is None:
                continue
            report.comparisons.append(Comparison(row, doc.get("calculator"), value))
            found = True
        if not found:
            report.comparisons.append(Comparison(row, None, None))
    report.trends = check_trends(docs, reference.get("trends", []))
    return report


def _by_calc(docs: list[dict[str, Any]]) -> dict[str, dict[tuple[str, str], dict]]:
    out: dict[str, dict[tuple[str, str], dict]] = defaultdict(dict)
    for d in docs:
        out[d.get("calculator", "-")][(d.get("host"), d.get("intercalant"))] = d
    return out


def _voltage_order(pairs: dict, high: str, low: str) -> tuple[str, str]:
    checked, failed = [], []
    for (host, ion), d in pairs.items():
        other = pairs.get((host, low))
        if ion != high or other is None or d.get("voltage_v") is None or other.get("voltage_v") is None:
            continue
        ok = d["voltage_v"] > other["voltage_v"]
        (checked if ok else failed).append(
            f"{host}: {high} {d['voltage_v']:.2f} V vs {low} {other['voltage_v']:.2f} V"
        )
    if not checked and not failed:
        return NOT_COMPUTED, f"no host with both {high} and {low} voltages"
    return ("holds" if not failed else "does not hold"), "; ".join(failed or checked)


def _site_pref(pairs: dict, ion: str, site: str) -> tuple[str, str]:
    rows = [(h, d) for (h, i), d in pairs.items() if i == ion and d.get("stable_site") in ("tet", "oct")]
    if not rows:
        return NOT_COMPUTED, f"no spinel results for {ion}"
    wrong = [
        f"{h}: {d['stable_site']} ({d.get('delta_e_site_ev', 0):+.2f} eV)"
        for h, d in rows
        if d["stable_site"] != site
    ]
    return ("holds" if not wrong else "does not hold"), (
        f"{len(rows) - len(wrong)}/{len(rows)} hosts {site}" + (f"; not: {', '.join(wrong)}" if wrong else "")
    )


def _cr_highest(pairs: dict) -> tuple[str, str]:
    ions = sorted({i for (_h, i) in pairs})
    checked, failed = [], []
    for ion in ions:
        volts = {
            h: d["voltage_v"]
            for (h, i), d in pairs.items()
            if i == ion and d.get("voltage_v") is not None and str(h).endswith("2S4")
        }
        if "Cr2S4" not in volts or len(volts) < 2:
            continue
        best = max(volts, key=volts.get)
        (checked if best == "Cr2S4" else failed).append(f"{ion}: highest {best} {volts[best]:.2f} V")
    if not checked and not failed:
        return NOT_COMPUTED, "no intercalant with Cr2S4 and another spinel host"
    return ("holds" if not failed else "does not hold"), "; ".join(failed or checked)


def _mg_flexible(pairs: dict) -> tuple[str, str]:
    means = {}
    for ion in ("Mg", "Ca", "Zn"):
        vals = [
            abs(d["delta_e_site_ev"])
            for (h, i), d in pairs.items()
            if i == ion and d.get("delta_e_site_ev") is not None and d.get("stable_site") in ("tet", "oct")
        ]
        if vals:
            means[ion] = mean(vals)
    if "Mg" not in means or len(means) < 2:
        return NOT_COMPUTED, "needs spinel site energies of Mg and of Ca or Zn"
    text = ", ".join(f"{k} {v:.2f} eV" for k, v in means.items())
    return ("holds" if min(means, key=means.get) == "Mg" else "does not hold"), f"mean abs(dE_site): {text}"


_TRENDS = {
    "ca_above_mg": lambda p: _voltage_order(p, "Ca", "Mg"),
    "mg_above_zn": lambda p: _voltage_order(p, "Mg", "Zn"),
    "cr_highest": _cr_highest,
    "zn_tet": lambda p: _site_pref(p, "Zn", "tet"),
    "ca_oct": lambda p: _site_pref(p, "Ca", "oct"),
    "mg_flexible": _mg_flexible,
}


def check_trends(docs: list[dict[str, Any]], trends: list[dict[str, Any]]) -> list[TrendCheck]:
    """Each listed trend, per model: holds, does not hold, or not computed."""
    checks = []
    per_calc = _by_calc(docs) or {"-": {}}
    for trend in trends:
        rule = _TRENDS.get(trend["id"])
        for calc, pairs in sorted(per_calc.items()):
            verdict, evidence = rule(pairs) if rule else (NOT_COMPUTED, "no rule for this trend")
            label = f"{trend['text']}" + (f" [{calc}]" if calc != "-" else "")
            checks.append(TrendCheck(trend["id"], label, verdict, evidence))
    return checks


def _fmt(value: Any) -> str:
    if value is None:
        return NOT_COMPUTED
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def to_markdown(report: ValidationReport, store_label: str = "") -> str:
    """The report as Markdown: comparisons, MAE table, trend checks."""
    lines = ["# mvflows validation report", ""]
    if store_label:
        lines += [f"Store: `{store_label}`. Published values from `mvflows/data/reference_values.yaml`.", ""]
    lines += [
        "## Computed beside published",
        "",
        "| host | ion | quantity | hop | kind | published | computed | difference | model | source |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report.comparisons:
        r = c.row
        diff = (
            f"{c.difference:+.3f}"
            if c.difference is not None
            else ({True: "agrees", False: "differs", None: ""}[c.agrees])
        )
        lines.append(
            f"| {r['host']} | {r['intercalant']} | {r['quantity']} | {r.get('hop', '')} | "
            f"{r.get('kind', 'dft')} | {r['value']} {r.get('unit', '')} | {_fmt(c.computed)} | {diff} | "
            f"{c.calculator or '-'} | {r['source']} |"
        )
    lines += [
        "",
        "## Mean absolute error per quantity and model",
        "",
        "| quantity | against | model | MAE | n |",
        "|---|---|---|---|---|",
    ]
    mae = report.mae()
    if not mae:
        lines.append("| - | - | - | not computed | 0 |")
    for (quantity, kind, calc), (value, n) in mae.items():
        lines.append(f"| {quantity} | {kind} | {calc} | {value:.3f} | {n} |")
    lines += ["", "## Qualitative trends", "", "| trend | verdict | evidence |", "|---|---|---|"]
    for t in report.trends:
        lines.append(f"| {t.text} | {t.verdict} | {t.evidence} |")
    return "\n".join(lines) + "\n"
