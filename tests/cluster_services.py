"""A real one-node SLURM and a MongoDB wire-protocol server on 127.0.0.1, for the cluster path.

Used by ``tests/test_cluster.py`` (as a session fixture) and by hand, see
docs/cluster.md::

    python tests/cluster_services.py up      # prints the MongoDB URI; SLURM answers sbatch
    python tests/cluster_services.py down

* SLURM: Debian's ``slurmctld slurmd slurm-client munge`` (installed with apt-get when
  missing and we are root), a one-node ``slurm.conf`` (this host, all its CPUs, no
  cgroups, no accounting database; finished jobs are logged by ``jobcomp/filetxt``).
* MongoDB protocol: ``mongoeco[wire]`` (needs Python 3.13) in its own venv under
  ``~/.cache/mvflows/mongoeco-venv``, created once and reused, serving a SQLite file.

Everything lives in one state directory (default ``~/.cache/mvflows/cluster``); ``down``
stops exactly the processes ``up`` started (their pid files), nothing else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("MVFLOWS_CACHE", Path.home() / ".cache" / "mvflows"))
STATE = CACHE / "cluster"
MONGOECO_VENV = CACHE / "mongoeco-venv"
PYTHON313 = os.environ.get("MVFLOWS_PYTHON313", "/root/.pyenv/versions/3.13.0/bin/python3.13")
SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
SLURM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# written by mvflows tests/cluster_services.py"
WIRE_PORT = int(os.environ.get("MVFLOWS_WIRE_PORT", "27117"))
HERE = Path(__file__).resolve().parent


class ServiceUnavailable(RuntimeError):
    """This machine cannot run the service (not root, no packages, no Python 3.13)."""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# --- SLURM --------------------------------------------------------------------------


def install_slurm() -> None:
    """apt-get the SLURM and munge packages if a daemon is missing (root only)."""
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "sbatch", "munged")):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceUnavailable("SLURM is not installed and this is not a root Debian machine (apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-qq"], env=env)
    out = _run(["apt-get", "install", "-y", "-qq", *SLURM_PACKAGES], env=env)
    if out.returncode != 0:
        raise ServiceUnavailable(
            f"apt-get install {' '.join(SLURM_PACKAGES)} failed: {out.stderr.strip()[-300:]}"
        )


def slurm_conf_text(state: Path) -> str:
    host = socket.gethostname()
    return f"""{MARKER}
ClusterName=mvflows
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={state}/jobcomp.log
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmdSpoolDir={state}/slurmd
StateSaveLocation={state}/ctld
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
MinJobAge=3600
NodeName={host} CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
        if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return None  # exited, not yet reaped (daemons re-parented to a lax init)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def start_slurm(state: Path = STATE) -> bool:
    """munged, slurmctld and slurmd on this host, once a node is idle; False if already up."""
    if os.geteuid() != 0:
        raise ServiceUnavailable("starting slurmctld/slurmd/munged needs root")
    install_slurm()
    state.mkdir(parents=True, exist_ok=True)
    for sub in ("slurmd", "ctld"):
        (state / sub).mkdir(exist_ok=True)
    if _pid_alive(state / "slurmctld.pid") and _pid_alive(state / "slurmd.pid"):
        return False
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text():
        raise ServiceUnavailable(f"{SLURM_CONF} exists and is not ours: not touching a real cluster's config")
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(slurm_conf_text(state))

    # munge: a key owned by the munge user, then the daemon (it drops to that user itself)
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        _run(["mungekey", "--create", "--force"]) if shutil.which("mungekey") else key.write_bytes(
            os.urandom(128)
        )
    _run(["chown", "munge:munge", str(key)])
    key.chmod(0o600)
    for d in ("/run/munge", "/var/log/munge", "/var/lib/munge"):
        Path(d).mkdir(parents=True, exist_ok=True)
        _run(["chown", "munge:munge", d])
    if _run(["munge", "-n"]).returncode != 0:
        out = _run(["runuser", "-u", "munge", "--", "munged", "--force"])
        if out.returncode != 0:
            raise ServiceUnavailable(f"munged did not start: {out.stderr.strip()}")
        (state / "munged.ours").touch()  # so that stop_slurm stops it, and only then
    if not _pid_alive(state / "slurmctld.pid"):
        (state / "jobcomp.log").unlink(missing_ok=True)  # job ids restart with a clean state
        out = _run(["slurmctld", "-c"])  # -c: a clean start, no jobs from an old state
        if out.returncode != 0:
            raise ServiceUnavailable(f"slurmctld did not start: {out.stderr.strip()}")
    if not _pid_alive(state / "slurmd.pid"):
        out = _run(["slurmd"])
        if out.returncode != 0:
            raise ServiceUnavailable(f"slurmd did not start: {out.stderr.strip()}")
    deadline = time.time() + 60
    while time.time() < deadline:
        out = _run(["sinfo", "-h", "-o", "%T"])
        if out.returncode == 0 and out.stdout.strip() in ("idle", "mixed", "allocated"):
            return True
        time.sleep(1)
    raise ServiceUnavailable(f"the SLURM node did not become idle: {_run(['sinfo']).stdout.strip()}")


