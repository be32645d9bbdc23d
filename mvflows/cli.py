"""The ``mvflows`` command line: run campaigns and read their results."""

from __future__ import annotations

import os
import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.console import Console

if TYPE_CHECKING:
    from jobflow import JobStore

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Screen multivalent-battery cathodes.")
err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 200)

EXIT_INCOMPLETE = 1  # the run finished but some pairs failed or are partial
EXIT_BAD_INPUT = 2  # nothing was computed


class Fmt(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


READ_STORES_HELP = "store URI or configs/*.yaml (default ./mvflows_data); repeat to read several stores"


def _read_results(stores: list[str] | None, host: str | None = None, intercalant: str | None = None) -> list[dict]:
    """Pair results of every given store (e.g. a laptop's embedded store and the cluster's MongoDB).

    A document found in several stores (same host, intercalant and calculator) is kept
    once, from the first store that has it.
    """
    from mvflows.store import RESULT_KEY, StoreError, query_results, results_store

    seen: set[tuple] = set()
    docs: list[dict] = []
    for uri in stores or [None]:
        try:
            found = query_results(results_store(uri), host=host, intercalant=intercalant)
        except StoreError as exc:
            _fail(str(exc))
        for doc in found:
            key = tuple(doc.get(k) for k in RESULT_KEY)
            if key not in seen:
                seen.add(key)
                docs.append(doc)
    return docs


def _job_stores(stores: list[str] | None) -> list[JobStore]:
    """The job stores of the given stores, in order: structures and NEB images of their results."""
    from mvflows.store import StoreError, job_store

    try:
        return [job_store(u) for u in stores or [None]]
    except StoreError as exc:
        _fail(str(exc))


def _write_timings(work_dir: Path, campaign: str, wall: float, report, slots: int) -> None:  # type: ignore[no-untyped-def]
    """Per-job wall times of this run (benchmarks/campaign.py reads them)."""
    import json

    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "timings.json").write_text(json.dumps(
        {"campaign": campaign, "wall_s": wall, "slots": slots, "ran": report.ran, "reused": report.reused,
         "failed": len(report.failed), "jobs": report.seconds}, indent=1))


def _job_slots(requested: int | None, kind: str) -> int:
    """How many jobs run at once: force-field jobs one per core; VASP jobs use every core each.

    Fake VASP swaps VASP out inside this process only, so its jobs cannot go to workers.
    """
    if requested is None and os.environ.get("MVFLOWS_JOBS", "").strip():
        try:
            requested = int(os.environ["MVFLOWS_JOBS"])
        except ValueError:
            _fail(f"MVFLOWS_JOBS must be a whole number, not {os.environ['MVFLOWS_JOBS']!r}")
        if requested < 1:
            _fail(f"MVFLOWS_JOBS must be at least 1, not {requested}")
    if kind == "fake-vasp":
        return 1
    if requested is None:
        from mvflows.image_workers import available_cores

        return available_cores() if kind == "forcefield" else 1
    return requested


