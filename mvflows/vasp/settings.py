"""The study's VASP settings, read from one YAML file.

The defaults ship inside the package (``mvflows/data/vasp.yaml``); ``configs/vasp.yaml``
is a documented copy for users to edit and name with ``calculator.vasp_config``.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

PACKAGED_CONFIG = "data/vasp.yaml"
JOB_MARKER = "mvflows_job.json"  # written into every VASP job directory: what the job is for


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KpointSettings(_Strict):
    unit_cell_mesh: int = Field(8, gt=0, description="mesh on the cubic spinel unit cell")
    unit_cell_a: float = Field(10.0, gt=0, description="edge of that unit cell (Å)")

    @property
    def spacing(self) -> float:
        """k-point spacing (1/Å, without 2π) every cell of the campaign gets."""
        return 1.0 / (self.unit_cell_mesh * self.unit_cell_a)


FAKE_VASP_EXECUTABLE = "mvflows-fake-vasp"  # console script of mvflows.testing.fake_vasp_exe
FAKE_FAIL_KINDS = ("relax", "static", "neb")


class FakeSettings(_Strict):
    model: str | None = Field(None, description="surrogate force field; None = the campaign's model")
    max_ionic_steps: int | None = Field(20, gt=0, description="cap on surrogate steps; None = NSW")
    # How and whether fake VASP is launched does not change what a job computes, so neither
    # is serialised (left out of every job's content key, like ``source``): a job told to
    # fail has the key it has without, and a re-run without ``fail`` reuses everything else.
    vasp_cmd: str = Field(
        FAKE_VASP_EXECUTABLE, exclude=True, description="command atomate2's run_vasp launches as VASP"
    )
    fail: list[Literal["relax", "static", "neb"]] = Field(
        default_factory=list, exclude=True, description="job kinds whose fake VASP run fails, as VASP's would"
    )
    fail_while: str | None = Field(
        None,
        exclude=True,
        description="fail the `fail` kinds only while this file exists (relative to the settings file): "
        "delete it and a rerun of the failed job completes, with nothing resubmitted",
    )

    @model_validator(mode="after")
    def _fail_while_needs_fail(self) -> FakeSettings:
        if self.fail_while is not None and not self.fail:
            raise ValueError(
                "fake.fail_while needs fake.fail (the job kinds that fail while the file exists)"
            )
        return self


class VaspStudySettings(_Strict):
    """One set of DFT settings for every VASP job of a campaign."""

    potcar_functional: str = "PBE"
    potcars: dict[str, str] = Field(default_factory=dict)
    encut: float = Field(520, gt=0)
    ediff: float = Field(1e-5, gt=0)
    neb_ediff: float = Field(1e-4, gt=0)
    kpoints: KpointSettings = Field(default_factory=KpointSettings)
    magmom: dict[str, float] = Field(
        default_factory=lambda: {el: 5.0 for el in ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni")}
    )
    smearing: dict[str, float] = Field(default_factory=lambda: {"ISMEAR": 0, "SIGMA": 0.05})
    static_after_relax: bool = True
    incar: dict[str, Any] = Field(default_factory=dict)
    vasp_cmd: str | None = None
    fake: FakeSettings = Field(default_factory=FakeSettings)
    # informative only: left out of serialisation, so the same settings read from another
    # path (another machine) give the same job keys
    source: str | None = Field(None, exclude=True, description="file these settings came from")


def resolve_config_path(path: str | Path | None) -> Path:
    """The settings file a campaign means: its own ``vasp_config``, else the packaged defaults."""
    if path is not None:
        return Path(path)
    return Path(str(resources.files("mvflows").joinpath(PACKAGED_CONFIG)))


def load_vasp_settings(path: str | Path | None = None) -> VaspStudySettings:
    """Read the VASP settings file; without one, the packaged study defaults."""
    resolved = resolve_config_path(path)
    try:
        data = yaml.safe_load(resolved.read_text()) or {}
    except OSError as exc:
        raise ValueError(f"{resolved}: cannot read VASP settings: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{resolved}: malformed YAML: {exc}") from None
    try:
        settings = VaspStudySettings.model_validate({**data, "source": str(resolved)})
    except Exception as exc:  # noqa: BLE001 - pydantic error, one line for the user
        first = str(exc).splitlines()
        raise ValueError(f"{resolved}: invalid VASP settings: {' '.join(first[:3])}") from None
    fake = settings.fake
    if fake.fail_while is not None:  # where the job runs, the file is looked up by its absolute path
        fake.fail_while = str((resolved.parent / Path(fake.fail_while).expanduser()).resolve())
    return settings