def stop_slurm(state: Path = STATE) -> None:
    """Stop the daemons that start_slurm started (their pid files) and our slurm.conf."""
    for name in ("slurmd", "slurmctld"):
        pid = _pid_alive(state / f"{name}.pid")
        if pid:
            os.kill(pid, signal.SIGTERM)
    if SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text():
        for _ in range(50):
            if not any(_pid_alive(state / f"{n}.pid") for n in ("slurmd", "slurmctld")):
                break
            time.sleep(0.2)
        SLURM_CONF.unlink()
    if (state / "munged.ours").exists():
        pid = _pid_alive(Path("/run/munge/munged.pid"))
        if pid:
            os.kill(pid, signal.SIGTERM)
        (state / "munged.ours").unlink()


def finished_slurm_jobs(state: Path = STATE) -> list[dict[str, str]]:
    """Jobs SLURM finished, from jobcomp/filetxt (there is no accounting DB for sacct)."""
    path = state / "jobcomp.log"
    if not path.exists():
        return []
    jobs = []
    for line in path.read_text().splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        jobs.append(fields)
    return jobs


# --- MongoDB wire protocol ----------------------------------------------------------


def ensure_mongoeco_venv() -> Path:
    """The Python of a 3.13 venv holding mongoeco[wire]; created once, then reused."""
    python = MONGOECO_VENV / "bin" / "python"
    if python.exists() and _run([str(python), "-c", "import mongoeco.wire.proxy"]).returncode == 0:
        return python
    if not Path(PYTHON313).exists():
        raise ServiceUnavailable(f"Python 3.13 for mongoeco not found at {PYTHON313} (set MVFLOWS_PYTHON313)")
    out = _run([PYTHON313, "-m", "venv", str(MONGOECO_VENV)])
    if out.returncode != 0:
        raise ServiceUnavailable(f"cannot create {MONGOECO_VENV}: {out.stderr.strip()}")
    out = _run([str(python), "-m", "pip", "install", "--quiet", "mongoeco[wire]"])
    if out.returncode != 0:
        raise ServiceUnavailable(f"pip install mongoeco[wire] failed: {out.stderr.strip()[-300:]}")
    return python


@dataclass
class WireServer:
    uri: str
    pid: int


def start_wire_server(state: Path = STATE, port: int = WIRE_PORT) -> WireServer:
    """mongoeco's wire server on 127.0.0.1:port, data in state/wire.sqlite."""
    state.mkdir(parents=True, exist_ok=True)
    pidfile = state / "wire.pid"
    pid = _pid_alive(pidfile)
    if pid:
        return WireServer(uri=f"mongodb://127.0.0.1:{port}", pid=pid)
    python = ensure_mongoeco_venv()
    log = open(state / "wire.log", "w")  # noqa: SIM115 - the server keeps it
    proc = subprocess.Popen(
        [
            str(python),
            str(HERE / "mongo_wire_server.py"),
            "--port",
            str(port),
            "--db-path",
            str(state / "wire.sqlite"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    pidfile.write_text(str(proc.pid))
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ServiceUnavailable(f"the wire server exited: {(state / 'wire.log').read_text()[-300:]}")
        if "ready" in (state / "wire.log").read_text():
            return WireServer(uri=f"mongodb://127.0.0.1:{port}", pid=proc.pid)
        time.sleep(0.3)
    raise ServiceUnavailable("the wire server did not answer within 60 s")


def stop_wire_server(state: Path = STATE) -> None:
    pid = _pid_alive(state / "wire.pid")
    if pid:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not _pid_alive(state / "wire.pid"):
                break
            time.sleep(0.1)
    (state / "wire.pid").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "up"
    if cmd == "up":
        try:
            start_slurm()
            wire = start_wire_server()
        except ServiceUnavailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({"mongodb": wire.uri, "slurm_conf": str(SLURM_CONF), "state": str(STATE)}))
        return 0
    if cmd == "down":
        stop_wire_server()
        stop_slurm()
        return 0
    print("usage: cluster_services.py up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
