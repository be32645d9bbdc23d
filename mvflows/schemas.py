"""Typed output documents of the mvflows jobs; field names are the CLI's JSON keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from pymatgen.core import Structure

from mvflows.calibration import CalibrationDocument

SiteName = Literal["tet", "oct"]
PairState = Literal["successful", "partial", "failed"]


class DischargeStep(BaseModel):
    """One relaxed discharged cell: how many ions it holds and its energy."""

    n_ions: int = Field(description="intercalant ions in the cell")
    x: float = Field(description="ions per host formula unit")
    energy_ev: float = Field(description="total energy of the cell")
    structure: Structure


class SitesDocument(BaseModel):
    """Where the intercalant sits, and the discharged cells the voltage is computed from.

    Spinels: A on tetrahedral 8a against octahedral 16c, both at full discharge. Other
    hosts: the lowest of the candidate voids of each stepwise-insertion step.
    """

    stable_site: str = Field(description="tet/oct for spinels; the chosen void for other hosts")
    delta_e_site_ev: float | None = Field(
        None,
        description="spinels: E(oct) - E(tet) per ion (> 0: tet stable); other hosts: second-best minus "
        "best site",
    )
    barrier_lower_bound_ev: float | None = Field(
        None,
        description="a lower bound of the migration barrier (spinels: |dE_site|), used by the NEB screen",
    )
    energy_tet_ev_per_ion: float | None = None
    energy_oct_ev_per_ion: float | None = None
    site_frac_coords: list[float] | None = Field(
        None, description="the dilute site (other hosts), fractional"
    )
    candidate_energies_ev: list[float | None] | None = Field(
        None, description="every candidate of the first step"
    )
    discharge: list[DischargeStep] = Field(
        description="discharged cells, lowest x first; the last is full discharge"
    )


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
    profile: list[VoltageStep] = Field(default_factory=list, description="voltage of every discharge step")


CheckStatus = Literal["passed", "flagged", "not_applicable", "unchecked"]


class PlausibilityCheck(BaseModel):
    """One plausibility check of an NEB band (:mod:`mvflows.plausibility`): what it found, and why.

    ``flagged``: the band fails the check, its barrier is doubtful (the band is still kept and
    the pair's state is unchanged); ``not_applicable``: the check has no meaning for this hop
    (no intermediate site); ``unchecked``: it applies but could not be made (the reason says why).
    """

    check: str = Field(description="intermediate_site or maximum_position")
    status: CheckStatus
    reason: str = Field(description="one sentence, with the numbers")
    values: dict[str, float | None] = Field(
        default_factory=dict,
        description="the numbers the check compared (energies in eV, relative to the "
        "band's first image; positions as fractions of the ion's path)",
    )


class NebSummary(BaseModel):
    """Migration barrier of one ion in the dilute limit, or why none was computed."""

    barrier_ev: float | None = None
    neb_energies_ev: list[float] | None = Field(
        None, description="energy profile relative to the first image"
    )
    reaction_coordinate: list[float] | None = Field(None, description="fractional path length of each image")
    path_distance_a: list[float] | None = Field(
        None, description="distance the ion has moved at each image (Å)"
    )
    forward_barrier_ev: float | None = Field(
        None, description="emmet's spline estimate: E(TS) - E(first image)"
    )
    reverse_barrier_ev: float | None = Field(
        None, description="emmet's spline estimate: E(TS) - E(last image)"
    )
    endpoint_mismatch_ev: float | None = None
    hop: str | None = Field(None, description="e.g. tet-oct-tet")
    hop_length_a: float | None = None
    converged: bool | None = None
    skipped_reason: str | None = None
    failure_reasons: list[str] = Field(default_factory=list)
    neb_job_uuid: str | None = None
    plausibility: list[PlausibilityCheck] = Field(
        default_factory=list,
        description="the band's plausibility checks (the first limit's, the chosen hop's)",
    )
    flag_reasons: list[str] = Field(
        default_factory=list,
        description="every flagged check of every band computed (limits, hops), and every band restarted "
        "from a re-relaxed endpoint (mvflows.neb_band.DipGuard)",
    )
    band: list[Structure] | None = Field(
        None,
        description="the NEB's final band (its images, endpoints included): where a refinement's NEB "
        "of the same hop starts; a reference to it must not point into a job added at run time",
    )
    hops: list[HopBarrier] | None = Field(
        None, description="every distinct hop of a host (non-spinel campaigns)"
    )
    percolating_barrier_ev: float | None = Field(
        None, description="lowest barrier at which the computed hops percolate through the crystal"
    )
    # not dict[str, NebSummary]: jobflow reads output schemas without following $ref, and
    # a recursive model has nothing but a $ref at its top
    limits: dict[str, LimitResult] | None = Field(
        None, description="each migration limit computed (dilute, vacancy); the top level is the first"
    )


class HopBarrier(BaseModel):
    """One symmetry-distinct hop of a host and its NEB barrier."""

    kind: str = Field(description="e.g. along-chain, between-S2, hop-1")
    label: int = Field(description="pymatgen-analysis-diffusion hop label")
    length_a: float
    barrier_ev: float | None = None
    neb_energies_ev: list[float] | None = None
    path_distance_a: list[float] | None = None
    converged: bool | None = None
    failure_reasons: list[str] = Field(default_factory=list)
    plausibility: list[PlausibilityCheck] = Field(default_factory=list)


class LimitResult(BaseModel):
    """The barrier of one migration limit of a pair (dilute: one ion in the empty host;
    vacancy: one vacancy in the full one)."""

    barrier_ev: float | None = None
    neb_energies_ev: list[float] | None = None
    path_distance_a: list[float] | None = None
    hop: str | None = None
    hop_length_a: float | None = None
    converged: bool | None = None
    failure_reasons: list[str] = Field(default_factory=list)
    plausibility: list[PlausibilityCheck] = Field(default_factory=list)
    hops: list[HopBarrier] | None = None
    percolating_barrier_ev: float | None = None


class VoltageStep(BaseModel):
    """Voltage between two consecutive insertion steps x_start -> x_end (ions per host formula)."""

    x_start: float
    x_end: float
    voltage_v: float


class InsertionCandidate(BaseModel):
    frac_coords: list[float]
    free_space_a: float
    multiplicity: int
    energy_ev: float | None = Field(None, description="relaxed total energy of the cell with the ion here")


class InsertionStep(DischargeStep):
    """One ion inserted: every candidate site relaxed, the lowest-energy arrangement kept."""

    candidates: list[InsertionCandidate]
    chosen: int
    ion_frac_coords: list[float] = Field(description="relaxed position of the inserted ion (fractional)")


class InsertionDocument(BaseModel):
    """Stepwise insertion into a host, up to the campaign's x."""

    host: str
    intercalant: str
    formula_units: float = Field(description="host formula units in the cell")
    steps: list[InsertionStep]


class StabilityDocument(BaseModel):
    """Energy above the convex hull of the charged and discharged phases."""

    chemsys: str
    e_hull_charged_ev_atom: float
    e_hull_discharged_ev_atom: float
    decomposition_charged: str
    decomposition_discharged: str
    competing_phases: list[str]


class CommitteeMember(BaseModel):
    """What one model of a committee computed for the pair: its own single-model result, in short."""

    label: str = Field(description="the member's calculator, e.g. forcefield:chgnet-0.3.0")
    result_id: str | None = Field(
        None, description="the member's own result document (a single-model result of the campaign)"
    )
    state: PairState | None = Field(None, description="the member's result state; None: no result came")
    stable_site: str | None = None
    delta_e_site_ev: float | None = None
    voltage_v: float | None = None
    barrier_ev: float | None = None
    neb_skipped_reason: str | None = None


class Spread(BaseModel):
    """One quantity across the committee members that have a value for it."""

    n: int = Field(0, description="members with a value")
    mean: float | None = None
    std: float | None = Field(None, description="population standard deviation (ddof 0)")
    min: float | None = None
    max: float | None = None
    spread: float | None = Field(None, description="max - min; None below two values")


class CommitteeDocument(BaseModel):
    """A pair on every model of a committee (``calculator.committee``): each member's values, their
    mean and spread, the limits they were held to and why the pair is flagged (docs/committee.md)."""

    members: list[CommitteeMember] = Field(description="every member, the headline (calculator.model) first")
    voltage_v: Spread
    barrier_ev: Spread
    delta_e_site_ev: Spread
    max_barrier_spread_ev: float = Field(description="the limit of the barrier spread (eV)")
    max_voltage_spread_v: float = Field(description="the limit of the voltage spread (V)")
    flag_reasons: list[str] = Field(default_factory=list, description="where the members disagree")


class PairResult(BaseModel):
    """One host/intercalant pair: everything a screen needs, no trajectories.

    A result belongs to the campaign and the settings that made it: ``result_id`` is the
    content key of the pair's result job, so re-running an unchanged campaign replaces
    its own document while another campaign, or changed settings, adds a new one.
    """

    result_id: str | None = Field(None, description="id of this result (its result job's uuid)")
    campaign: str
    settings_digest: str | None = Field(
        None, description="short hash of the campaign's computational settings"
    )
    host: str
    intercalant: str
    formula_discharged: str
    stable_site: str | None = Field(None, description="tet/oct for spinels; the chosen void for other hosts")
    delta_e_site_ev: float | None = None
    voltage_v: float | None = None
    capacity_mah_g: float | None = None
    specific_energy_wh_kg: float | None = None
    barrier_ev: float | None = None
    neb_energies_ev: list[float] | None = None
    neb_path_distance_a: list[float] | None = Field(
        None, description="distance the ion has moved at each image (Å)"
    )
    neb_skipped_reason: str | None = None
    calculator: str
    redox_metal: str | None = None
    x: float | None = Field(None, description="ions inserted per host formula unit at full discharge")
    voltage_profile: list[VoltageStep] | None = Field(
        None, description="step-wise voltages of stepwise insertion"
    )
    hops: list[HopBarrier] | None = None
    percolating_barrier_ev: float | None = None
    limits: dict[str, LimitResult] | None = Field(
        None, description="every migration limit computed, by name; barrier_ev is the first of neb.limits"
    )
    e_hull_charged_ev_atom: float | None = None
    e_hull_discharged_ev_atom: float | None = None
    fake_vasp: bool = Field(False, description="computed by fake VASP (a dry run): not a DFT result")
    levels: dict[str, dict[str, Any]] | None = Field(
        None,
        description="a refined campaign's pair at every level of fidelity (calculator label -> its fields); "
        "the top-level fields are the headline level's",
    )
    headline_level: str | None = Field(None, description="the level the top-level fields are (DFT if any)")
    committee: CommitteeDocument | None = Field(
        None,
        description="a committee campaign's pair: every member's values, mean and spread; the top-level "
        "numbers are the headline member's (calculator)",
    )
    calibrated_barrier_ev: float | None = Field(
        None, description="barrier_ev divided by the model's softening factor (see calibration)"
    )
    calibration: CalibrationDocument | None = Field(
        None, description="the softening factor calibrated_barrier_ev used, and the points it came from"
    )
    voltage_spread_v: float | None = Field(None, description="committee: max - min of the members' voltages")
    barrier_spread_ev: float | None = Field(None, description="committee: max - min of the members' barriers")
    state: PairState
    failure_reasons: list[str] = Field(default_factory=list)
    plausibility: list[PlausibilityCheck] = Field(
        default_factory=list, description="plausibility checks of the band barrier_ev comes from"
    )
    flagged: bool = Field(
        False,
        description="a check doubts this result (see flag_reasons); the state is unchanged: a flagged "
        "result is computed, its number is in question",
    )
    flag_reasons: list[str] = Field(default_factory=list, description="why it is flagged, one line each")
    job_uuids: dict[str, str | None] = Field(default_factory=dict, description="provenance: step -> job uuid")
    completed_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @model_validator(mode="after")
    def _mark_fake_vasp(self) -> PairResult:
        if self.calculator.startswith("fake-vasp"):
            self.fake_vasp = True  # whatever the caller said: never stored as a real VASP result
        return self

    @model_validator(mode="after")
    def _flagged_by_its_reasons(self) -> PairResult:
        if self.flag_reasons:
            self.flagged = True  # a reason is a flag, whoever wrote it (plausibility checks, a committee)
        return self
