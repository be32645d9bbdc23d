"""All benchmarks, one after the other: ``python -m benchmarks.run [--quick]``.

Results go to benchmarks/results/*.json. ``--quick`` runs only the cheap ones (B-scale
at 1/10 size, B-NEB with 3 images, B-relax on three host cells) to check the machinery, not to quote numbers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

STEPS = [
    ["benchmarks.neb"],
    ["benchmarks.relax"],
    ["benchmarks.scale"],
    ["benchmarks.campaign", "--store", "benchmarks/results/model_store"],
    ["benchmarks.model", "--store", "benchmarks/results/model_store"],
    ["benchmarks.literature"],
]
QUICK = [
    [
        "benchmarks.neb",
        "--images",
        "3",
        "--fmax",
        "0.1",
        "--reference-fmax",
        "0.03",
        "--out",
        "neb_quick.json",
    ],
    ["benchmarks.relax", "--quick", "--out", "relax_quick.json"],
    ["benchmarks.scale", "--pairs", "100", "--docs", "1000", "--out", "scale_quick.json"],
]


def main() -> None:
    steps = QUICK if "--quick" in sys.argv else STEPS
    if steps is STEPS:  # B-campaign must start from an empty store to time everything
        shutil.rmtree("benchmarks/results/model_store", ignore_errors=True)
    for step in steps:
        print(f"== python -m {' '.join(step)}", flush=True)
        code = subprocess.call([sys.executable, "-m", *step])
        if code:
            sys.exit(code)


if __name__ == "__main__":
    main()
