"""The VASP calculator: atomate2's VASP makers with the study's input sets.

Relax (full cell, ISIF = 3) then a static on the relaxed cell (``static_after_relax``),
fixed-cell relax (ISIF = 2) of NEB endpoints, and NEB through atomate2's
``NebFromImagesMaker`` followed by a small job that turns its document into the
``NebResult`` that :func:`mvflows.jobs.hop_neb.summarise_neb` reads (endpoint energies from
the endpoint relaxations, convergence from the VTST ``FORCES: max atom`` lines).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from atomate2.utils.path import strip_hostname
from atomate2.vasp.jobs.core import RelaxMaker, StaticMaker
from atomate2.vasp.jobs.neb import NebFromImagesMaker
from emmet.core.neb import NebResult
from jobflow import Flow, JobConfig, Maker, OnMissing, Response
from monty.io import zopen
from pymatgen.core import Structure

from mvflows.atomate2_fixes import NEB_CONVERGED_TAG, NEB_NOT_CONVERGED_TAG
from mvflows.keys import KeyedMaker, job
from mvflows.neb_band import DipGuard
from mvflows.vasp.sets import StudySetGenerator
from mvflows.vasp.settings import JOB_MARKER, VaspStudySettings, load_vasp_settings

FAKE_LABEL = "fake-vasp"


def _expected_of_fake_vasp(record: logging.LogRecord) -> bool:
    """Drop emmet's band-structure warning in a fake VASP job: its vasprun.xml has no eigenvalues.

    atomate2 parses a job's outputs in the job's folder, whichever process runs it.
    """
    if "parsing bandstructure" not in record.getMessage():
        return True
    try:
        return not json.loads((Path.cwd() / JOB_MARKER).read_text()).get("fake_vasp")
    except (OSError, ValueError):
        return True


logging.getLogger("emmet.core.vasp.calculation").addFilter(_expected_of_fake_vasp)


def _marker(kind: str, relax_cell: bool, fake: bool, fake_spec: dict | None = None) -> dict:
    marker: dict[str, Any] = {"kind": kind, "relax_cell": relax_cell, "fake_vasp": fake}
    if fake_spec is not None:  # what fake VASP checks this job against, from the campaign
        marker["fake_spec"] = fake_spec
    return {JOB_MARKER.replace(".", ":"): marker}


# where and how VASP is launched does not change what it computes
_EXECUTION_FIELDS = ("name", "run_vasp_kwargs", "copy_vasp_kwargs", "stop_children_kwargs")


@dataclass
class StudyRelaxMaker(KeyedMaker, RelaxMaker):
    """atomate2's VASP relax, keyed by content."""

    UNKEYED: ClassVar[tuple[str, ...]] = _EXECUTION_FIELDS


@dataclass
class StudyStaticMaker(KeyedMaker, StaticMaker):
    """atomate2's VASP static, keyed by content."""

    UNKEYED: ClassVar[tuple[str, ...]] = _EXECUTION_FIELDS


@dataclass
class StudyNebImagesMaker(KeyedMaker, NebFromImagesMaker):
    """atomate2's VASP NEB from images, keyed by content."""

    UNKEYED: ClassVar[tuple[str, ...]] = _EXECUTION_FIELDS


@dataclass
class VaspRelaxStaticMaker(KeyedMaker):
    """Full relax, then a static on the relaxed structure; the output is the static's TaskDoc.

    The static fixes the basis-set (Pulay) error of a volume relaxation at the fixed ENCUT.
    """

    name: str = "relax"
    relax_maker: Maker = field(default_factory=StudyRelaxMaker)
    static_maker: Maker = field(default_factory=StudyStaticMaker)

    @job
    def make(self, structure: Structure) -> Response:
        """One job (so it can be keyed like any other), replaced at run time by relax -> static."""
        relax = self.relax_maker.make(structure)
        static = self.static_maker.make(relax.output.structure)
        return Response(replace=Flow([relax, static], output=static.output, name=self.name))


@job(config=JobConfig(on_missing_references=OnMissing.NONE))
def vasp_neb_result(
    neb_doc: Any, images: list[Structure], endpoint_energies: list[float] | None, fmax: float
) -> NebResult | None:
    """NebResult of a VASP NEB: endpoints + images, energies, and an honest convergence tag."""
    if neb_doc is None or not getattr(neb_doc, "energies", None):
        return None
    energies = list(neb_doc.energies)
    frames = list(neb_doc.images)
    if endpoint_energies and None not in endpoint_energies:
        energies = [endpoint_energies[0], *energies, endpoint_energies[1]]
        frames = [images[0], *frames, images[-1]]
    forces = _image_neb_forces(neb_doc.dir_name, len(neb_doc.energies))
    tags = []
    if forces and len(forces) == len(neb_doc.energies):
        fnorm = max(forces)
        tags += [
            NEB_CONVERGED_TAG if fnorm < fmax else NEB_NOT_CONVERGED_TAG,
            f"neb max force {fnorm:.4f} eV/A",
        ]
    else:
        tags.append(NEB_NOT_CONVERGED_TAG)
        tags.append("no VTST 'FORCES: max atom' lines in the image OUTCARs")
    return NebResult(images=frames, energies=energies, initial_images=images, tags=tags)


