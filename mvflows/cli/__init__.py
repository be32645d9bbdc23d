"""The ``mvflows`` command line: run campaigns, read their results, and drive a cluster."""

from __future__ import annotations

import os

import typer

from mvflows.cli import cluster, neb, results, run

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Screen multivalent-battery cathodes.")
run.register(app)
results.register(app)
neb.register(app)
cluster.register(app)


def main() -> None:
    import warnings

    os.environ.setdefault("TQDM_DISABLE", "1")
    # a run stopped by Ctrl-C ends its workers mid-job; multiprocessing's resource tracker (a
    # process of its own, started later) then frees what they held, warning of 'leaked semaphores'
    quiet_tracker = "ignore:resource_tracker:UserWarning"
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"), quiet_tracker)))
    # library chatter (monty's deprecated cd, jobflow's unconnected-jobs note, torch) is not for users
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category)
    app()


if __name__ == "__main__":
    main()
