"""Fake VASP: run a campaign's VASP graph without VASP, checking every job's inputs.

``with fake_vasp(FakeVaspSpec.from_campaign(campaign)): run the flow`` replaces
``run_vasp`` in every atomate2 module that imported it. Each VASP job then

1. checks its inputs (INCAR keys and values, KPOINTS, POSCAR species and counts,
   POTCAR.spec symbols, NEB image folders) against what the campaign's settings demand,
   and fails with a message naming every wrong key (:class:`FakeVaspInputError`);
2. computes energies, forces and stresses with a cheap surrogate (the campaign's
   force field, SevenNet-0 by default, through ``mvflows.calculators.cached_calculator``):
   a relaxation honouring NSW, IBRION, ISIF and EDIFFG (optionally capped), a single
   point for NSW = 0, a climbing-image NEB for IMAGES > 0;
3. writes vasprun.xml, OUTCAR, OSZICAR and CONTCAR (per image folder for NEB) that
   atomate2's own parsers turn into task documents.

Every file says "fake VASP"; the campaign's calculator label is ``fake-vasp:...`` and
the stored pair results carry ``fake_vasp: true``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from monty.serialization import loadfn
from pymatgen.io.ase import AseAtomsAdaptor
from pymatgen.io.vasp import Incar, Kpoints, Poscar

from mvflows.testing.vasp_outputs import IonicStep, write_outputs
from mvflows.vasp.makers import JOB_MARKER
from mvflows.vasp.sets import IOPT, initial_magmom, job_incar, kpoint_mesh, potcar_symbol
from mvflows.vasp.settings import VaspStudySettings, load_vasp_settings

logger = logging.getLogger(__name__)
_EV_A3_TO_KBAR = 1602.1766208


class FakeVaspInputError(ValueError):
    """A VASP job's inputs do not match what the campaign's settings demand."""


@dataclass
class FakeVaspSpec:
    """What every VASP job of one campaign must be given, and how to fake its run."""

    settings: VaspStudySettings = field(default_factory=VaspStudySettings)
    relax_fmax: float = 0.05
    relax_steps: int = 500
    endpoint_fmax: float = 0.02
    endpoint_steps: int = 300
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
            neb_images=neb.images,
            neb_fmax=neb.fmax,
            neb_steps=neb.steps,
            climb=neb.climb,
            optimizer=neb.optimizer,
            model=settings.fake.model or calc.model,
            model_kwargs=dict(calc.model_kwargs) if not settings.fake.model else {},
            max_ionic_steps=settings.fake.max_ionic_steps,
        )


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
        if not (directory / JOB_MARKER).exists():
            raise FakeVaspInputError(f"{JOB_MARKER} missing: not a VASP job made by mvflows' VASP calculator")
        marker = loadfn(directory / JOB_MARKER)
    kind, relax_cell = marker["kind"], marker.get("relax_cell", True)
    problems: list[str] = []
    incar = Incar.from_file(directory / "INCAR")
    poscar = Poscar.from_file(directory / "POSCAR")
    kpoints = Kpoints.from_file(directory / "KPOINTS") if (directory / "KPOINTS").exists() else None
    if "KSPACING" in incar:
        problems.append(f"INCAR KSPACING = {incar['KSPACING']}, the campaign uses an explicit KPOINTS mesh")
    _check_incar(incar, expected_incar(spec, kind, relax_cell), problems)
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
    from mvflows.models import cached_calculator, default_kwargs, resolve_model_name

    name = resolve_model_name(spec.model)
    return cached_calculator(name, **{**default_kwargs(name), **spec.model_kwargs})


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
    (directory / "vasp.out").write_text(
        "fake VASP (mvflows.testing) NEB\n"
        + (" reached required accuracy - stopping structural energy minimisation\n" if converged else "")
    )


# ---------------------------------------------------------------- patching


_ACTIVE: list[FakeVaspSpec] = []


def fake_run_vasp(*_args: Any, **_kwargs: Any) -> None:
    """Drop-in for ``atomate2.vasp.run.run_vasp``: check inputs, run the surrogate, write outputs."""
    if not _ACTIVE:
        raise RuntimeError("fake VASP is not active: run inside mvflows.testing.fake_vasp(...)")
    spec = _ACTIVE[-1]
    directory = Path.cwd()
    marker = check_inputs(directory, spec)
    logger.info("fake VASP: inputs of %s job verified", marker["kind"])
    if marker["kind"] == "neb":
        _run_neb(directory, spec)
    else:
        _run_single(directory, spec)


def _no_bandstructure_note(record: logging.LogRecord) -> bool:
    """Fake VASP writes no eigenvalues, so emmet's band-structure warning is expected."""
    return "parsing bandstructure" not in record.getMessage()


@contextlib.contextmanager
def fake_vasp(spec: FakeVaspSpec) -> Iterator[FakeVaspSpec]:
    """Replace ``run_vasp`` wherever atomate2 (or anything else loaded) imported it."""
    import atomate2.vasp.jobs.base
    import atomate2.vasp.jobs.neb  # noqa: F401
    import atomate2.vasp.run as run_module

    original = run_module.run_vasp
    patched = []
    for mod in list(sys.modules.values()):
        if getattr(mod, "run_vasp", None) is original:
            mod.run_vasp = fake_run_vasp
            patched.append(mod)
    _ACTIVE.append(spec)
    quiet = logging.getLogger("emmet.core.vasp.calculation")
    quiet.addFilter(_no_bandstructure_note)
    try:
        yield spec
    finally:
        _ACTIVE.pop()
        quiet.removeFilter(_no_bandstructure_note)
        for mod in patched:
            mod.run_vasp = original
