"""The report's HTML: the index (results table, figures, validation) and one page per pair.

Pages are plain HTML with the stylesheet and the table script (``assets/``) inlined and
every link relative, so the folder works from disk, offline, wherever it is copied; no
page fetches anything. Every value taken from a document is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from importlib import resources
from typing import Any

from mvflows.report.artifacts import PairArtifacts
from mvflows.reporting import COLUMNS, cell
from mvflows.validation import Comparison, ValidationReport

STATES = ("successful", "partial", "failed")
# fields a pair page shows in its own sections; any other scalar field (redox_metal, or one a
# newer schema adds, e.g. a settings digest) is listed under "Settings and jobs"
_SHOWN_FIELDS = {k for k, _h, _f in COLUMNS} | {
    "formula_discharged",
    "neb_energies_ev",
    "neb_skipped_reason",
    "hops",
    "failure_reasons",
    "flag_reasons",
    "plausibility",
    "job_uuids",
    "voltage_profile",
    "e_hull_charged_ev_atom",
    "e_hull_discharged_ev_atom",
    "percolating_barrier_ev",
    "x",
    "fake_vasp",
    "completed_at",
    "campaign",
    "neb_path_distance_a",
}


@dataclass
class Download:
    name: str  # file name, e.g. relax_tet.cif
    href: str  # relative to the pair page
    what: str


@dataclass
class PairPage:
    """One pair result and what its page links to; ``href`` is relative to the index."""

    doc: dict[str, Any]
    slug: str
    artifacts: PairArtifacts
    neb_figure: Figure | None = None
    downloads: list[Download] = field(default_factory=list)

    @property
    def href(self) -> str:
        return f"pairs/{self.slug}.html"

    @property
    def title(self) -> str:
        return f"{self.doc.get('intercalant')} in {self.doc.get('host')}"


@dataclass
class Figure:
    kind: str
    src: str | None  # relative to the page; None when the results cannot draw it
    caption: str  # or why it was not drawn
    width: int | None = None  # CSS pixels: the PNG is drawn at 150 dpi, shown at about 100


def _asset(name: str) -> str:
    return resources.files("mvflows.report").joinpath("assets", name).read_text(encoding="utf-8")


def _page(title: str, body: str, script: bool = False) -> str:
    js = f"<script>\n{_asset('report.js')}</script>\n" if script else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>\n{_asset('report.css')}</style>\n</head>\n"
        f"<body>\n{body}\n{js}</body>\n</html>\n"
    )


def _num(value: Any, digits: int = 4) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return escape(str(value))
    return escape(f"{value:.{digits}g}" if isinstance(value, float) else str(value))


def _state(state: Any) -> str:
    s = escape(str(state))
    return f'<span class="state state-{s}">{s}</span>'


def _reasons(doc: dict[str, Any]) -> list[str]:
    out = [f"NEB skipped: {doc['neb_skipped_reason']}"] if doc.get("neb_skipped_reason") else []
    return out + [str(r) for r in doc.get("failure_reasons") or []]


def _ul(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>" if items else ""


def _kv(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_num(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _scalars(doc: dict[str, Any] | None, skip: set[str] = frozenset()) -> list[tuple[str, Any]]:
    """The scalar fields of an output document (lists of numbers joined), in stored order."""
    rows = []
    for k, v in (doc or {}).items():
        if k.startswith("@") or k in skip or v is None:
            continue
        if isinstance(v, list) and v and all(isinstance(x, int | float | type(None)) for x in v):
            rows.append((k, ", ".join("-" if x is None else f"{x:.4g}" for x in v)))
        elif isinstance(v, str | int | float | bool):
            rows.append((k, v))
    return rows


# ------------------------------------------------------------------ index
def _results_table(pairs: list[PairPage]) -> str:
    head = "".join(
        f'<th scope="col" data-type="{kind}">{escape(h)}</th>'
        for h, kind in (
            [("pair", "text")]
            + [(h, "num" if f != "{}" else "text") for _k, h, f in COLUMNS]
            + [("failure reasons", "text")]
        )
    )
    rows = []
    for p in pairs:
        d = p.doc
        cells = [f'<td><a href="{escape(p.href)}">{escape(p.title)}</a></td>']
        for key, _h, fmt in COLUMNS:
            text = escape(cell(d, key, fmt))
            if fmt == "{}":
                cells.append(f'<td class="{"state" if key == "state" else key}">{text}</td>')
            else:
                raw = d.get(key)
                sort = f' data-sort="{raw!r}"' if isinstance(raw, int | float) else ""
                cells.append(f'<td class="num"{sort}>{text}</td>')
        cells.append(f'<td class="reasons">{_ul(_reasons(d))}</td>')
        state = escape(str(d.get("state")))
        rows.append(
            f'<tr class="state-{state}" data-ion="{escape(str(d.get("intercalant")))}" '
            f'data-host="{escape(str(d.get("host")))}">{"".join(cells)}</tr>'
        )
    return (
        '<div class="wide"><table id="results-table" class="sortable results">'
        f"<thead><tr>{head}</tr></thead><tbody>\n{chr(10).join(rows)}\n</tbody></table></div>"
    )


def _select(ident: str, label: str, values: list[str]) -> str:
    options = '<option value="">all</option>' + "".join(
        f'<option value="{escape(v)}">{escape(v)}</option>' for v in values
    )
    return f'<label>{escape(label)} <select id="{ident}">{options}</select></label>'


def _figure(f: Figure) -> str:
    src = escape(f.src or "")
    width = f' width="{f.width}"' if f.width else ""
    return (
        f'<figure id="figure-{escape(f.kind)}"><a href="{src}"><img src="{src}"{width} '
        f'alt="{escape(f.kind)} figure"></a><figcaption>{escape(f.caption)}</figcaption></figure>'
    )


def _figures(figures: list[Figure]) -> str:
    out = [_figure(f) for f in figures if f.src is not None]
    out += [
        f'<p class="note">{escape(f.kind)} not drawn: {escape(f.caption)}</p>'
        for f in figures
        if f.src is None
    ]
    return "\n".join(out)


def _validation(report: ValidationReport) -> str:
    done = [c for c in report.comparisons if c.computed is not None]
    missing = [c for c in report.comparisons if c.computed is None]

    def rows(comparisons: list[Comparison]) -> str:
        out = []
        for c in comparisons:
            r = c.row
            diff = (
                f"{c.difference:+.3f}"
                if c.difference is not None
                else ({True: "agrees", False: "differs", None: ""}[c.agrees])
            )
            published = f"{r['value']} {r.get('unit', '')}".strip()
            computed = f"{c.computed:.3f}" if isinstance(c.computed, float) else c.computed
            out.append(
                "<tr>"
                + "".join(
                    f"<td>{escape(str(v))}</td>"
                    for v in (
                        r["host"],
                        r["intercalant"],
                        r["quantity"],
                        r.get("hop", ""),
                        r.get("kind", "dft"),
                        published,
                        "not computed" if c.computed is None else computed,
                        diff,
                        c.calculator or "-",
                        r["source"],
                    )
                )
                + "</tr>"
            )
        return "".join(out)

    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "host",
            "ion",
            "quantity",
            "hop",
            "kind",
            "published",
            "computed",
            "difference",
            "model",
            "source",
        )
    )
    parts = [
        f"<h3>Computed beside published</h3><table><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows(done)}</tbody></table>"
        if done
        else '<p class="note">None of these pairs has a published value in the reference file.</p>'
    ]
    if missing:
        parts.append(
            f"<details><summary>{len(missing)} published values with no computed counterpart "
            f"here</summary><table><thead><tr>{head}</tr></thead><tbody>{rows(missing)}</tbody>"
            "</table></details>"
        )
    mae = report.mae()
    if mae:
        body = "".join(
            f"<tr><td>{escape(q)}</td><td>{escape(k)}</td><td>{escape(m)}</td>"
            f'<td class="num">{v:.3f}</td><td class="num">{n}</td></tr>'
            for (q, k, m), (v, n) in mae.items()
        )
        parts.append(
            "<h3>Mean absolute error per quantity and model</h3><table><thead><tr><th>quantity</th>"
            f"<th>against</th><th>model</th><th>MAE</th><th>n</th></tr></thead><tbody>{body}</tbody></table>"
        )
    body = "".join(
        f'<tr><td>{escape(t.text)}</td><td class="verdict-{escape(t.verdict.replace(" ", "-"))}">'
        f"{escape(t.verdict)}</td><td>{escape(t.evidence)}</td></tr>"
        for t in report.trends
    )
    parts.append(
        "<h3>Qualitative trends</h3><table><thead><tr><th>trend</th><th>verdict</th>"
        f"<th>evidence</th></tr></thead><tbody>{body}</tbody></table>"
    )
    return "\n".join(parts)


def index_page(
    pairs: list[PairPage], figures: list[Figure], validation: ValidationReport, source: str, written: str
) -> str:
    docs = [p.doc for p in pairs]
    counts = " ".join(
        f'<span class="state state-{s}">{sum(d.get("state") == s for d in docs)} {s}</span>' for s in STATES
    )
    campaigns = ", ".join(sorted({str(d.get("campaign")) for d in docs})) or "-"
    calculators = ", ".join(sorted({str(d.get("calculator")) for d in docs})) or "-"
    ions = sorted({str(d.get("intercalant")) for d in docs})
    hosts = sorted({str(d.get("host")) for d in docs})
    body = f"""<header>
