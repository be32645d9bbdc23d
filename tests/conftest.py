import os
import shutil
import subprocess
import sys
import warnings

import pytest

os.environ.setdefault("MVFLOWS_NO_PROGRESS", "1")
# Each test process would compile SevenNet again (mvflows.model_compile); only the smoke run
# and tests/test_model_compile.py compile, as a user's run does.
os.environ.setdefault("MVFLOWS_TORCH_COMPILE", "0")
# `make test` runs .venv/bin/python without activating the venv: its console scripts
# (mvflows-fake-vasp, which custodian starts by name) must be found as an activated venv would
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOWS = os.path.join(ROOT, "workflows")


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory):
    """workflows/smoke.yaml run once per session into a temporary store: (store path, the run's result).

    A real run with SevenNet-0 (1-3 minutes on 2 cores); the end-to-end and browser tests
    share it, so a test session computes the campaign once.
    """
    store = tmp_path_factory.mktemp("smoke") / "store"
    result = mvflows_cli(
        "run",
        os.path.join(WORKFLOWS, "smoke.yaml"),
        "--store",
        str(store),
        "--no-progress",
        timeout=1800,
        env={"MVFLOWS_TORCH_COMPILE": "auto"},  # as users run it: job and image workers compile
    )
    assert result.returncode == 0, result.stderr[-3000:]  # both smoke pairs must succeed
    return store, result


@pytest.fixture
def campaign_file(tmp_path):
    """Write a campaign text to a file and return its path."""

    def write(text: str, name: str = "campaign.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def mvflows_cli(*args, cwd=None, timeout=600, env=None):
    """``mvflows ARGS`` in a new process, as a user runs it (for runs that need their own process)."""
    env = {**os.environ, "MVFLOWS_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from mvflows.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        timeout=timeout,
        env=env,
    )


FAKE_VASP_EXE = "mvflows-fake-vasp"


def fake_vasp_cmd() -> str:
    """The VASP command of the tests' fake VASP jobs: the console script, as CI installs it.

    CI runs ``pip install -e .[test]``, so ``mvflows-fake-vasp`` is next to the Python
    that runs the tests. Where mvflows is not installed with its scripts (a venv shared
    with another checkout), the same program runs as ``python -m mvflows.testing.fake_vasp_exe``:
    an explicit fallback, said on stderr, refused when ``$CI`` is set.
    """
    here = os.path.dirname(sys.executable)
    if shutil.which(FAKE_VASP_EXE) or shutil.which(FAKE_VASP_EXE, path=here):
        return FAKE_VASP_EXE
    if os.environ.get("CI"):
        pytest.fail(f"{FAKE_VASP_EXE} is not installed: CI installs mvflows with `pip install -e .[test]`")
    print(f"note: {FAKE_VASP_EXE} not installed here; fake VASP runs as python -m", file=sys.stderr)
    return f"{sys.executable} -m mvflows.testing.fake_vasp_exe"


def jobs_line(stderr):
    """'jobs: 9 run, 8 reused, 1 failed, 0 skipped' of mvflows run, as numbers."""
    import re

    found = re.search(r"jobs: (\d+) run, (\d+) reused, (\d+) failed, (\d+) skipped", stderr)
    assert found, stderr[-2000:]
    return dict(zip(("run", "reused", "failed", "skipped"), map(int, found.groups())))


def invoke(*args):
    """``mvflows ARGS`` in this process (typer's CliRunner): fast, for input checks and reads."""
    from typer.testing import CliRunner

    from mvflows.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


SPINEL_HOSTS = [
    "Ti2S4",
    "V2S4",
    "Cr2S4",
    "Mn2S4",
    "Fe2S4",
    "Co2S4",
    "Ni2S4",
    "Mo2S4",
    "Zr2S4",
    "Nb2S4",
    "Sc2S4",
    "Cu2S4",
]


def synthetic_docs(n: int = 35, seed: int = 1) -> list[dict]:
    """``n`` pair results shaped like the results store's (12 hosts x Mg, Ca, Zn, in that order).

    Every seventh pair is partial; Ca in V2S4 (the fifth) has a 12 eV band, the outlier
    that once flattened every other profile of the NEB figure.
    """
    import random

    rng = random.Random(seed)
    docs = []
    for i, (host, ion) in enumerate([(h, i) for h in SPINEL_HOSTS for i in ("Mg", "Ca", "Zn")][:n]):
        barrier = rng.uniform(0.3, 1.4)
        partial = i % 7 == 0
        doc = {
            "campaign": "synthetic",
            "host": host,
            "intercalant": ion,
            "formula_discharged": f"{ion}{host}",
            "calculator": "forcefield:SevenNet",
            "stable_site": rng.choice(["tet", "oct"]),
            "delta_e_site_ev": rng.uniform(-0.8, 0.8),
            "voltage_v": rng.uniform(0.5, 2.6),
            "capacity_mah_g": rng.uniform(170, 260),
            "barrier_ev": barrier,
            "neb_energies_ev": [0.0, 0.6 * barrier, barrier, 0.6 * barrier, rng.uniform(-0.02, 0.02)],
            "neb_skipped_reason": None,
            "state": "partial" if partial else "successful",
            "failure_reasons": ["NEB forces not converged within the step limit"] if partial else [],
            "e_hull_charged_ev_atom": rng.uniform(0, 0.2),
            "e_hull_discharged_ev_atom": rng.uniform(0, 0.2),
            "job_uuids": {},
        }
        doc["specific_energy_wh_kg"] = doc["voltage_v"] * doc["capacity_mah_g"]
        docs.append(doc)
    if n > 4:
        docs[4].update(neb_energies_ev=[0.0, 6.0, 12.0, 6.0, 0.0], barrier_ev=12.0)
    return docs
