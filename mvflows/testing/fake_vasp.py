"""Fake VASP: run a campaign's VASP graph without VASP, checking every job's inputs.

Fake VASP is an executable, ``mvflows-fake-vasp`` (:mod:`mvflows.testing.fake_vasp_exe`),
that atomate2's ordinary ``run_vasp`` launches through custodian as the VASP command of
every job of a ``fake-vasp`` calculator, wherever the job runs (``mvflows run`` and its
worker processes, a jobflow-remote job on SLURM). In the job directory it

1. checks the inputs (INCAR keys and values, KPOINTS, POSCAR species and counts,
   POTCAR.spec symbols, NEB image folders) against what the campaign's settings demand:
   the ``fake_spec`` of the job's ``mvflows_job.json`` marker, a :class:`FakeVaspSpec`
   computed from the campaign (:meth:`FakeVaspSpec.from_campaign`), not from the makers.
   Wrong inputs fail the job with a message naming every wrong key
   (:class:`FakeVaspInputError`, raised in the job by :class:`FakeVaspErrorHandler`);
2. computes energies, forces and stresses with a cheap surrogate (the campaign's
   force field, SevenNet-0 by default, loaded once per process through
   ``mvflows.models.cached_calculator``): a relaxation honouring NSW, IBRION, ISIF and
   EDIFFG (optionally capped), a single point for NSW = 0, a climbing-image NEB for IMAGES > 0;
3. writes vasprun.xml, OUTCAR, OSZICAR and CONTCAR (per image folder for NEB) that
   custodian's validators accept and atomate2's own parsers turn into task documents.

A job kind named in the settings' ``fake.fail`` (or ``$MVFLOWS_FAKE_VASP_FAIL``) crashes
instead: no outputs, exit code 1, which custodian reports as VASP's (``ValidationError``).
With ``fake.fail_while: FILE`` it crashes only while FILE exists, so a failure can be
cleared under jobs already queued (delete the file, then rerun the failed job).

Every file says "fake VASP"; the campaign's calculator label is ``fake-vasp:...`` and
the stored pair results carry ``fake_vasp: true``. :func:`fake_vasp` runs the same
:func:`run_job` in-process instead of the executable (no custodian), for tests of makers
that are not fake VASP's own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from custodian.custodian import ErrorHandler
from monty.serialization import loadfn
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from mvflows.testing.vasp_outputs import IonicStep, write_outputs
from mvflows.vasp.sets import IOPT, initial_magmom, job_incar, kpoint_mesh, potcar_symbol
from mvflows.vasp.settings import (
    FAKE_FAIL_KINDS,
    JOB_MARKER,
    FakeSettings,
    VaspStudySettings,
    load_vasp_settings,
)

logger = logging.getLogger(__name__)
_EV_A3_TO_KBAR = 1602.1766208
ERROR_FILE = "fake_vasp_error.json"  # why the executable refused a job; read by FakeVaspErrorHandler
FAIL_ENV = "MVFLOWS_FAKE_VASP_FAIL"  # job kinds to fail, comma-separated, on top of --fail
OUTPUT_FILES = ("vasprun.xml", "OUTCAR", "OSZICAR", "CONTCAR")


class FakeVaspInputError(ValueError):
    """A VASP job's inputs do not match what the campaign's settings demand."""


class FakeVaspFailure(RuntimeError):
    """A job kind that fake VASP was told to fail (``fake.fail``): it crashes like VASP can."""


@dataclass
class FakeVaspSpec:
    """What every VASP job of one campaign must be given, and how to fake its run."""

    settings: VaspStudySettings = field(default_factory=VaspStudySettings)
    relax_fmax: float = 0.05
    relax_steps: int = 500
    endpoint_fmax: float = 0.02
    endpoint_steps: int = 300
    intermediate_fmax: float = 0.05  # the fixed-cell relax of a spinel hop's intermediate void
    neb_images: int = 7
    neb_fmax: float = 0.05
    neb_steps: int = 400
    climb: bool = True
    optimizer: str = "FIRE"
    model: str = "SevenNet"
    model_kwargs: dict = field(default_factory=dict)
    max_ionic_steps: int | None = None

    @classmethod
    def from_campaign(cls, campaign: Any) -> FakeVaspSpec:
        calc, neb = campaign.calculator, campaign.neb
        settings = load_vasp_settings(getattr(calc, "vasp_config", None))
        return cls(
            settings=settings,
            relax_fmax=calc.relax.fmax,
            relax_steps=calc.relax.steps,
            endpoint_fmax=neb.endpoint_fmax,
            endpoint_steps=neb.endpoint_steps,
            intermediate_fmax=neb.intermediate_fmax,
            neb_images=neb.images,
            neb_fmax=neb.fmax,
            neb_steps=neb.steps,
            climb=neb.climb,
            optimizer=neb.optimizer,
            model=settings.fake.model or calc.model,
            model_kwargs=dict(calc.model_kwargs) if not settings.fake.model else {},
            max_ionic_steps=settings.fake.max_ionic_steps,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as the ``fake_spec`` of a job's marker (settings without source/fake launch keys)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "settings"}
        return {
            **out,
            "model_kwargs": dict(self.model_kwargs),
            "settings": self.settings.model_dump(mode="json"),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FakeVaspSpec:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        return cls(**{**values, "settings": VaspStudySettings.model_validate(data.get("settings", {}))})


# ---------------------------------------------------------------- input checks


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return bool(want) == bool(got) and got is not None
    if isinstance(want, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(float(want), float(got), rel_tol=1e-6, abs_tol=1e-12)
    return str(want).strip().upper() == str(got).strip().upper()


def expected_incar(spec: FakeVaspSpec, kind: str, relax_cell: bool) -> dict[str, Any]:
    """INCAR values the campaign demands of a job of this kind (MAGMOM is checked apart)."""
    if kind == "relax":
        fmax, steps = (
            (spec.relax_fmax, spec.relax_steps) if relax_cell else (spec.endpoint_fmax, spec.endpoint_steps)
        )
        return job_incar(spec.settings, "relax", relax_cell, fmax, steps)
    if kind == "static":
        return job_incar(spec.settings, "static")
    return job_incar(
        spec.settings,
        "neb",
        False,
        spec.neb_fmax,
        spec.neb_steps,
        spec.neb_images,
        spec.climb,
        spec.optimizer,
    )


def _check_incar(incar: Incar, want: dict[str, Any], problems: list[str]) -> None:
    for key, value in want.items():
        got = incar.get(key)
        if key == "LDAU":
            if got:
                problems.append("INCAR LDAU = True, the study runs plain GGA-PBE (no +U)")
            continue
        if key == "IBRION" and value == -1 and got is None:  # VASP's default for NSW = 0
            continue
        if got is None or not _same(value, got):
            problems.append(f"INCAR {key} = {got!r}, expected {value!r}")


def _check_magmom(
    incar: Incar, poscar: Poscar, spec: FakeVaspSpec, problems: list[str], where: str = ""
) -> None:
    magmom = incar.get("MAGMOM")
    species = [site.specie.symbol for site in poscar.structure]
    if magmom is None or len(magmom) != len(species):
        problems.append(
            f"INCAR MAGMOM has {0 if magmom is None else len(magmom)} values for {len(species)} sites{where}"
        )
        return
    wrong = [
        f"{el}{i + 1}: {m} (expected {initial_magmom(el, spec.settings)})"
        for i, (el, m) in enumerate(zip(species, magmom))
        if not _same(initial_magmom(el, spec.settings), float(m))
    ]
    if wrong:
        problems.append(
            "INCAR MAGMOM is not the ferromagnetic start of the settings"
            + where
            + ": "
            + ", ".join(wrong[:4])
            + (f" (+{len(wrong) - 4} more)" if len(wrong) > 4 else "")
        )


def _check_kpoints(
    kpoints: Kpoints | None, poscar: Poscar, spec: FakeVaspSpec, problems: list[str], where: str = ""
) -> None:
    want = kpoint_mesh(poscar.structure.lattice, spec.settings)
    if kpoints is None:
        problems.append(f"KPOINTS missing{where}, expected Gamma {want}")
        return
    got = tuple(int(x) for x in kpoints.kpts[0]) if kpoints.kpts else None
    style = str(kpoints.style.name if hasattr(kpoints.style, "name") else kpoints.style)
    if not style.lower().startswith("gamma") or got != want:
        problems.append(
            f"KPOINTS {style} {got}{where}, expected Gamma {want} (8x8x8 on the spinel unit cell)"
        )


def check_inputs(directory: Path, spec: FakeVaspSpec, marker: dict | None = None) -> dict:
    """Raise FakeVaspInputError unless the job in ``directory`` has the campaign's inputs."""
    directory = Path(directory)
    if marker is None:
        marker = read_marker(directory)
    kind, relax_cell = marker["kind"], marker.get("relax_cell", True)
    problems: list[str] = []
    incar = Incar.from_file(directory / "INCAR")
    poscar = Poscar.from_file(directory / "POSCAR")
    kpoints = Kpoints.from_file(directory / "KPOINTS") if (directory / "KPOINTS").exists() else None
    if "KSPACING" in incar:
        problems.append(f"INCAR KSPACING = {incar['KSPACING']}, the campaign uses an explicit KPOINTS mesh")
    want = expected_incar(spec, kind, relax_cell)
    if kind == "relax" and not relax_cell and incar.get("EDIFFG") == -spec.intermediate_fmax:
        want["EDIFFG"] = -spec.intermediate_fmax  # the intermediate-site relax: neb.intermediate_fmax
    _check_incar(incar, want, problems)
    _check_magmom(incar, poscar, spec, problems)
    _check_kpoints(kpoints, poscar, spec, problems)
    spec_file = directory / "POTCAR.spec"
    if spec_file.exists():
        symbols = spec_file.read_text().split()
    elif (directory / "POTCAR").exists():
        from pymatgen.io.vasp import Potcar

        symbols = Potcar.from_file(directory / "POTCAR").symbols
    else:
        symbols = []
        problems.append("POTCAR / POTCAR.spec missing")
    want_pot = [potcar_symbol(el, spec.settings) for el in poscar.site_symbols]
    if symbols and symbols != want_pot:
        problems.append(
            f"POTCAR symbols {symbols}, expected {want_pot} for POSCAR species {poscar.site_symbols}"
        )
    if sum(poscar.natoms) != len(poscar.structure):
        problems.append("POSCAR counts do not add up to its sites")
    if kind == "neb":
        n = spec.neb_images
        folders = sorted(p.name for p in directory.glob("[0-9][0-9]") if p.is_dir())
        want_folders = [f"{i:02d}" for i in range(n + 2)]
        if folders != want_folders:
            problems.append(
                f"NEB image folders {folders[0] if folders else ''}..{folders[-1] if folders else ''} "
                f"({len(folders)}), expected 00..{n + 1:02d} for IMAGES = {n}"
            )
        for name in folders:
            img = Poscar.from_file(directory / name / "POSCAR")
            if img.site_symbols != poscar.site_symbols or img.natoms != poscar.natoms:
                problems.append(
                    f"POSCAR of image {name} has {list(zip(img.site_symbols, img.natoms))}, "
                    f"the NEB INCAR/POTCAR are for {list(zip(poscar.site_symbols, poscar.natoms))}"
                )
                break
            if (directory / name / "KPOINTS").exists():
                _check_kpoints(
                    Kpoints.from_file(directory / name / "KPOINTS"), img, spec, problems, f" in {name}"
                )
    if problems:
        raise FakeVaspInputError(
            "fake VASP: inputs break the campaign's VASP settings: " + "; ".join(problems)
        )
    return marker