<h1>mvflows report</h1>
<p class="meta">{len(docs)} pair results; campaign {escape(campaigns)}; calculator {escape(calculators)};
store {escape(source)}; written {escape(written)}</p>
<nav><a href="#results">Results</a><a href="#figures">Figures</a><a href="#validation">Validation</a></nav>
</header>
<main>
<section id="results">
<h2>Results</h2>
<p>{counts}</p>
<div class="filters">{_select("filter-ion", "ion", ions)}{_select("filter-host", "host", hosts)}
<span><span id="shown">{len(docs)}</span> of {len(docs)} pairs shown</span></div>
{_results_table(pairs)}
<p class="hint">Click a column header to sort (again to reverse; missing values stay last). Each pair
links to its own page: NEB profile, site energies, voltage, E_hull, settings, job uuids and
structures to download.</p>
</section>
<section id="figures">
<h2>Figures</h2>
{_figures(figures)}
</section>
<section id="validation">
<h2>Validation</h2>
<p class="meta">Computed values beside the published ones of <code>mvflows/data/reference_values.yaml</code>
(as <code>mvflows validate</code> writes them).</p>
{_validation(validation)}
</section>
</main>"""
    return _page(f"mvflows report: {campaigns}", body, script=True)


# ------------------------------------------------------------------ pair page
def _neb_section(p: PairPage) -> str:
    d = p.doc
    parts = ["<h2>NEB profile</h2>"]
    if p.neb_figure:
        parts.append(_figure(p.neb_figure))
    elif d.get("neb_skipped_reason"):
        parts.append(f'<p class="note">NEB skipped: {escape(str(d["neb_skipped_reason"]))}</p>')
    else:
        parts.append('<p class="note">No NEB energy profile in this result.</p>')
    rows = [
        ("barrier (eV)", d.get("barrier_ev")),
        ("percolating barrier (eV)", d.get("percolating_barrier_ev")),
        ("profile (eV)", ", ".join(f"{e:.3f}" for e in d.get("neb_energies_ev") or []) or None),
    ]
    parts.append(_kv([(k, v) for k, v in rows if v is not None]))
    if d.get("hops"):
        body = "".join(
            f'<tr><td>{escape(str(h.get("kind")))}</td><td class="num">{_num(h.get("length_a"))}</td>'
            f'<td class="num">{_num(h.get("barrier_ev")) if h.get("barrier_ev") is not None else "-"}</td>'
            f"<td>{escape(str(h.get('converged')))}</td><td>{_ul(h.get('failure_reasons') or [])}</td></tr>"
            for h in d["hops"]
        )
        parts.append(
            "<table><thead><tr><th>hop</th><th>length (Å)</th><th>barrier (eV)</th>"
            f"<th>converged</th><th>failure reasons</th></tr></thead><tbody>{body}</tbody></table>"
        )
    parts.append(_plausibility(d))
    return "\n".join(parts)


def _plausibility(d: dict[str, Any]) -> str:
    """Every band's plausibility checks (the headline band's, each limit's and hop's), flags first said."""
    bands = [("", d.get("plausibility") or [])]
    bands += [
        (f"{name} limit", lim.get("plausibility") or []) for name, lim in (d.get("limits") or {}).items()
    ]
    bands += [(f"{h.get('kind')} hop", h.get("plausibility") or []) for h in d.get("hops") or []]
    if d.get("limits") or d.get("hops"):
        bands = bands[1:]  # the headline band is one of them
    rows = "".join(
        f"<tr><td>{escape(band)}</td><td>{escape(str(c.get('check')))}</td>"
        f'<td class="check-{escape(str(c.get("status")))}">{escape(str(c.get("status")))}</td>'
        f"<td>{escape(str(c.get('reason')))}</td></tr>"
        for band, checks in bands
        for c in checks
    )
    if not rows and not d.get("flag_reasons"):
        return ""
    head = "<h3>Plausibility checks</h3>"
    if d.get("flag_reasons"):
        head += '<p class="note">Flagged: the result is computed, its barrier is in question.</p>'
        head += _ul([str(r) for r in d["flag_reasons"]])
    if not rows:
        return head
    return (
        head + "<table><thead><tr><th>band</th><th>check</th><th>status</th><th>reason</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _missing(p: PairPage, step: str) -> str:
    uuid = (p.doc.get("job_uuids") or {}).get(step)
    if uuid is None:
        return ""
    return (
        ""
        if p.artifacts.output(step) is not None
        else f'<p class="note">The output of job {escape(uuid)} is not in the store read.</p>'
    )


def _voltage_section(p: PairPage) -> str:
    d = p.doc
    rows = [
        ("average voltage (V)", d.get("voltage_v")),
        ("capacity (mAh/g)", d.get("capacity_mah_g")),
        ("specific energy (Wh/kg)", d.get("specific_energy_wh_kg")),
        ("x (ions per formula unit)", d.get("x")),
    ]
    parts = ["<h2>Voltage</h2>", _kv([(k, v) for k, v in rows if v is not None])]
    if d.get("voltage_profile"):
        body = "".join(
            f'<tr><td class="num">{_num(s["x_start"])}</td><td class="num">{_num(s["x_end"])}</td>'
            f'<td class="num">{_num(s["voltage_v"])}</td></tr>'
            for s in d["voltage_profile"]
        )
        parts.append(
            "<h3>Step-wise voltages</h3><table><thead><tr><th>x from</th><th>x to</th><th>V</th>"
            f"</tr></thead><tbody>{body}</tbody></table>"
        )
    out = p.artifacts.output("voltage")
    if out is not None:
        parts.append("<h3>Voltage job output</h3>" + _kv(_scalars(out, {"profile"})))
    parts.append(_missing(p, "voltage"))
    return "\n".join(parts)


def _site_section(p: PairPage) -> str:
    d = p.doc
    rows = [("stable site", d.get("stable_site")), ("dE_site (eV per ion)", d.get("delta_e_site_ev"))]
    parts = ["<h2>Site energies</h2>", _kv([(k, v) for k, v in rows if v is not None])]
    out = p.artifacts.output("site_energy")
    if out is not None:
        parts.append("<h3>Site-energy job output</h3>" + _kv(_scalars(out)))
    parts.append(_missing(p, "site_energy"))
    return "\n".join(parts)


def _hull_section(p: PairPage) -> str:
    d = p.doc
    rows = [
        ("E_hull charged (eV/atom)", d.get("e_hull_charged_ev_atom")),
        ("E_hull discharged (eV/atom)", d.get("e_hull_discharged_ev_atom")),
    ]
    rows = [(k, v) for k, v in rows if v is not None]
    out = p.artifacts.output("stability")
    if not rows and out is None:
        return (
            "<h2>Energy above the hull</h2>"
            '<p class="note">Not computed (stability is off in the campaign).</p>'
        )
    parts = ["<h2>Energy above the hull</h2>", _kv(rows)]
    if out is not None:
        parts.append("<h3>Stability job output</h3>" + _kv(_scalars(out)))
    return "\n".join(parts) + _missing(p, "stability")


def _downloads(p: PairPage) -> str:
    if not p.downloads:
        return '<h2>Structures</h2><p class="note">No structure of this pair is in the store read.</p>'
    items = "".join(
        f'<li><a href="{escape(f.href)}" download>{escape(f.name)}</a> {escape(f.what)}</li>'
        for f in p.downloads
    )
    return f'<h2>Structures</h2><ul class="downloads">{items}</ul>'


def _settings(p: PairPage) -> str:
    d = p.doc
    extra = [
        (k, v) for k, v in d.items() if k not in _SHOWN_FIELDS and isinstance(v, str | int | float | bool)
    ]
    rows = [(k, d.get(k)) for k in ("campaign", "calculator", "fake_vasp", "completed_at")] + extra
    jobs = []
    for job in p.artifacts.jobs:
        settings = "; ".join(f"{k}={v}" for k, v in job.settings.items())
        name = escape(job.name) if job.name else '<span class="note">not in the store read</span>'
        jobs.append(
            f"<tr><td>{escape(job.step)}</td><td><code>{escape(str(job.uuid))}</code></td><td>{name}</td>"
            f"<td>{escape(settings)}</td></tr>"
        )
    return (
        "<h2>Settings and jobs</h2>"
        + _kv(rows)
        + "<table><thead><tr><th>step</th><th>job uuid</th><th>job</th><th>settings</th></tr></thead>"
        f"<tbody>{''.join(jobs)}</tbody></table>"
    )


def pair_page(p: PairPage) -> str:
    d = p.doc
    calc = escape(cell(d, "calculator", "{}"))
    reasons = _reasons(d)
    flag = '; <a href="#neb">flagged</a> (plausibility)' if d.get("flagged") else ""
    body = f"""<header>
<p><a href="../index.html">&larr; all pairs</a></p>
<h1>{escape(p.title)} <small>({escape(str(d.get("formula_discharged")))})</small></h1>
<p class="meta">{calc}; campaign {escape(str(d.get("campaign")))}; state {_state(d.get("state"))}{flag}</p>
</header>
<main>
{"<section id='reasons'><h2>Failure reasons</h2>" + _ul(reasons) + "</section>" if reasons else ""}
<section id="neb">{_neb_section(p)}</section>
<section id="site">{_site_section(p)}</section>
<section id="voltage">{_voltage_section(p)}</section>
<section id="hull">{_hull_section(p)}</section>
<section id="structures">{_downloads(p)}</section>
<section id="settings">{_settings(p)}</section>
</main>"""
    return _page(f"{p.title} ({d.get('calculator')}): mvflows report", body)