@app.command()
def run(
    campaign: Path = typer.Argument(..., help="campaign file, e.g. workflows/spinel21.yaml"),
    store: Optional[str] = typer.Option(None, "--store", help="store URI or configs/*.yaml (default ./mvflows_data)"),
    model: Optional[str] = typer.Option(None, "--model", help="force field name, overrides the campaign"),
    calculator: Optional[str] = typer.Option(
        None, "--calculator", help="forcefield, vasp or fake-vasp (VASP graph on fake VASP); overrides the campaign"
    ),
    work_dir: Optional[Path] = typer.Option(None, "--work-dir", help="scratch directory for job files"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    fresh: bool = typer.Option(False, "--fresh", help="recompute everything instead of reusing finished jobs"),
    jobs: Optional[int] = typer.Option(
        None, "--jobs", "-j", min=1,
        help="jobs run at once, one core each (default: $MVFLOWS_JOBS, else every core for a force field, 1 for VASP)",
    ),
) -> None:
    """Run every pair of CAMPAIGN here, on the campaign's calculator, and print the table.

    Finished jobs already in the store are reused, so re-running after an interruption
    continues where it stopped; --fresh recomputes.
    """
    from mvflows.calculators import load_model_or_fail
    from mvflows.campaign import CampaignError, load_campaign
    from mvflows.store import StoreError, job_store, query_results, resolve_uri

    overrides = {"calculator.model": model} if model else {}
    if calculator:
        overrides["calculator.kind"] = calculator
    try:
        camp = load_campaign(campaign, overrides)
    except CampaignError as exc:
        _fail(str(exc))
    slots = _job_slots(jobs, camp.calculator.kind)
    try:
        uri = resolve_uri(store)
        js = job_store(uri)
    except StoreError as exc:
        _fail(str(exc))
    try:
        if camp.calculator.kind == "vasp":
            from mvflows.flows import calculator_for
            from mvflows.vasp.makers import vasp_available_or_fail

            vasp_available_or_fail(calculator_for(camp).settings)
        else:  # a force field, or the surrogate of fake VASP
            load_model_or_fail(camp.calculator.model, camp.calculator.model_kwargs)
    except (RuntimeError, ValueError) as exc:
        _fail(str(exc))

    from mvflows.flows import CampaignMaker
    from mvflows.runner import run_flow

    flow = CampaignMaker().make(camp)
    pairs = camp.pair_list()
    err.print(
        f"mvflows: campaign [bold]{camp.name}[/bold]: {len(pairs)} pairs, model {camp.calculator.model}, "
        f"store {uri}, {slots} job{'s' if slots > 1 else ''} at once",
        highlight=False,
    )
    start = time.perf_counter()
    if work_dir is None:
        work_dir = Path("mvflows_work") if uri.startswith("mongo") else Path(uri.removeprefix("monty:")) / "work"
    import contextlib

    from mvflows.flows import calculator_for

    label = calculator_for(camp).label
    runs_on = contextlib.nullcontext()
    if camp.calculator.kind == "fake-vasp":
        from mvflows.testing import FakeVaspSpec, fake_vasp

        runs_on = fake_vasp(FakeVaspSpec.from_campaign(camp))
    with runs_on:
        report = run_flow(flow, js, work_dir, fresh=fresh, show_progress=progress, console=err, jobs=slots)
    wall = time.perf_counter() - start
    _write_timings(Path(work_dir), camp.name, wall, report, slots)

    from mvflows.reporting import notes, table

    results = js.additional_stores["results"]
    docs = [
        d
        for d in query_results(results)
        if (d["host"], d["intercalant"]) in {(p.host, p.intercalant) for p in pairs}
        and d.get("calculator", "") == label
    ]
    out.print(table(docs, title=f"{camp.name} ({label})"))
    for line in notes(docs):
        out.print(line, highlight=False)
    for name, message in report.failed.items():
        err.print(f"failed job {name}: {message}", highlight=False, soft_wrap=True)
    ok = sum(d.get("state") == "successful" for d in docs)
    err.print(
        f"mvflows: {ok}/{len(pairs)} pairs successful; jobs: {report.ran} run, {report.reused} reused, "
        f"{len(report.failed)} failed, {report.skipped} skipped; wall time {wall:.0f} s",
        highlight=False,
        soft_wrap=True,
    )
    if ok != len(pairs):
        raise typer.Exit(EXIT_INCOMPLETE)


@app.command()
def results(
    store: Optional[list[str]] = typer.Option(None, "--store", help=READ_STORES_HELP),
    fmt: Fmt = typer.Option(Fmt.table, "--format", help="table, csv or json"),
    host: Optional[str] = typer.Option(None, "--host", help="only this host, e.g. Cr2S4"),
    intercalant: Optional[str] = typer.Option(None, "--intercalant", help="only this ion, e.g. Mg"),
) -> None:
    """Print the stored pair results."""
    from mvflows.reporting import notes, table, to_csv, to_json

    docs = _read_results(store, host=host, intercalant=intercalant)
    if fmt is Fmt.json:
        sys.stdout.write(to_json(docs) + "\n")
    elif fmt is Fmt.csv:
        sys.stdout.write(to_csv(docs))
    else:
        out.print(table(docs))
        for line in notes(docs):
            out.print(line, highlight=False)


@app.command()
def validate(
    store: Optional[list[str]] = typer.Option(None, "--store", help=READ_STORES_HELP),
    output: Path = typer.Option(Path("report.md"), "-o", "--output", help="Markdown report to write"),
    reference: Optional[Path] = typer.Option(None, "--reference", help="reference file (default: the shipped one)"),
) -> None:
    """Write a report: every published value beside the computed one, MAE per quantity and model, trends."""
    from mvflows.store import resolve_uri
    from mvflows.validation import compare, load_reference, to_markdown

    try:
        ref = load_reference(str(reference) if reference else None)
    except (OSError, ValueError) as exc:
        _fail(f"cannot read reference file: {exc}")
    docs = _read_results(store)
    report = compare(docs, ref)
    try:
        output.write_text(to_markdown(report, ", ".join(resolve_uri(u) for u in store or [None])))
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    computed = sum(c.computed is not None for c in report.comparisons)
    err.print(
        f"mvflows: wrote {output}: {len(ref['rows'])} reference rows, {computed} with a computed value, "
        f"{len(report.trends)} trend checks",
        highlight=False,
    )


@app.command()
def plot(
    kind: str = typer.Argument(..., help="hull, neb, site-barrier or voltage-capacity"),
    store: Optional[list[str]] = typer.Option(None, "--store", help=READ_STORES_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="image file, .png or .svg (default KIND.png)"),
) -> None:
    """Draw one of the study's figures from the stored pair results."""
    from mvflows.plotting import KINDS, NothingToPlot
    from mvflows.plotting import plot as draw

    if kind not in KINDS:
        _fail(f"unknown figure {kind!r} (one of: {', '.join(KINDS)})")
    output = output or Path(f"{kind}.png")
    if output.suffix.lower() not in (".png", ".svg"):
        _fail(f"output {output} must end in .png or .svg")
    docs = _read_results(store)
    if kind == "neb":  # x in Å along the path needs the NEB images of the job store
        from mvflows.report import with_neb_paths

        docs = with_neb_paths(docs, _job_stores(store))
    try:
        draw(kind, docs, output)
    except NothingToPlot as exc:
        _fail(f"nothing to plot: {exc}", EXIT_INCOMPLETE)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    err.print(f"mvflows: wrote {output} ({len(docs)} pair results)", highlight=False)


@app.command()
def report(
    output: Annotated[Path, typer.Option("-o", "--output", help="folder to write; open its index.html")],
    store: Annotated[list[str] | None, typer.Option("--store", help=READ_STORES_HELP)] = None,
    campaign: Annotated[str | None, typer.Option("--campaign", help="only this campaign's results")] = None,
) -> None:
    """Write a static HTML report: results table, figures, validation, one page per pair.

    It opens from disk with no server and fetches nothing, so the folder can be copied or
    mailed; structures and NEB images are read from the same stores as the results.
    """
    from mvflows.report import ReportError, build_report, select_campaign
    from mvflows.store import resolve_uri

    docs = select_campaign(_read_results(store), campaign)  # first: it fails cleanly on a bad store
    source = ", ".join(resolve_uri(u) for u in store or [None])
    if not docs:
        _fail(f"no pair results{f' of campaign {campaign}' if campaign else ''} in {source}", EXIT_INCOMPLETE)
    try:
        index = build_report(docs, output, _job_stores(store), source=source)
    except ReportError as exc:
        _fail(str(exc))
    err.print(f"mvflows: wrote {index} ({len(docs)} pair results); open it in a browser", highlight=False,
              soft_wrap=True)


from mvflows.cli_cluster import register as _register_cluster  # noqa: E402 - needs app, _fail

_register_cluster(app)  # cluster init, submit, status, rerun


def main() -> None:
    import warnings

    os.environ.setdefault("TQDM_DISABLE", "1")
    # library chatter (monty's deprecated cd, jobflow's unconnected-jobs note, torch) is not for users
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    app()


if __name__ == "__main__":
    main()