# ---------------------------------------------------------------- surrogate run


def _calculator(spec: FakeVaspSpec) -> Any:
    """The surrogate, loaded once per process, on as many threads as this job may use."""
    import torch

    from mvflows import model_compile
    from mvflows.image_workers import available_cores
    from mvflows.models import cached_calculator, default_kwargs, resolve_model

    torch.set_num_threads(available_cores())  # one in an `mvflows run --jobs N` worker's job
    name, kwargs = resolve_model(spec.model, spec.model_kwargs)
    # each fake VASP job is a process of its own and makes a few dozen calls: compiling the
    # model (mvflows.model_compile, 10-60 s per process) would cost more than it saves
    with model_compile.eager():
        return cached_calculator(name, **{**default_kwargs(name), **kwargs})


def _step(atoms: Any) -> IonicStep:
    stress = atoms.get_stress(voigt=False) if atoms.pbc.all() else np.zeros((3, 3))
    return IonicStep(
        structure=AseAtomsAdaptor.get_structure(atoms),
        energy=float(atoms.get_potential_energy()),
        forces=np.asarray(atoms.get_forces()),
        stress_kbar=-np.asarray(stress) * _EV_A3_TO_KBAR,
    )


def _n_steps(incar: Incar, spec: FakeVaspSpec) -> int:
    nsw = int(incar.get("NSW", 0))
    return min(nsw, spec.max_ionic_steps) if spec.max_ionic_steps else nsw


