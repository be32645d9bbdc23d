"""``mvflows neb INITIAL FINAL``: one NEB between two given endpoint files, run here."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from mvflows.cli.common import EXIT_INCOMPLETE, fail, out


def neb(
    initial: Path = typer.Argument(..., help="first endpoint: any structure file pymatgen reads"),
    final: Path = typer.Argument(..., help="last endpoint: the same cell and atoms, one ion moved"),
    name: str | None = typer.Option(None, "--name", help="the path's name in results (default: the folder)"),
    campaign: str = typer.Option("neb", "--campaign", help="campaign name the result is stored under"),
    store: str | None = typer.Option(None, "--store", help="store URI (default ./mvflows_data)"),
    model: str | None = typer.Option(None, "--model", help="force field (default SevenNet)"),
    images: int = typer.Option(7, "--images", min=1, help="moving images"),
    fmax: float = typer.Option(0.05, "--fmax", min=1e-4, help="NEB force convergence (eV/Å)"),
    steps: int = typer.Option(400, "--steps", min=1, help="NEB optimiser step limit"),
    endpoint_fmax: float = typer.Option(0.02, "--endpoint-fmax", min=1e-4, help="endpoint relax fmax (eV/Å)"),
    endpoint_steps: int = typer.Option(300, "--endpoint-steps", min=1),
    work_dir: Path | None = typer.Option(None, "--work-dir", help="scratch directory for job files"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress report"),
    jobs: int | None = typer.Option(None, "--jobs", "-j", min=1, help="jobs at once (default: every core)"),
) -> None:
    """NEB between two endpoints: both relaxed in the fixed cell (one and its mirror image when
    the path is symmetric), IDPP start, mvflows' band; the profile is printed and stored.

    Exit code 0 when the band converged and passed its checks, 1 otherwise, 2 for bad input.
    """
    from pydantic import ValidationError

    from mvflows.campaign import Campaign, NebPath
    from mvflows.cli.run import run_campaign
    from mvflows.structures.files import check_endpoints, read_structure

    path = NebPath(initial=str(initial.resolve()), final=str(final.resolve()), name=name)
    try:
        check_endpoints(read_structure(path.initial), read_structure(path.final), where=f"path {path.key}")
    except ValueError as exc:
        fail(str(exc))
    settings = {
        "name": campaign,
        "paths": [path.model_dump()],
        "neb": {
            "images": images,
            "fmax": fmax,
            "steps": steps,
            "endpoint_fmax": endpoint_fmax,
            "endpoint_steps": endpoint_steps,
        },
    }
    if model:
        settings["calculator"] = {"model": model}
    try:
        camp = Campaign.model_validate(settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "-".join(str(p) for p in first["loc"][1:]).replace("_", "-") or "model"
        fail(f"--{option}: {first['msg'].removeprefix('Value error, ')}")
    if model:
        camp._origins["calculator.model"] = f"--model {model}"
    mode = "quiet" if quiet or os.environ.get("MVFLOWS_NO_PROGRESS") == "1" else "auto"
    ok = run_campaign(camp, store, work_dir, mode, fresh=False, jobs=jobs)
    _print_profile(store, camp)
    if not ok:
        raise typer.Exit(EXIT_INCOMPLETE)


def _print_profile(store: str | None, camp) -> None:
    """Image, distance the ion moved and energy of the stored band."""
    from rich.table import Table

    from mvflows.store import query_results, results_store

    key = camp.paths[0].key
    docs = [d for d in query_results(results_store(store), campaign=camp.name) if d["host"] == key]
    if not docs or not docs[0].get("neb_energies_ev"):
        return
    doc = docs[0]
    table = Table(
        title=f"NEB profile: {key} ({doc['intercalant']} moves; barrier {doc['barrier_ev']:.3f} eV)"
    )
    for header in ("image", "distance (Å)", "E - E0 (eV)"):
        table.add_column(header, justify="right")
    distances = doc.get("neb_path_distance_a") or [None] * len(doc["neb_energies_ev"])
    for i, (d, e) in enumerate(zip(distances, doc["neb_energies_ev"], strict=True)):
        table.add_row(str(i), "-" if d is None else f"{d:.2f}", f"{e:+.3f}")
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(neb)
