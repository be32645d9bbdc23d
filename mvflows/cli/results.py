"""Reading results: ``mvflows results``, ``validate`` and ``plot``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path

import typer

from mvflows.cli.common import (
    ALL_HELP,
    CAMPAIGN_HELP,
    EXIT_INCOMPLETE,
    MEMBERS_HELP,
    READ_STORES_HELP,
    err,
    fail,
    job_stores,
    out,
    read_results,
)

STORE_OPT = typer.Option(None, "--store", help=READ_STORES_HELP)
CAMPAIGN_OPT = typer.Option(None, "--campaign", help=CAMPAIGN_HELP)
ALL_OPT = typer.Option(False, "--all", help=ALL_HELP)


class Fmt(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def results(
    store: list[str] | None = STORE_OPT,
    fmt: Fmt = typer.Option(Fmt.table, "--format", help="table, csv or json"),
    host: str | None = typer.Option(None, "--host", help="only this host, e.g. Cr2S4"),
    intercalant: str | None = typer.Option(None, "--intercalant", help="only this ion, e.g. Mg"),
    campaign: str | None = CAMPAIGN_OPT,
    all_versions: bool = ALL_OPT,
    level: str | None = typer.Option(
        None,
        "--level",
        help="a refined campaign's level of fidelity, e.g. forcefield:SevenNet or vasp:PBE (default: the "
        "headline level, DFT where computed)",
    ),
    members: bool = typer.Option(False, "--members", help=MEMBERS_HELP),
) -> None:
    """Print the stored pair results: each campaign's latest, or every version with --all.

    A committee campaign has one row per pair, its headline model's numbers with the members'
    spread and the flag; --members lists each member's own result as well.
    """
    from mvflows.reporting import notes, table, to_csv, to_json

    docs = read_results(
        store,
        host=host,
        intercalant=intercalant,
        campaign=campaign,
        all_versions=all_versions,
        members=members,
    )
    if level is not None:
        docs = _at_level(docs, level)
    if fmt is Fmt.json:
        sys.stdout.write(to_json(docs) + "\n")
    elif fmt is Fmt.csv:
        sys.stdout.write(to_csv(docs, versions=all_versions))
    else:
        out.print(table(docs, versions=all_versions))
        for line in notes(docs):
            out.print(line, highlight=False)


def _at_level(docs: list[dict], level: str) -> list[dict]:
    """Each result as ``level`` computed it; results without that level are left out."""
    from mvflows.refine import at_level

    views = [v for v in (at_level(d, level) for d in docs) if v is not None]
    if docs and not views:
        known = sorted({name for d in docs for name in (d.get("levels") or {d.get("calculator"): None})})
        fail(f"no result has level {level!r} (levels here: {', '.join(known)})")
    return views


def validate(
    store: list[str] | None = STORE_OPT,
    output: Path = typer.Option(Path("report.md"), "-o", "--output", help="Markdown report to write"),
    reference: Path | None = typer.Option(
        None, "--reference", help="reference file (default: the shipped one)"
    ),
    campaign: str | None = CAMPAIGN_OPT,
    all_versions: bool = ALL_OPT,
) -> None:
    """Write a report: every published value beside the computed one, MAE per quantity and model, trends."""
    from mvflows.store import resolve_uri
    from mvflows.validation import compare, load_reference, to_markdown

    try:
        ref = load_reference(str(reference) if reference else None)
    except (OSError, ValueError) as exc:
        fail(f"cannot read reference file: {exc}")
    docs = read_results(store, campaign=campaign, all_versions=all_versions)
    report = compare(docs, ref)
    try:
        output.write_text(to_markdown(report, ", ".join(resolve_uri(u) for u in store or [None])))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    computed = sum(c.computed is not None for c in report.comparisons)
    err.print(
        f"mvflows: wrote {output}: {len(ref['rows'])} reference rows, {computed} with a computed value, "
        f"{len(report.trends)} trend checks",
        highlight=False,
    )


def plot(
    kind: str = typer.Argument(..., help="hull, neb, site-barrier or voltage-capacity"),
    store: list[str] | None = STORE_OPT,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="image file, .png or .svg (default KIND.png)"
    ),
    campaign: str | None = CAMPAIGN_OPT,
    all_versions: bool = ALL_OPT,
) -> None:
    """Draw one of the study's figures from the stored pair results."""
    from mvflows.plotting import KINDS, NothingToPlot
    from mvflows.plotting import plot as draw

    if kind not in KINDS:
        fail(f"unknown figure {kind!r} (one of: {', '.join(KINDS)})")
    output = output or Path(f"{kind}.png")
    if output.suffix.lower() not in (".png", ".svg"):
        fail(f"output {output} must end in .png or .svg")
    docs = read_results(store, campaign=campaign, all_versions=all_versions)
    if kind == "neb":  # documents of the previous release carry no path: it comes from their images
        from mvflows.report import with_neb_paths

        docs = with_neb_paths(docs, job_stores(store))
    try:
        draw(kind, docs, output)
    except NothingToPlot as exc:
        fail(f"nothing to plot: {exc}", EXIT_INCOMPLETE)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror}")
    err.print(f"mvflows: wrote {output} ({len(docs)} pair results)", highlight=False)