_FORCES = re.compile(r"FORCES:\s+max atom, RMS\s+([-\d.Ee+]+)\s+([-\d.Ee+]+)")


def _image_neb_forces(dir_name: str | None, n_images: int) -> list[float]:
    """Last NEB force (VTST's 'FORCES: max atom') of every moving image, or [] if absent."""
    if not dir_name:
        return []
    base = Path(strip_hostname(dir_name))
    out = []
    for i in range(1, n_images + 1):
        candidates = sorted(base.glob(f"{i:02}/OUTCAR*"))
        if not candidates:
            return []
        with zopen(candidates[0], "rt") as fh:
            found = _FORCES.findall(fh.read())
        if not found:
            return []
        out.append(float(found[-1][0]))
    return out


@dataclass
class VaspNebMaker(KeyedMaker):
    """atomate2's VASP NEB from images, then :func:`vasp_neb_result`.

    VASP does not recompute the endpoints (folders 00 and NN): their energies come from
    the endpoint relaxations, passed by :class:`mvflows.jobs.hop_neb.HopNebMaker` as ``endpoint_energies``.
    """

    name: str = "NEB"
    images_maker: NebFromImagesMaker = field(default_factory=StudyNebImagesMaker)
    fmax: float = 0.05
    wants_endpoint_energies: bool = True

    @job
    def make(self, images: list[Structure], endpoint_energies: list[float] | None = None) -> Response:
        """One job, replaced at run time by atomate2's NEB job and :func:`vasp_neb_result`."""
        neb = self.images_maker.make(images)
        result = vasp_neb_result(neb.output, images, endpoint_energies, self.fmax)
        result.name = "NEB result"
        return Response(replace=Flow([neb, result], output=result.output, name=self.name))


@dataclass
class VaspCalculator:
    """The Calculator protocol on VASP (``fake=True``: same graph, run by fake VASP).

    A fake calculator's jobs launch the ``mvflows-fake-vasp`` executable (``fake.vasp_cmd``)
    through atomate2's ordinary ``run_vasp`` and custodian, and their marker carries
    ``fake_spec``: what the campaign demands of every job (:class:`FakeVaspSpec`, computed
    from the campaign by :meth:`for_campaign`, not from these makers), so a job directory
    is self-describing on any machine.
    """

    settings: VaspStudySettings = field(default_factory=VaspStudySettings)
    relax_fmax: float = 0.05
    relax_steps: int = 99
    fake: bool = False
    fake_spec: Any = None  # mvflows.testing.FakeVaspSpec of the campaign (fake only)

    @property
    def label(self) -> str:
        return f"{FAKE_LABEL if self.fake else 'vasp'}:{self.settings.potcar_functional}"

    def for_campaign(self, campaign: Any) -> VaspCalculator:
        """This calculator for ``campaign``'s jobs: a fake one learns the campaign's expectations."""
        if not self.fake or self.fake_spec is not None:
            return self
        from mvflows.testing.fake_vasp import FakeVaspSpec

        return replace(self, fake_spec=FakeVaspSpec.from_campaign(campaign))

    def _kwargs(self, kind: str, relax_cell: bool = True) -> dict:
        spec = self.fake_spec.to_dict() if self.fake and self.fake_spec is not None else None
        kwargs: dict[str, Any] = {
            "write_additional_data": _marker(kind, relax_cell, self.fake, spec),
            # an unconverged VASP job raises (whatever atomate2's VASP_HANDLE_UNSUCCESSFUL says)
            # instead of stopping its children, so the pair result still runs and says why
            "stop_children_kwargs": {"handle_unsuccessful": "error"},
        }
        if self.fake:
            from mvflows.testing.fake_vasp import run_vasp_kwargs

            kwargs["write_input_set_kwargs"] = {"potcar_spec": True}  # no POTCARs needed
            # never settings.vasp_cmd: a fake job must not start real VASP
            kwargs["run_vasp_kwargs"] = run_vasp_kwargs(self.settings.fake, neb=kind == "neb")
        elif self.settings.vasp_cmd:
            kwargs["run_vasp_kwargs"] = {"vasp_cmd": self.settings.vasp_cmd}
        return kwargs

    def relax_maker(
        self, relax_cell: bool = True, fmax: float | None = None, steps: int | None = None
    ) -> Maker:
        gen = StudySetGenerator(
            study=self.settings,
            job_kind="relax",
            relax_cell=relax_cell,
            fmax=fmax or self.relax_fmax,
            steps=steps or self.relax_steps,
        )
        relax = StudyRelaxMaker(
            name="relax" if relax_cell else "relax (fixed cell)",
            input_set_generator=gen,
            **self._kwargs("relax", relax_cell),
        )
        if not (relax_cell and self.settings.static_after_relax):
            return relax
        static = StudyStaticMaker(
            name="static",
            input_set_generator=StudySetGenerator(study=self.settings, job_kind="static"),
            **self._kwargs("static"),
        )
        return VaspRelaxStaticMaker(name="relax", relax_maker=relax, static_maker=static)

    def neb_maker(
        self,
        fmax: float,
        steps: int,
        climb: bool,
        optimizer: str = "ODE",
        guard: DipGuard | None = None,  # noqa: ARG002 - VASP runs the band to its end (Calculator)
    ) -> VaspNebMaker:
        gen = StudySetGenerator(
            study=self.settings,
            job_kind="neb",
            relax_cell=False,
            fmax=fmax,
            steps=steps,
            climbing_image=climb,
            optimizer=optimizer,
        )
        kwargs = self._kwargs("neb", False)
        run_kwargs = NebFromImagesMaker().run_vasp_kwargs
        extra = kwargs.pop("run_vasp_kwargs", {})
        job_kwargs = {**run_kwargs.get("vasp_job_kwargs", {}), **extra.pop("vasp_job_kwargs", {})}
        run_kwargs = {**run_kwargs, **extra, "vasp_job_kwargs": job_kwargs}
        images = StudyNebImagesMaker(
            name="NEB", input_set_generator=gen, run_vasp_kwargs=run_kwargs, **kwargs
        )
        return VaspNebMaker(images_maker=images, fmax=fmax)