def _run_single(directory: Path, spec: FakeVaspSpec) -> None:
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    incar = Incar.from_file(directory / "INCAR")
    kpoints = Kpoints.from_file(directory / "KPOINTS") if (directory / "KPOINTS").exists() else None
    symbols = (directory / "POTCAR.spec").read_text().split() if (directory / "POTCAR.spec").exists() else []
    atoms = AseAtomsAdaptor.get_atoms(Poscar.from_file(directory / "POSCAR").structure)
    atoms.calc = _calculator(spec)
    steps: list[IonicStep] = []
    nsw, ibrion = _n_steps(incar, spec), int(incar.get("IBRION", -1))
    converged = True
    if nsw > 0 and ibrion in (1, 2, 3):
        ediffg = float(incar.get("EDIFFG", -0.05))
        fmax = abs(ediffg) if ediffg < 0 else 0.05
        target = FrechetCellFilter(atoms) if int(incar.get("ISIF", 2)) == 3 else atoms
        opt = BFGS(target, logfile=None)
        opt.attach(lambda: steps.append(_step(atoms)))
        converged = bool(opt.run(fmax=fmax, steps=max(nsw - 1, 0)))
        if len(steps) >= int(incar.get("NSW", 0)):  # VASP stops at NSW: keep NSW steps
            steps = steps[: int(incar["NSW"])]
    else:
        steps.append(_step(atoms))
    write_outputs(directory, incar, kpoints, symbols, steps, converged)


