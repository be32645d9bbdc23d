"""Cluster commands: ``cluster init``, ``submit``, ``status``, ``rerun`` (jobflow-remote + SLURM).

Registered on the main app by :func:`register`; the work is in :mod:`mvflows.cluster`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mvflows.cli.common import err, fail, out

cluster_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Set up jobflow-remote projects.")

PROJECT_OPT = typer.Option(None, "--project", "-p", help="jobflow-remote project (default $JFREMOTE_PROJECT)")


@cluster_app.command("init")
def cluster_init(
    name: str = typer.Argument("mvflows", help="project name"),
    mongo: str = typer.Option("mongodb://127.0.0.1:27017/mvflows", "--mongo", help="queue and job store"),
    work_dir: Path = typer.Option(
        Path("mvflows_jobs"), "--work-dir", help="where the local worker runs jobs"
    ),
    venv: Path | None = typer.Option(
        None, "--venv", help="environment the jobs activate (default: this one)"
    ),
    remote_host: str | None = typer.Option(None, "--remote-host", help="also a worker on this SSH host"),
    remote_user: str | None = typer.Option(None, "--remote-user"),
    folder: Path | None = typer.Option(None, "--folder", help="projects folder (default ~/.jfremote)"),
    template: Path | None = typer.Option(
        None, "--template", help="default: the packaged template (a copy: configs/jobflow-remote.yaml)"
    ),
    force: bool = typer.Option(False, "--force", help="replace an existing project file"),
) -> None:
    """Write a ready jobflow-remote project (SLURM worker, MongoDB stores) from the template."""
    from mvflows.cluster import ClusterError, ProjectMaker, write_project

    maker = ProjectMaker(mongo_uri=mongo, work_dir=work_dir, remote_host=remote_host, remote_user=remote_user)
    if venv is not None:
        maker.venv = venv
    if template is not None:
        maker.template = template
    try:
        path = write_project(maker.make(name), folder, force=force)
    except ClusterError as exc:
        fail(str(exc))
    out.print(f"wrote {path}", highlight=False)
    err.print(f"next: mvflows submit CAMPAIGN --project {name}; jf -p {name} runner start", highlight=False)


def submit(
    campaign: Path = typer.Argument(..., help="campaign file, e.g. workflows/smoke.yaml"),
    project: str | None = PROJECT_OPT,
    worker: str | None = typer.Option(None, "--worker", "-w", help="worker (default: the project's first)"),
    model: str | None = typer.Option(None, "--model", help="force field name, overrides the campaign"),
) -> None:
    """Queue CAMPAIGN's flow in a jobflow-remote project; its runner sends the jobs to SLURM."""
    from mvflows.campaign import CampaignError, load_campaign
    from mvflows.cluster import ClusterError, job_controller, submit_campaign

    try:
        camp = load_campaign(campaign, {"calculator.model": model} if model else None)
    except CampaignError as exc:
        fail(str(exc))
    try:
        jc = job_controller(project)
        if worker is not None and worker not in jc.project.workers:
            fail(f"no worker {worker!r} in project {jc.project.name} ({', '.join(jc.project.workers)})")
        db_ids = submit_campaign(camp, jc.project.name, worker)
    except ClusterError as exc:
        fail(str(exc))
    out.print(
        f"submitted campaign {camp.name}: {len(camp.pair_list())} pairs, {len(db_ids)} jobs "
        f"(db ids {db_ids[0]}-{db_ids[-1]}) to project {jc.project.name}",
        highlight=False,
    )
    if camp.refine is not None:
        from mvflows.calculators import calculator_for
        from mvflows.flows import refined_campaign
        from mvflows.refine import describe_rule

        label = calculator_for(refined_campaign(camp).calculator).label
        out.print(
            f"{describe_rule(camp.refine, len(camp.pair_list()), label)}; "
            f"`mvflows status --project {jc.project.name}` says which, once they are in",
            highlight=False,
            soft_wrap=True,
        )


def status(
    project: str | None = PROJECT_OPT,
    jobs: bool = typer.Option(False, "--jobs", help="one line per job instead of per pair"),
) -> None:
    """Job states per pair (jobs shared by pairs, like metal references, under '(shared)').

    A refined pair's jobs on DFT are listed as ``PAIR (LEVEL)``; what each refine job picked
    follows the table (``refine: picked ...``).
    """
    from rich.table import Table

    from mvflows.cluster import ClusterError, job_rows, states_per_pair
    from mvflows.refine import describe_picks

    try:
        rows = job_rows(project)
    except ClusterError as exc:
        fail(str(exc))
    if jobs:
        table = Table("db id", "pair", "job", "state", "slurm id")
        for r in rows:
            table.add_row(r.db_id, r.pair, r.name, r.state, r.remote_id or "")
    else:
        table = Table("pair", "jobs", "states")
        for pair, counts in states_per_pair(rows).items():
            table.add_row(
                pair, str(sum(counts.values())), ", ".join(f"{s} {n}" for s, n in sorted(counts.items()))
            )
    out.print(table)
    for r in rows:
        if r.refine:
            out.print(describe_picks(r.refine), highlight=False, soft_wrap=True)


def rerun(
    target: str = typer.Argument(..., help="a pair (MgCr2S4) or a job (db id or uuid)"),
    project: str | None = PROJECT_OPT,
) -> None:
    """Rerun FAILED/REMOTE_ERROR jobs (e.g. killed by scancel) of a pair, or one job."""
    from mvflows.cluster import ClusterError
    from mvflows.cluster import rerun as rerun_jobs

    try:
        changed = rerun_jobs(project, target)
    except ClusterError as exc:
        fail(str(exc))
    out.print(f"rerun: {len(changed)} jobs back to READY/WAITING ({', '.join(map(str, changed)) or 'none'})")


def register(app: typer.Typer) -> None:
    """Add the cluster commands to the main ``mvflows`` app."""
    app.add_typer(cluster_app, name="cluster")
    app.command()(submit)
    app.command()(status)
    app.command()(rerun)