def report(
    output: Path = typer.Option(..., "-o", "--output", help="folder to write; open its index.html"),
    store: list[str] | None = STORE_OPT,
    campaign: str | None = CAMPAIGN_OPT,
    all_versions: bool = ALL_OPT,
) -> None:
    """Write a static HTML report: results table, figures, validation, one page per pair.

    It opens from disk with no server and fetches nothing, so the folder can be copied or
    mailed; structures and NEB images are read from the same stores as the results.
    """
    from mvflows.report import ReportError, build_report
    from mvflows.store import resolve_uri

    docs = read_results(
        store, campaign=campaign, all_versions=all_versions
    )  # first: fails cleanly on a bad store
    source = ", ".join(resolve_uri(u) for u in store or [None])
    if not docs:
        fail(f"no pair results{f' of campaign {campaign}' if campaign else ''} in {source}", EXIT_INCOMPLETE)
    try:
        index = build_report(docs, output, job_stores(store), source=source)
    except ReportError as exc:
        fail(str(exc))
    err.print(
        f"mvflows: wrote {index} ({len(docs)} pair results); open it in a browser",
        highlight=False,
        soft_wrap=True,
    )


def calibration_points(
    pair: str = typer.Argument(..., help="a stored pair, e.g. MgCr2S4 (its discharged formula)"),
    output: Path = typer.Option(..., "-o", "--output", help="extended-XYZ file to write"),
    store: list[str] | None = STORE_OPT,
    campaign: str | None = CAMPAIGN_OPT,
    level: str | None = typer.Option(
        None, "--level", help="the level whose band to write (default: the headline level, DFT if any)"
    ),
) -> None:
    """Write a stored pair's NEB band (images and energies) as calibration points.

    A refined pair's DFT band (``--level vasp:PBE``) is what a campaign's ``calibration.points``
    reads: the screening model is then calibrated against DFT on the structures DFT computed.
    """
    from mvflows.calibration import CalibrationError, band_points, write_points
    from mvflows.refine import at_level
    from mvflows.report.artifacts import find_job, job_output

    docs = [d for d in read_results(store, campaign=campaign) if d.get("formula_discharged") == pair]
    if not docs:
        fail(f"no stored result for pair {pair!r}")
    if len(docs) > 1:
        names = ", ".join(d["campaign"] for d in docs)
        fail(f"pair {pair!r} is in {len(docs)} campaigns ({names}): give --campaign")
    doc = docs[0] if level is None else at_level(docs[0], level)
    if doc is None:
        fail(f"pair {pair!r} has no level {level!r} (levels: {', '.join(docs[0].get('levels') or [])})")
    neb_uuid = (doc.get("job_uuids") or {}).get("neb")
    where = find_job(job_stores(store), neb_uuid) if neb_uuid else None
    band = job_output(where[0], neb_uuid) if where else None
    if not isinstance(band, dict):
        fail(f"pair {pair!r} ({doc.get('calculator')}) has no stored NEB band (NEB job {neb_uuid})")
    try:
        points = band_points(band, f"{pair} {doc.get('calculator')}")
    except CalibrationError as exc:
        fail(str(exc))
    write_points(output, points)
    out.print(f"wrote {len(points)} points of {pair} ({doc.get('calculator')}, energies only) to {output}")


def register(app: typer.Typer) -> None:
    app.command("calibration-points")(calibration_points)
    app.command()(results)
    app.command()(validate)
    app.command()(plot)
    app.command()(report)