def _run_neb(directory: Path, spec: FakeVaspSpec) -> None:
    from ase.mep import NEB
    from ase.optimize import BFGS, FIRE, MDMin

    incar = Incar.from_file(directory / "INCAR")
    kpoints = Kpoints.from_file(directory / "KPOINTS") if (directory / "KPOINTS").exists() else None
    symbols = (directory / "POTCAR.spec").read_text().split() if (directory / "POTCAR.spec").exists() else []
    n = int(incar["IMAGES"])
    frames = [
        AseAtomsAdaptor.get_atoms(Poscar.from_file(directory / f"{i:02d}" / "POSCAR").structure)
        for i in range(n + 2)
    ]
    calc = _calculator(spec)
    for a in frames:
        a.calc = calc
    band = NEB(
        frames,
        k=abs(float(incar.get("SPRING", -5))),
        climb=bool(incar.get("LCLIMB", False)),
        method="improvedtangent",
        allow_shared_calculator=True,
    )
    optimizer = {v: k for k, v in IOPT.items() if k in ("BFGS", "MDMin", "FIRE")}.get(
        int(incar.get("IOPT", 7)), "FIRE"
    )
    opt = {"FIRE": FIRE, "BFGS": BFGS, "MDMin": MDMin}[optimizer](band, logfile=None)
    ediffg = float(incar.get("EDIFFG", -0.05))
    fmax = abs(ediffg) if ediffg < 0 else 0.05
    steps = _n_steps(incar, spec)
    converged = bool(opt.run(fmax=fmax, steps=max(steps - 1, 0))) if steps > 0 else False
    neb_forces = np.sqrt((band.get_forces().reshape(n, -1, 3) ** 2).sum(axis=2)).max(axis=1)
    for i in range(1, n + 1):
        img = frames[i]
        img.calc = calc
        step = _step(img)
        write_outputs(
            directory / f"{i:02d}", incar, kpoints, symbols, [step], converged, [float(neb_forces[i - 1])]
        )
    print(
        f"fake VASP: NEB of {n} images, {'converged' if converged else 'not converged'}"
        f" after {opt.nsteps} iterations (max NEB force {float(neb_forces.max()):.4f} eV/A)"
    )


