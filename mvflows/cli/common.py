"""What every mvflows command shares: the consoles, the one-line error exit, reading results."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

err = Console(stderr=True)
out = Console(width=None if sys.stdout.isatty() else 200)

EXIT_INCOMPLETE = 1  # the run finished but some pairs failed or are partial
EXIT_BAD_INPUT = 2  # nothing was computed
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: what finished is stored, the same command continues

READ_STORES_HELP = "store URI or configs/*.yaml (default ./mvflows_data); repeat to read several stores"
CAMPAIGN_HELP = "only this campaign's results (the campaign file's name:)"
ALL_HELP = "every stored version of each result, not only each campaign's latest"
MEMBERS_HELP = "also each committee member's own result (a committee result's row holds their values)"


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one ``error:`` line and leave with ``code``."""
    err.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def job_stores(stores: list[str] | None) -> list:
    """The job stores of the given stores, in order: the structures and NEB images of their results.

    Opened read-only, as every read command opens its stores: a missing store is an error,
    never created.
    """
    from mvflows.store import StoreError, job_store

    try:
        return [job_store(u, read_only=True) for u in stores or [None]]
    except StoreError as exc:
        fail(str(exc))


def read_results(
    stores: list[str] | None,
    host: str | None = None,
    intercalant: str | None = None,
    campaign: str | None = None,
    all_versions: bool = False,
    members: bool = False,
) -> list[dict]:
    """Pair results of every given store (e.g. a laptop's embedded store and the cluster's MongoDB).

    A result found in several stores (same ``result_id``) is kept once, from the first
    store that has it; without ``all_versions`` each campaign's latest version of a pair
    is shown, across all the stores. The members' own results of a committee result are left
    out (its row holds their values) unless ``members``.
    """
    from mvflows.store import (
        StoreError,
        fold_members,
        latest_versions,
        query_results,
        result_id_of,
        results_store,
    )

    seen: set[str] = set()
    docs: list[dict] = []
    for uri in stores or [None]:
        try:
            found = query_results(
                results_store(uri, read_only=True),
                host=host,
                intercalant=intercalant,
                campaign=campaign,
                all_versions=True,
            )
        except StoreError as exc:
            fail(str(exc))
        for doc in found:
            key = result_id_of(doc)
            if key not in seen:
                seen.add(key)
                docs.append(doc)
    docs = docs if all_versions else latest_versions(docs)
    return docs if members else fold_members(docs)
