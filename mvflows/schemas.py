"""Typed output documents of the mvflows jobs; field names are the CLI's JSON keys."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field, model_validator

SiteName = Literal["tet", "oct"]
PairState = Literal["successful", "partial", "failed"]


class SiteEnergyDocument(BaseModel):
    """Tetrahedral versus octahedral preference of the intercalant at full discharge."""

    energy_tet_ev_per_ion: float = Field(description="E(AB2S4, A on tet) per A (eV)")
    energy_oct_ev_per_ion: float = Field(description="E(AB2S4, A on oct) per A (eV)")
    delta_e_site_ev: float = Field(description="E(oct) - E(tet) per A (eV); > 0 means tet is stable")
    stable_site: SiteName
    energy_discharged_ev_per_fu: float = Field(description="energy of the stable arrangement per B2S4 (eV)")


class VoltageDocument(BaseModel):
    """Average voltage over B2S4 + x A -> AxB2S4, with capacity and specific energy."""

    voltage_v: float
    capacity_mah_g: float = Field(description="gravimetric, on the discharged mass")
    specific_energy_wh_kg: float
    x: float = Field(description="ions inserted per B2S4")
    ion_charge: int
    energy_charged_ev_per_fu: float
    energy_discharged_ev_per_fu: float
    energy_metal_ev_per_atom: float


class NebSummary(BaseModel):
    """Migration barrier of one ion in the dilute limit, or why none was computed."""

    barrier_ev: float | None = None
    neb_energies_ev: list[float] | None = Field(None, description="energy profile relative to the first image")
    reaction_coordinate: list[float] | None = Field(None, description="fractional path length of each image")
    endpoint_mismatch_ev: float | None = None
    hop: str | None = Field(None, description="e.g. tet-oct-tet")
    hop_length_a: float | None = None
    converged: bool | None = None
    skipped_reason: str | None = None
    failure_reasons: list[str] = Field(default_factory=list)
    neb_job_uuid: str | None = None


class PairResult(BaseModel):
    """One host/intercalant pair: everything a screen needs, no trajectories."""

    campaign: str
    host: str
    intercalant: str
    formula_discharged: str
    stable_site: SiteName | None = None
    delta_e_site_ev: float | None = None
    voltage_v: float | None = None
    capacity_mah_g: float | None = None
    specific_energy_wh_kg: float | None = None
    barrier_ev: float | None = None
    neb_energies_ev: list[float] | None = None
    neb_skipped_reason: str | None = None
    calculator: str
    fake_vasp: bool = Field(False, description="computed by fake VASP (a dry run): not a DFT result")
    state: PairState
    failure_reasons: list[str] = Field(default_factory=list)
    job_uuids: dict[str, str | None] = Field(default_factory=dict, description="provenance: step -> job uuid")
    completed_at: str = Field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    @model_validator(mode="after")
    def _mark_fake_vasp(self) -> PairResult:
        if self.calculator.startswith("fake-vasp"):
            self.fake_vasp = True  # whatever the caller said: never stored as a real VASP result
        return self