# ---------------------------------------------------------------- one job


def read_marker(directory: Path) -> dict:
    path = Path(directory) / JOB_MARKER
    if not path.exists():
        raise FakeVaspInputError(f"{JOB_MARKER} missing: not a VASP job made by mvflows' VASP calculator")
    return loadfn(path)


def spec_of(marker: dict) -> FakeVaspSpec:
    """The campaign's expectations that the job's marker carries."""
    if not marker.get("fake_vasp") or "fake_spec" not in marker:
        raise FakeVaspInputError(
            f"{JOB_MARKER} has no fake_spec: not a job of a fake-vasp calculator built for a campaign "
            "(mvflows.flows.pair_maker_for, or VaspCalculator.for_campaign)"
        )
    return FakeVaspSpec.from_dict(marker["fake_spec"])


def fail_kinds(
    requested: str | list[str] | tuple[str, ...] | None = None, while_file: str | Path | None = None
) -> set[str]:
    """Job kinds to fail: ``requested`` (``--fail``) and ``$MVFLOWS_FAKE_VASP_FAIL``.

    With ``while_file`` (``--fail-while``, the settings' ``fake.fail_while``) the requested kinds
    fail only while that file exists; the environment's always do.
    """
    words: list[str] = []
    for item in ([requested] if isinstance(requested, str) else list(requested or ())) + [
        os.environ.get(FAIL_ENV, "")
    ]:
        words += [w.strip() for w in str(item).replace(",", " ").split() if w.strip()]
    unknown = sorted(set(words) - set(FAKE_FAIL_KINDS))
    if unknown:
        raise ValueError(
            f"unknown job kind(s) to fail: {', '.join(unknown)} (kinds: {', '.join(FAKE_FAIL_KINDS)})"
        )
    if while_file is not None and not Path(while_file).exists():
        return fail_kinds(None)  # the file is gone: only the environment's kinds still fail
    return set(words)


def _clear_outputs(directory: Path) -> None:
    """A stale output of an earlier attempt must not pass for this run's (VASP overwrites them too)."""
    (directory / ERROR_FILE).unlink(missing_ok=True)
    for folder in [directory, *sorted(p for p in directory.glob("[0-9][0-9]") if p.is_dir())]:
        for name in OUTPUT_FILES:
            (folder / name).unlink(missing_ok=True)


def run_job(
    directory: str | Path,
    spec: FakeVaspSpec | None = None,
    fail: set[str] | None = None,
    while_file: str | Path | None = None,
) -> dict:
    """Fake VASP in one job directory: check its inputs, then fail (if told to) or run the surrogate.

    ``spec`` defaults to the marker's ``fake_spec``; ``fail``: job kinds to crash; ``while_file``:
    the file whose existence made them crash (named in the message). Returns the marker.
    Raises FakeVaspInputError (wrong inputs) or FakeVaspFailure (told to fail).
    """
    directory = Path(directory)
    _clear_outputs(directory)
    marker = read_marker(directory)
    spec = spec or spec_of(marker)
    check_inputs(directory, spec, marker)
    kind = marker["kind"]
    print(f"fake VASP (mvflows.testing): inputs of this {kind} job match the campaign's VASP settings")
    if kind in (fail or set()):
        until = (
            f"; it does while {while_file} exists (fake.fail_while): delete that file, then rerun the job"
            if while_file is not None
            else ""
        )
        raise FakeVaspFailure(
            f"fake VASP: this {kind} job crashes on purpose ({kind} in the VASP settings' fake.fail "
            f"or ${FAIL_ENV}{until}); no output files written"
        )
    if kind == "neb":
        _run_neb(directory, spec)
    else:
        _run_single(directory, spec)
    print("fake VASP: outputs written (surrogate energies, not DFT)")
    return marker


