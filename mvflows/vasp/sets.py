"""Input sets that encode the study: PBE PAW, one ENCUT, ferromagnetic start, 8x8x8-equivalent k-points.

Also the *expected* values (k-mesh, MAGMOM, POTCAR symbols, INCAR) that fake VASP checks
the written inputs against: :func:`expected_incar` is written from the settings and the
campaign, independently of what pymatgen/atomate2 make of the input set.
"""

from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from atomate2.vasp.sets.base import VaspInputGenerator
from pymatgen.core import Element, Lattice, Structure
from pymatgen.io.vasp import Kpoints
from pymatgen.io.vasp.sets import MPRelaxSet

from mvflows.vasp.settings import VaspStudySettings

# VTST optimiser (IOPT) for each of the campaign's NEB optimiser names
IOPT = {"LBFGS": 1, "BFGS": 1, "ODE": 1, "MDMin": 3, "FIRE": 7}
_MP_POTCARS: dict[str, str] = dict(MPRelaxSet()._config_dict["POTCAR"])


def kpoint_mesh(lattice: Lattice, settings: VaspStudySettings) -> tuple[int, int, int]:
    """Gamma-centred mesh with the spacing of 8x8x8 on the cubic spinel unit cell.

    n_i = round(|b_i| / dk), |b_i| the reciprocal lengths without 2π, dk = 1/(8 a_unit):
    8x8x8 on a cubic 10 Å cell, 14x14x14 on the spinel primitive cell, 7x7x7 on its 2x2x2.
    """
    dk = settings.kpoints.spacing
    return tuple(max(1, math.floor(b / dk + 0.5)) for b in lattice.reciprocal_lattice_crystallographic.abc)


def potcar_symbol(element: str, settings: VaspStudySettings) -> str:
    return settings.potcars.get(element, _MP_POTCARS.get(element, element))


def initial_magmom(element: str, settings: VaspStudySettings) -> float:
    return float(settings.magmom.get(element, 0.0))


def base_incar(settings: VaspStudySettings) -> dict[str, Any]:
    """INCAR keys every job of the campaign shares."""
    return {
        "PREC": "Accurate",
        "ALGO": "Fast",
        "ENCUT": settings.encut,
        "EDIFF": settings.ediff,
        "GGA": "PE",
        "ISPIN": 2,
        "LASPH": True,
        "LREAL": False,
        "LWAVE": False,
        "LCHARG": False,
        "LORBIT": 11,
        "LDAU": False,
        "NELM": 100,
        "ISMEAR": int(settings.smearing.get("ISMEAR", 0)),
        "SIGMA": float(settings.smearing.get("SIGMA", 0.05)),
    }


def job_incar(
    settings: VaspStudySettings,
    kind: str,
    relax_cell: bool = True,
    fmax: float = 0.05,
    steps: int = 99,
    num_images: int | None = None,
    climb: bool = True,
    optimizer: str = "FIRE",
) -> dict[str, Any]:
    """The INCAR keys a job of this kind must have (besides MAGMOM)."""
    incar = base_incar(settings)
    if kind == "relax":
        incar.update(NSW=steps, IBRION=2, ISIF=3 if relax_cell else 2, EDIFFG=-fmax)
    elif kind == "static":
        incar.update(NSW=0, IBRION=-1)
    elif kind == "neb":
        incar.update(
            NSW=steps,
            IBRION=3,
            POTIM=0,
            IOPT=IOPT[optimizer],
            ISIF=2,
            SPRING=-5,
            EDIFF=settings.neb_ediff,
            EDIFFG=-fmax,
            LCLIMB=bool(climb),
        )
        if num_images is not None:
            incar["IMAGES"] = num_images
    else:
        raise ValueError(f"unknown VASP job kind {kind!r}")
    return incar


def study_config_dict(settings: VaspStudySettings) -> dict:
    """pymatgen/atomate2 config dict: MP's PBE POTCAR choices, the study's INCAR, no +U."""
    config = deepcopy(MPRelaxSet()._config_dict)
    config["POTCAR_FUNCTIONAL"] = settings.potcar_functional
    config["POTCAR"] = {**config["POTCAR"], **settings.potcars}
    magmom = {el.symbol: 0.0 for el in Element}
    magmom.update({k: float(v) for k, v in settings.magmom.items()})
    config["INCAR"] = {**base_incar(settings), "MAGMOM": magmom}
    config["KPOINTS"] = {}
    return config


@dataclass
class StudySetGenerator(VaspInputGenerator):
    """atomate2 input generator with the study's settings for one kind of job.

    ``num_images`` is set by atomate2's ``NebFromImagesMaker`` from the images it gets.
    Site ``magmom`` properties (e.g. from a previous VASP job) are dropped, so every job
    starts ferromagnetic from the configured moments.
    """

    study: VaspStudySettings = field(default_factory=VaspStudySettings)
    job_kind: str = "relax"
    relax_cell: bool = True
    fmax: float = 0.05
    steps: int = 99
    climbing_image: bool = True
    optimizer: str = "FIRE"
    num_images: int = 1
    auto_ismear: bool = False
    auto_ispin: bool = False
    auto_kspacing: bool = False
    auto_metal_kpoints: bool = False
    inherit_incar: bool = False
    force_gamma: bool = True

    def __post_init__(self) -> None:
        self.config_dict = study_config_dict(self.study)
        self.user_incar_settings = {**self.study.incar, **self.user_incar_settings}
        if self.job_kind == "neb":
            # image POSCARs are written unsorted by atomate2: the INCAR must follow their order
            self.sort_structure = False
        super().__post_init__()

    @property
    def incar_updates(self) -> dict:
        incar = job_incar(
            self.study,
            self.job_kind,
            self.relax_cell,
            self.fmax,
            self.steps,
            self.num_images if self.job_kind == "neb" else None,
            self.climbing_image,
            self.optimizer,
        )
        return incar

    @property
    def kpoints_updates(self) -> Kpoints:
        if self.structure is None:
            return {}
        mesh = kpoint_mesh(self.structure.lattice, self.study)
        return Kpoints.gamma_automatic(mesh)

    def get_input_set(self, structure: Structure | None = None, *args: Any, **kwargs: Any):  # type: ignore[override]
        if structure is not None and "magmom" in structure.site_properties:
            structure = structure.copy()
            structure.remove_site_property("magmom")
        return super().get_input_set(structure, *args, **kwargs)
