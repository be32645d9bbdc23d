"""``mvflows run``: a campaign on this machine, then its results table."""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path

import typer

from mvflows.cli.common import EXIT_INCOMPLETE, EXIT_INTERRUPTED, err, fail, out


def _write_timings(work_dir: Path, campaign: str, wall: float, report, slots: int) -> None:
    """Per-job wall times of this run (benchmarks/campaign.py reads them)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    (work_dir / "timings.json").write_text(
        json.dumps(
            {
                "campaign": campaign,
                "wall_s": wall,
                "slots": slots,
                "ran": report.ran,
                "reused": report.reused,
                "failed": len(report.failed),
                "jobs": report.seconds,
            },
            indent=1,
        )
    )


def _job_slots(requested: int | None, kind: str) -> int:
    """How many jobs run at once: force-field jobs one per core; VASP jobs (fake too) every core each."""
    if requested is None and os.environ.get("MVFLOWS_JOBS", "").strip():
        try:
            requested = int(os.environ["MVFLOWS_JOBS"])
        except ValueError:
            fail(f"MVFLOWS_JOBS must be a whole number, not {os.environ['MVFLOWS_JOBS']!r}")
        if requested < 1:
            fail(f"MVFLOWS_JOBS must be at least 1, not {requested}")
    if requested is None:
        from mvflows.image_workers import available_cores

        return available_cores() if kind == "forcefield" else 1
    return requested


# what each command-line override of ``mvflows run`` sets, for errors that name the option
RUN_OPTIONS = {"calculator.model": "--model", "calculator.kind": "--calculator"}
_SERVER_STORES = ("mongodb://", "mongodb+srv://", "mongomock://")


def _store_uri(store: str | None) -> str:
    """The store a run writes to; an empty one is refused (it would be the current directory)."""
    from mvflows.store import StoreError, resolve_uri

    if store is not None and not store.strip():
        fail("--store: empty")
    try:
        uri = resolve_uri(store)
    except StoreError as exc:
        fail(str(exc))
    if not uri.startswith(_SERVER_STORES) and not uri.removeprefix("monty:").strip():
        fail(f"--store {store!r}: no directory" if store else "$MVFLOWS_STORE: empty")
    return uri


def _check_work_dir(work_dir: Path) -> None:
    """--work-dir must be a directory this process may write in, or one it can make (not made yet)."""
    probe = Path(work_dir).expanduser().absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        fail(f"--work-dir {work_dir}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        fail(f"--work-dir {work_dir}: {probe} is not writable")


def run(
    campaign: Path = typer.Argument(..., help="campaign file, e.g. workflows/spinel21.yaml"),
    store: str | None = typer.Option(
        None, "--store", help="store URI or configs/*.yaml (default ./mvflows_data)"
    ),
    model: str | None = typer.Option(None, "--model", help="force field name, overrides the campaign"),
    calculator: str | None = typer.Option(
        None,
        "--calculator",
        help="forcefield, vasp or fake-vasp (VASP graph on fake VASP); overrides the campaign",
    ),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="scratch directory for job files"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="--no-progress: as --quiet"),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="no progress (a bar on a terminal, else one line per job)"
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="recompute everything instead of reusing finished jobs"
    ),
    jobs: int | None = typer.Option(
        None,
        "--jobs",
        "-j",
        min=1,
        help="jobs run at once, one core each (default: $MVFLOWS_JOBS, else every core for a force field, "
        "1 for VASP)",
    ),
) -> None:
    """Run every pair of CAMPAIGN here, on the campaign's calculator, and print the table.

    Finished jobs already in the store are reused, so re-running after an interruption
    continues where it stopped; --fresh recomputes. Exit code: 0 when every pair is
    successful, 1 when some are partial or failed (the table says why), 2 for bad input,
    130 when interrupted (Ctrl-C, SIGTERM).
    """
    from mvflows.campaign import CampaignError, load_campaign

    overrides = {"calculator.model": model} if model else {}
    if calculator:
        overrides["calculator.kind"] = calculator
    try:
        camp = load_campaign(campaign, overrides, RUN_OPTIONS)
    except CampaignError as exc:
        fail(str(exc))
    mode = "quiet" if quiet or not progress or os.environ.get("MVFLOWS_NO_PROGRESS") == "1" else "auto"
    if not run_campaign(camp, store, work_dir, mode, fresh, jobs):
        raise typer.Exit(EXIT_INCOMPLETE)


def _stops_cleanly(run):
    """``run`` under the interrupt guard: Ctrl-C or SIGTERM outside the jobs says so and exits 130.

    While jobs run, :func:`mvflows.execution.run_flow` handles the signal itself (it stops the
    workers and reports what is stored); this covers the set-up before and the table after.
    """

    @functools.wraps(run)
    def guarded(*args, **kwargs):
        from mvflows.interrupts import Interrupted, interruptible

        with interruptible():
            try:
                return run(*args, **kwargs)
            except Interrupted as exc:  # before or after the jobs: nothing was running
                err.print(
                    f"interrupted ({exc.name}): every finished job is stored; run the same command again "
                    "to continue",
                    highlight=False,
                    soft_wrap=True,
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None

    return guarded


@_stops_cleanly
def run_campaign(
    camp,
    store: str | None,
    work_dir: Path | None,
    mode: str,
    fresh: bool,
    jobs: int | None,
) -> bool:
    """Run a loaded campaign (or one built by ``mvflows neb``) and print its table.

    True when every pair and path has a successful result. Everything the command line and
    the campaign name is checked before the store is opened: bad input writes nothing.
    Ctrl-C and SIGTERM stop it cleanly with exit code 130.
    """

    def checked(keys: tuple[str, ...], check, *args):
        """``check(*args)``; its error blamed on where the first of the settings ``keys`` was given."""
        try:
            return check(*args)
        except (RuntimeError, ValueError) as exc:
            where = next((camp.where(k) for k in keys if camp.where(k)), None)
            fail(f"{where}: {exc}" if where else str(exc))

    slots = _job_slots(jobs, camp.calculator.kind)
    uri = _store_uri(store)
    if work_dir is not None:
        _check_work_dir(work_dir)
    from mvflows.calculators import calculator_for
    from mvflows.models import load_model_or_fail
    from mvflows.store import StoreError, job_store

    kind, config = camp.calculator.kind, ("calculator.vasp_config", "calculator.kind")
    calc = checked(config, calculator_for, camp.calculator)
    if kind == "vasp":
        from mvflows.vasp.makers import vasp_available_or_fail

        checked(("calculator.kind",), vasp_available_or_fail, calc.settings)
    else:  # a force field, or the surrogate of fake VASP
        if kind == "fake-vasp":
            from mvflows.vasp.makers import fake_vasp_available_or_fail

            checked(config, fake_vasp_available_or_fail, calc.settings)
        model = camp.calculator
        checked(("calculator.model",), load_model_or_fail, model.model, model.model_kwargs)
        for name, kwargs in model.committee_models()[1:]:  # every member, before anything is computed
            checked(("calculator.committee",), load_model_or_fail, name, kwargs)
    if camp.refine is not None:  # the VASP the picked pairs go on to
        checked(("refine.vasp_config", "refine.calculator"), _refine_available_or_fail, camp)
    try:
        js = job_store(uri)
    except StoreError as exc:
        fail(str(exc))

    from mvflows.execution import run_flow
    from mvflows.execution.progress import reporter
    from mvflows.flows import CampaignMaker, result_job_uuids
    from mvflows.jobs.results import republish
    from mvflows.models import model_label

    flow = CampaignMaker().make(camp)
    ids = result_job_uuids(flow)
    pairs = camp.pair_list()
    counted = f"{len(pairs)} pairs" + (f", {len(camp.paths)} paths" if camp.paths else "")
    model = "model " + model_label(camp.calculator.model, camp.calculator.model_kwargs)
    if camp.calculator.committee is not None:
        model = "committee " + ", ".join(model_label(*m) for m in camp.calculator.committee_models())
    err.print(
        f"mvflows: campaign [bold]{camp.name}[/bold]: {counted}, {model}, "
        f"store {uri}, {slots} job{'s' if slots > 1 else ''} at once",
        highlight=False,
    )
    start = time.perf_counter()
    if work_dir is None:
        work_dir = (
            Path("mvflows_work") if uri.startswith("mongo") else Path(uri.removeprefix("monty:")) / "work"
        )
    # runs on one store coordinate through claims beside it (for MongoDB, runs sharing a work dir)
    claims = None if uri.startswith("mongo") else Path(uri.removeprefix("monty:")) / "claims"
    report = run_flow(
        flow,
        js,
        work_dir,
        fresh=fresh,
        reporter=reporter(mode, err, slots),
        jobs=slots,
        claims_dir=claims,
        after_reuse=lambda job: job.uuid in ids and republish(js, job.uuid),  # a lost result comes back
    )
    wall = time.perf_counter() - start
    _write_timings(Path(work_dir), camp.name, wall, report, slots)
    if report.interrupted:
        stopped = len(report.abandoned)
        unfinished = (
            f", {stopped} running job{'s' * (stopped > 1)} stopped unfinished (not stored)" if stopped else ""
        )
        err.print(
            f"interrupted ({report.interrupted}): {report.ran + report.reused} of {report.total} jobs stored "
            f"({report.ran} computed by this run){unfinished}; run the same command again to continue",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED)

    from mvflows.reporting import notes, table
    from mvflows.store import fold_members, query_results, refresh

    refresh(js)  # results another run on this store published meanwhile
    docs = [
        d for d in query_results(js.additional_stores["results"], all_versions=True) if d["result_id"] in ids
    ]
    docs = fold_members(docs)  # a committee campaign: one row per pair
    out.print(table(docs, title=f"{camp.name} ({calc.label})"))
    for line in notes(docs):
        out.print(line, highlight=False)
    for line in _refine_picks(js, flow):
        out.print(line, highlight=False, soft_wrap=True)
    for name, message in report.failed.items():
        err.print(f"failed job {name}: {message}", highlight=False, soft_wrap=True)
    ok = sum(d.get("state") == "successful" for d in docs)
    expected = len(pairs) + len(camp.paths)
    err.print(
        f"mvflows: {ok}/{expected} {'results' if camp.paths else 'pairs'} successful; "
        f"jobs: {report.ran} run, {report.reused} reused, "
        f"{len(report.failed)} failed, {report.skipped} skipped; wall time {wall:.0f} s"
        + (
            f"; {report.rebuilt} lost result{'s' * (report.rebuilt > 1)} rebuilt from the stored jobs"
            if report.rebuilt
            else ""
        ),
        highlight=False,
        soft_wrap=True,
    )
    store_opt = "" if store is None else f" --store {store}"
    err.print(
        f"next: mvflows results{store_opt} --campaign {camp.name} (--format csv|json); mvflows plot "
        f"voltage-capacity{store_opt}; job errors, if any, in {Path(work_dir) / 'errors.log'}",
        highlight=False,
        soft_wrap=True,
    )
    return ok == expected


def _refine_picks(js, flow) -> list[str]:
    """What each refine job of the run picked, from its stored_data (``refine: picked ...``)."""
    from mvflows.flows import refine_job_uuids
    from mvflows.refine import describe_picks

    lines = []
    for uuid in refine_job_uuids(flow):
        doc = js.docs_store.query_one(
            {"uuid": uuid, "stored_data.refine": {"$exists": True}}, properties=["stored_data"]
        )
        if doc:
            lines.append(describe_picks(doc["stored_data"]["refine"]))
    return lines


def _refine_available_or_fail(camp) -> None:
    """The refinement's VASP (or fake VASP) must run here before anything is computed."""
    from mvflows.flows import refined_campaign
    from mvflows.vasp.makers import fake_vasp_available_or_fail, vasp_available_or_fail
    from mvflows.vasp.settings import load_vasp_settings

    settings = load_vasp_settings(refined_campaign(camp).calculator.vasp_config)
    if camp.refine.calculator == "vasp":
        vasp_available_or_fail(settings)
    else:
        fake_vasp_available_or_fail(settings)


def register(app: typer.Typer) -> None:
    app.command()(run)