def write_error(directory: Path, exc: BaseException) -> None:
    """Leave the reason for :class:`FakeVaspErrorHandler` (custodian), which raises it in the job."""
    payload = {"error": type(exc).__name__, "message": str(exc)}
    (Path(directory) / ERROR_FILE).write_text(json.dumps(payload))


# ---------------------------------------------------------------- custodian and atomate2


class FakeVaspErrorHandler(ErrorHandler):
    """Custodian handler of fake VASP jobs: a refused job fails with fake VASP's own message.

    Real VASP reports bad inputs in its output, which custodian's handlers read; fake
    VASP's check is its own, so this handler turns the executable's ``fake_vasp_error.json``
    into the job's exception (:class:`FakeVaspInputError` naming every wrong key) instead
    of custodian's bare "Validation failed: VasprunXMLValidator". A job told to fail
    leaves no such file: that crash is left to custodian, as a real one is.
    """

    is_monitor = False

    def check(self, directory: str = "./") -> bool:
        path = Path(directory) / ERROR_FILE
        if not path.exists():
            return False
        report = json.loads(path.read_text())
        if report.get("error") == FakeVaspInputError.__name__:
            raise FakeVaspInputError(report["message"])
        raise RuntimeError(f"fake VASP failed: {report.get('error')}: {report.get('message')}")

    def correct(self, directory: str = "./") -> dict:  # noqa: ARG002 - never called: check raises
        return {"errors": ["fake VASP refused the job"], "actions": None}


def run_vasp_kwargs(fake: FakeSettings, neb: bool = False) -> dict[str, Any]:
    """atomate2 ``run_vasp`` keywords of a fake VASP job (none of them is in the job's key).

    * ``vasp_cmd`` (and the Gamma-only command custodian may pick instead): the executable,
      with ``--fail KINDS`` when the settings name kinds to fail (and ``--fail-while FILE``
      when they fail only while a file exists);
    * atomate2's own handlers, after :class:`FakeVaspErrorHandler`;
    * custodian polls the process every second, not every 10 s: fake jobs take seconds;
    * a NEB skips custodian's input backup, which copies a POTCAR that a fake job (POTCAR.spec) lacks.
    """
    from atomate2.vasp.run import DEFAULT_HANDLERS

    cmd = fake.vasp_cmd + (f" --fail {','.join(fake.fail)}" if fake.fail else "")
    if fake.fail and fake.fail_while is not None:
        cmd += f" --fail-while {shlex.quote(str(fake.fail_while))}"
    kwargs: dict[str, Any] = {
        "vasp_cmd": cmd,
        "vasp_gamma_cmd": cmd,
        "handlers": [FakeVaspErrorHandler(), *DEFAULT_HANDLERS],
        "custodian_kwargs": {"polling_time_step": 1},
    }
    if neb:
        kwargs["vasp_job_kwargs"] = {"backup": False}
    return kwargs


@contextlib.contextmanager
def fake_vasp(
    spec: FakeVaspSpec | None = None, fail: set[str] | None = None
) -> Iterator[FakeVaspSpec | None]:
    """Run :func:`run_job` in this process wherever atomate2 calls ``run_vasp`` (no custodian).

    For VASP makers that are not a fake calculator's (no ``fake_spec`` in their marker,
    no fake executable as ``vasp_cmd``); ``spec`` then says what the campaign demands.
    A fake calculator's jobs need none of this: they launch ``mvflows-fake-vasp``.
    """
    import atomate2.vasp.jobs.base
    import atomate2.vasp.jobs.neb  # noqa: F401
    import atomate2.vasp.run as run_module

    def in_process(*_args: Any, **_kwargs: Any) -> None:
        run_job(Path.cwd(), spec, fail)

    original = run_module.run_vasp
    patched = []
    for mod in list(sys.modules.values()):
        if getattr(mod, "run_vasp", None) is original:
            mod.run_vasp = in_process
            patched.append(mod)
    try:
        yield spec
    finally:
        for mod in patched:
            mod.run_vasp = original
