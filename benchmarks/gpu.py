"""B-GPU: B-NEB and the table1 campaign on a CUDA GPU, beside the CPU numbers of this checkout.

Needs a machine where torch sees a GPU (``torch.cuda.is_available()``); refuses with one
line otherwise. Runs, on the GPU (``calculator.device: cuda``; the models' ``auto`` also
picks it):

1. B-NEB (``benchmarks/neb.py``, Mg in Cr2S4, 97 atoms), its tight reference taken from
   the CPU result ``benchmarks/results/neb.json`` so only the stock and mvflows bands run;
2. ``workflows/table1.yaml`` into a fresh store, every pair's voltage and barrier set
   beside the CPU values of ``benchmarks/results/model.json`` (same model, same settings:
   the differences are float noise of the device, or a bug).

    python -m benchmarks.gpu [--store DIR] -> benchmarks/results/gpu.json (+ gpu_neb.json)

Meant to take under 8 minutes on one data-centre GPU; the wall times are in the result.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.common import RESULTS, machine, write_result

CLI = [sys.executable, "-c", "from mvflows.cli import main; main()"]


def _cpu_values() -> dict[str, dict]:
    """(pair -> quantity -> value) of the CPU run of table1 on SevenNet-0 (benchmarks/model.py)."""
    path = RESULTS / "model.json"
    if not path.exists():
        return {}
    rows = json.loads(path.read_text()).get("models", {}).get("7net-0", {}).get("rows", [])
    out: dict[str, dict] = {}
    for row in rows:
        out.setdefault(row["pair"], {})[row["quantity"]] = row["computed"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", default=None, help="store for the table1 run (default: a new temporary one)")
    args = p.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("benchmarks.gpu: torch sees no CUDA device on this machine; nothing run")
    device = torch.cuda.get_device_name(0)

    t0 = time.perf_counter()
    reference = str(RESULTS / "neb.json")
    neb = subprocess.run(
        [sys.executable, "-m", "benchmarks.neb", "--out", "gpu_neb.json", "--reference-from", reference]
    )
    neb_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        campaign = yaml.safe_load(Path("workflows/table1.yaml").read_text())
        campaign.setdefault("calculator", {})["device"] = "cuda"
        path = Path(tmp) / "table1.yaml"
        path.write_text(yaml.safe_dump(campaign))
        store = args.store or str(Path(tmp) / "store")
        t0 = time.perf_counter()
        run = subprocess.run([*CLI, "run", str(path), "--store", store, "--no-progress"])
        table1_s = time.perf_counter() - t0
        docs = json.loads(
            subprocess.run(
                [*CLI, "results", "--store", store, "--format", "json"], capture_output=True, text=True
            ).stdout
            or "[]"
        )
    cpu = _cpu_values()
    pairs = []
    for d in docs:
        name = f"{d['intercalant']} in {d['host']}"
        row = {"pair": name, "state": d.get("state")}
        for q in ("voltage_v", "barrier_ev"):
            row[q] = d.get(q)
            ref = cpu.get(name, {}).get(q)
            row[f"{q}_cpu"] = ref
            row[f"{q}_gpu_minus_cpu"] = None if ref is None or d.get(q) is None else d[q] - ref
        pairs.append(row)
    neb_result = RESULTS / "gpu_neb.json"
    write_result(
        "gpu.json",
        {
            "benchmark": "B-GPU: B-NEB and table1 on a CUDA GPU",
            "device": device,
            "neb_exit_code": neb.returncode,
            "neb_wall_s": neb_s,
            "neb": json.loads(neb_result.read_text()) if neb_result.exists() else None,
            "table1_exit_code": run.returncode,
            "table1_wall_s": table1_s,
            "table1": pairs,
            **machine(),
        },
    )


if __name__ == "__main__":
    main()
