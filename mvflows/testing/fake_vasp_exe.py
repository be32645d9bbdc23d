"""``mvflows-fake-vasp``: fake VASP as the VASP command of a job (see :mod:`mvflows.testing.fake_vasp`).

atomate2's ``run_vasp`` (custodian's ``VaspJob``/``VaspNEBJob``) starts it in the job
directory with stdout to ``vasp.out`` and stderr to ``std_err.txt``, as it starts VASP::

    mvflows-fake-vasp                 # check the inputs, run the surrogate, write the outputs
    mvflows-fake-vasp --fail neb      # ... but crash in a NEB job (kinds: relax, static, neb)
    mvflows-fake-vasp --fail neb --fail-while /shared/fail-neb   # ... only while that file exists
    python -m mvflows.testing.fake_vasp_exe   # the same, where the console script is not installed

Exit code 0: outputs written; 1: crashed (told to fail, or an unexpected error: no outputs);
2: inputs refused (the reason in ``fake_vasp_error.json``, which custodian's
:class:`~mvflows.testing.fake_vasp.FakeVaspErrorHandler` raises in the job).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

EXIT_CRASH, EXIT_REFUSED = 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mvflows-fake-vasp",
        description="Fake VASP for mvflows' fake-vasp calculator: check a job's inputs against the "
        "campaign, write surrogate outputs.",
    )
    parser.add_argument("--fail", default="", help="job kinds that crash instead, e.g. neb or relax,static")
    parser.add_argument(
        "--fail-while",
        default=None,
        metavar="FILE",
        help="fail the --fail kinds only while FILE exists (delete it to let a rerun pass)",
    )
    parser.add_argument("--dir", type=Path, default=Path.cwd(), help="job directory (default: here)")
    args = parser.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    from mvflows.testing.fake_vasp import (
        FakeVaspFailure,
        FakeVaspInputError,
        fail_kinds,
        run_job,
        write_error,
    )

    try:
        fail = fail_kinds(args.fail, args.fail_while)
    except ValueError as exc:
        print(f"fake VASP: {exc}", file=sys.stderr)
        write_error(args.dir, exc)
        return EXIT_REFUSED
    try:
        cause = args.fail_while if args.fail_while and Path(args.fail_while).exists() else None
        run_job(args.dir, fail=fail, while_file=cause)
    except FakeVaspInputError as exc:
        for stream in (sys.stdout, sys.stderr):
            print(exc, file=stream)
        write_error(args.dir, exc)
        return EXIT_REFUSED
    except FakeVaspFailure as exc:  # a crash: custodian finds no vasprun.xml, as after VASP's
        for stream in (sys.stdout, sys.stderr):
            print(exc, file=stream)
        return EXIT_CRASH
    except Exception as exc:  # noqa: BLE001 - reported to the job by FakeVaspErrorHandler
        traceback.print_exc()
        write_error(args.dir, exc)
        return EXIT_CRASH
    return 0


if __name__ == "__main__":
    sys.exit(main())