def vasp_from_settings(settings: Any, fake: bool = False) -> VaspCalculator:
    """Factory for ``calculator.kind: vasp`` (and ``fake-vasp``) campaign settings."""
    return VaspCalculator(
        settings=load_vasp_settings(getattr(settings, "vasp_config", None)),
        relax_fmax=settings.relax.fmax,
        relax_steps=settings.relax.steps,
        fake=fake,
    )


def vasp_available_or_fail(settings: VaspStudySettings) -> None:
    """Raise a one-line RuntimeError unless a VASP command and POTCARs are configured here."""
    import shlex
    import shutil

    from atomate2 import SETTINGS
    from pymatgen.core import SETTINGS as PMG_SETTINGS

    cmd = settings.vasp_cmd or SETTINGS.VASP_CMD
    exe = shlex.split(cmd)[0] if cmd else ""
    if not exe or shutil.which(exe) is None:
        raise RuntimeError(
            f"no VASP on this machine (command {cmd!r} not found): set vasp_cmd in the VASP settings "
            "file or atomate2's VASP_CMD, or dry-run with --calculator fake-vasp"
        )
    if not PMG_SETTINGS.get("PMG_VASP_PSP_DIR"):
        raise RuntimeError(
            "VASP POTCARs not configured: set PMG_VASP_PSP_DIR (pymatgen), or use --calculator fake-vasp"
        )


def fake_vasp_available_or_fail(settings: VaspStudySettings) -> str:
    """The fake VASP executable that ``fake.vasp_cmd`` names, found; else a one-line RuntimeError.

    custodian starts it by name, from PATH. A console script sits next to the Python that
    runs mvflows, which is not on PATH when that environment is not activated (``.venv/bin/mvflows
    run ...``): that folder is then put on this process's PATH, for the jobs it starts.
    """
    import os
    import shlex
    import shutil
    import sys

    words = shlex.split(os.path.expandvars(settings.fake.vasp_cmd))
    exe = words[0] if words else ""
    found = shutil.which(exe) if exe else None
    here = str(Path(sys.executable).parent)
    if found is None and exe and shutil.which(exe, path=here):
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")
        found = shutil.which(exe)
    if found is None:
        raise RuntimeError(
            f"fake VASP command {settings.fake.vasp_cmd!r} not found: install mvflows (pip install -e .) "
            "for the mvflows-fake-vasp script, or set fake.vasp_cmd in the VASP settings file "
            "(e.g. 'python -m mvflows.testing.fake_vasp_exe')"
        )
    return found
