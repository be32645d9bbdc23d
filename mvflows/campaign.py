"""Campaign files: which pairs to screen, with which calculator and settings.

A campaign is YAML validated by pydantic; every error is reported as
``file:line:col: field: message`` using the YAML node marks, so users see where.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pymatgen.core import Element

from mvflows.calibration import CalibrationSettings
from mvflows.plausibility import TOLERANCE_EV, WINDOW
from mvflows.refine import RefineSettings
from mvflows.structures.metals import METAL_REFERENCES
from mvflows.structures.spinel import check_spinel, spinel_name, spinel_parts

# multivalent ions, and Li and Na as the monovalent comparison
SPINEL_INTERCALANTS = ("Mg", "Ca", "Zn", "Y", "Al", "Li", "Na")
LIMITS = ("dilute", "vacancy")


MAX_CAMPAIGN_BYTES = 256_000  # checked before parsing (1 MB takes seconds to parse); campaigns are a few kB
MAX_NESTING = 32  # mappings and lists inside each other
MAX_IMAGES = 31  # moving NEB images
MAX_STEPS = 10_000  # optimiser step limits
MAX_SUPERCELL = 8  # each neb.supercell entry
MAX_NEB_ATOMS = 1000  # atoms of an NEB image (neb.supercell of the 14-atom spinel cell, hops' supercells)
SPINEL_CELL_ATOMS = 14  # the primitive AB2X4 cell that neb.supercell repeats
MAX_X = 10.0  # ions per host formula


class CampaignError(ValueError):
    """A campaign file that cannot be used; the message is one line, with its location."""


class _At(ValueError):
    """A validator's error about one place of the campaign: ``loc`` is appended to pydantic's location."""

    def __init__(self, loc: tuple[Any, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _known_model(value: str) -> str:
    """A model name mvflows can resolve, or the error names the models that are."""
    from mvflows.models import resolve_model_name

    resolve_model_name(value)
    return value


class RelaxSettings(_Strict):
    """Settings of every full relaxation (cell and positions)."""

    fmax: float = Field(0.05, gt=0, description="force convergence (eV/Å)")
    steps: int = Field(500, gt=0, le=MAX_STEPS, description="maximum optimiser steps")


class CascadeSettings(_Strict):
    """A cheap model that pre-converges every relax and band (force fields; mvflows.cascade)."""

    model: str = Field("chgnet-0.2.0", description="the cheap model (a name of docs/models.md)")
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    relax_fmax: float = Field(0.15, gt=0, description="force where the cheap relaxes stop (eV/Å)")
    band_fmax: float = Field(0.3, gt=0, description="NEB force where the cheap band stops (eV/Å)")
    steps: int = Field(200, gt=0, le=MAX_STEPS, description="optimiser steps of each cheap stage")

    _known_model = field_validator("model")(lambda value: _known_model(value))


class CommitteeSettings(_Strict):
    """Every pair on several force fields (``calculator.committee``): the headline model's numbers,
    the members' spread, and a flag where they disagree (docs/committee.md).

    Written as a list of model names, as ``default`` (:data:`mvflows.models.DEFAULT_COMMITTEE`) or
    as this mapping. As loaded, ``members`` holds the members other than ``calculator.model``
    (which is always one, the first), each under its canonical name, in the order given.
    """

    members: list[str] = Field(
        description="models beside calculator.model: short names (7net-0, chgnet-0.3.0, ...) or MLFF names, "
        "or default"
    )
    max_barrier_spread_ev: float = Field(
        0.15,
        gt=0,
        description="flag the pair when the members' barriers differ by more than this (max - min, eV)",
    )
    max_voltage_spread_v: float = Field(
        0.15,
        gt=0,
        description="flag the pair when the members' voltages differ by more than this (max - min, V)",
    )


def _committee_names(names: list[Any], at: tuple[Any, ...]) -> list[Any]:
    """Each member's canonical name (``7net-0`` -> ``SevenNet``); an unknown name, or two names of one
    model, is an error at the member (``at``: where the list is inside ``calculator.committee``)."""
    from mvflows.models import model_identity, model_label, resolve_model

    seen: dict[tuple[tuple[str, str], ...], int] = {}
    out: list[Any] = []
    for i, name in enumerate(names):
        if not isinstance(name, str):
            out.append(name)  # pydantic says what it should be
            continue
        resolved = _at((*at, i), resolve_model, name)
        identity = tuple(sorted(model_identity(*resolved).items()))
        if identity in seen:
            j = seen[identity]
            raise _At(
                (*at, i),
                f"{name!r} is the same model as {names[j]!r} (listed before it); list each model once",
            )
        seen[identity] = i
        out.append(model_label(*resolved))
    return out


class CalculatorSettings(_Strict):
    """Which energy model runs the graph."""

    kind: Literal["forcefield", "vasp", "fake-vasp"] = Field(
        "forcefield", description="forcefield, vasp, or fake-vasp (the VASP graph on fake VASP)"
    )
    vasp_config: str | None = Field(
        None,
        description="VASP settings file for kind vasp/fake-vasp; default: the packaged study settings "
        "(documented copy: configs/vasp.yaml)",
    )
    model: str = Field(
        "SevenNet",
        description="an offline model's short name (7net-0, 7net-l3i5, chgnet-0.3.0, ...; docs/models.md) "
        "or an atomate2 force-field name (MLFF: SevenNet, CHGNet, ...)",
    )
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keywords of the model's ASE calculator (override a short name's)"
    )
    relax: RelaxSettings = Field(default_factory=RelaxSettings)
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="where the force field runs: auto (CUDA when torch sees a GPU, else CPU), cpu or cuda; "
        "results do not depend on it, so it changes no key",
    )
    cascade: CascadeSettings | None = Field(
        None,
        description="force fields: a cheap model pre-converges every relax and band and calculator.model "
        "finishes (null: off; {} for the defaults)",
    )
    committee: CommitteeSettings | None = Field(
        None,
        description="run every pair on these models too (a list of names, default, or {members, "
        "max_barrier_spread_ev, max_voltage_spread_v}); calculator.model is the headline member",
    )

    _known_model = field_validator("model")(lambda value: _known_model(value))

    @field_validator("committee", mode="before")
    @classmethod
    def _committee_form(cls, value: Any) -> Any:
        """A list of names and ``default`` are the mapping with default limits; names are checked
        here, where the form written says where each one is."""
        from mvflows.models import DEFAULT_COMMITTEE

        if isinstance(value, list) or value == "default":
            value, at = {"members": value}, ()
        elif isinstance(value, dict):
            at = ("members",)
        else:
            return value  # None, or a type pydantic reports
        if value.get("members") == "default":
            value = {**value, "members": list(DEFAULT_COMMITTEE)}
        if isinstance(value.get("members"), list):
            value = {**value, "members": _committee_names(value["members"], at)}
        return value

    @model_validator(mode="after")
    def _canonical_model(self) -> CalculatorSettings:
        """One spelling per model (SevenNet = 7net-0), so every spelling shares content keys."""
        from mvflows.models import resolve_model

        self.model, self.model_kwargs = resolve_model(self.model, self.model_kwargs)
        return self

    @model_validator(mode="after")
    def _committee_of_force_fields(self) -> CalculatorSettings:
        """A committee is force fields, at least two: calculator.model and one more."""
        from mvflows.models import model_identity, model_label, resolve_model

        if self.committee is None:
            return self
        if self.kind != "forcefield":
            raise _At(
                ("committee",),
                f"a model committee runs force fields: kind must be forcefield, not {self.kind}",
            )
        headline = model_identity(self.model, self.model_kwargs)
        others = [m for m in self.committee.members if model_identity(*resolve_model(m)) != headline]
        if not others:
            raise _At(
                ("committee",),
                f"a committee needs at least 2 models; it has only "
                f"{model_label(self.model, self.model_kwargs)} (calculator.model, always a member)",
            )
        self.committee.members = others
        return self

    def committee_models(self) -> list[tuple[str, dict[str, Any]]]:
        """(model, calculator keywords) of every committee member, calculator.model (with its
        ``model_kwargs``) first; empty without a committee."""
        from mvflows.models import resolve_model

        if self.committee is None:
            return []
        return [(self.model, dict(self.model_kwargs)), *(resolve_model(m) for m in self.committee.members)]


class ScreenSettings(_Strict):
    """Which pairs are worth an NEB."""

    max_abs_delta_e_site_ev: float = Field(
        1.0, ge=0, description="NEB only when |E(oct) - E(tet)| per ion is at most this (eV)"
    )
    max_e_hull_ev_atom: float | None = Field(
        None,
        ge=0,
        description="NEB only when both phases lie at most this far above the hull (needs stability)",
    )


class InsertionSettings(_Strict):
    """Stepwise insertion into hosts whose sites symmetry does not give (family: host)."""

    max_candidates: int = Field(3, ge=1, description="symmetry-distinct candidate sites relaxed per step")
    min_distance_a: float = Field(
        1.8, gt=0, description="candidates closer than this to any atom are dropped (Å)"
    )


class HopSettings(_Strict):
    """Distinct hops between the found sites (family: host)."""

    max_hops: int = Field(2, ge=1, description="NEB on at most this many distinct hops, shortest first")
    max_length_a: float = Field(6.5, gt=0, description="longest hop considered (Å)")
    min_length_a: float = Field(1.5, ge=0, description="shorter hops (split sites) are ignored (Å)")
    min_supercell_length_a: float = Field(8.0, gt=0, description="NEB supercell: shortest image distance (Å)")
    min_supercell_atoms: int = Field(20, gt=0, le=MAX_NEB_ATOMS)
    max_supercell_atoms: int = Field(120, gt=0, le=MAX_NEB_ATOMS)

    @model_validator(mode="after")
    def _atoms_range(self) -> HopSettings:
        if self.min_supercell_atoms > self.max_supercell_atoms:
            raise _At(
                ("min_supercell_atoms",),
                f"{self.min_supercell_atoms} is more than max_supercell_atoms ({self.max_supercell_atoms})",
            )
        return self


class StabilitySettings(_Strict):
    """Energy above the hull of charged and discharged phases."""

    enabled: bool = False
    prototypes: bool = Field(
        True, description="relax the shipped competing phases with the campaign's calculator"
    )
    entries_file: str | None = Field(
        None,
        description="YAML/JSON list of {formula, energy_per_atom} (same energy model), "
        "relative to the campaign",
    )


_SupercellEntry = Annotated[int, Field(ge=1, le=MAX_SUPERCELL)]


class NebSettings(_Strict):
    """Dilute-limit NEB of one ion in a supercell of the relaxed charged host."""

    enabled: bool = True
    supercell: tuple[_SupercellEntry, _SupercellEntry, _SupercellEntry] = Field(
        (2, 2, 2),
        description=f"repeats of the spinel cell (each 1..{MAX_SUPERCELL}, at most {MAX_NEB_ATOMS} atoms)",
    )
    images: int = Field(
        7,
        ge=1,
        le=MAX_IMAGES,
        description="moving images between the endpoints; 7 makes the study's 8 path segments",
    )
    fmax: float = Field(0.05, gt=0, description="NEB force convergence (eV/Å)")
    steps: int = Field(400, gt=0, le=MAX_STEPS, description="NEB optimiser step limit")
    endpoint_fmax: float = Field(0.02, gt=0, description="endpoint relaxation force convergence (eV/Å)")
    endpoint_steps: int = Field(300, gt=0, le=MAX_STEPS)
    climb: bool = True
    idpp: bool = True
    optimizer: Literal["FIRE", "BFGS", "LBFGS", "MDMin", "ODE"] = Field(
        "ODE",
        description="NEB optimiser; ODE is ASE's NEBOptimizer, fewest force calls (benchmarks/neb.py); "
        "VASP maps it to IOPT=1",
    )
    symmetric_tolerance_ev: float = Field(
        0.02, gt=0, description="endpoints of a symmetric hop must agree to this (eV)"
    )
    dip_restarts: int | None = Field(
        1,
        ge=0,
        le=3,
        description="force fields: a band with an image more than symmetric_tolerance_ev below its relaxed "
        "endpoints stops; the nearer endpoint is relaxed from the lowest image and the band restarts, this "
        "many times, then stops partial (null: run the band on and only report the dip)",
    )
    relax_intermediate: bool = Field(
        True,
        description="spinel hops: also relax the supercell with the ion held on the intermediate void "
        "(a fixed-cell relax per band) for the intermediate-site check",
    )
    intermediate_fmax: float = Field(
        0.05,
        gt=0,
        description="force convergence of that relax (eV/Å); its energy feeds only the check, whose "
        "tolerance is ~100 meV, so it need not be as tight as endpoint_fmax",
    )
    intermediate_tolerance_ev: float = Field(
        TOLERANCE_EV,
        gt=0,
        description="flag a band whose image on the intermediate void lies more than this above the ion "
        "relaxed there (eV)",
    )
    maximum_window: float = Field(
        WINDOW,
        gt=0,
        le=0.25,
        description="flag a band whose highest image lies farther than this (fraction of the path) from the "
        "faces at 25 % and 75 %",
    )
    limits: list[Literal["dilute", "vacancy"]] = Field(
        default_factory=lambda: ["dilute"],
        min_length=1,
        description="migration limits: dilute (one ion in the empty host), vacancy (one vacancy in the full "
        "host); barrier_ev reports the first",
    )

    @field_validator("limits")
    @classmethod
    def _distinct_limits(cls, limits: list[str]) -> list[str]:
        if len(set(limits)) != len(limits):
            raise ValueError(f"each limit once, not {limits}")
        return limits

    @field_validator("supercell")
    @classmethod
    def _supercell_atoms(cls, supercell: tuple[int, int, int]) -> tuple[int, int, int]:
        atoms = SPINEL_CELL_ATOMS * supercell[0] * supercell[1] * supercell[2]
        if atoms > MAX_NEB_ATOMS:
            raise ValueError(
                f"{list(supercell)} repeats the {SPINEL_CELL_ATOMS}-atom spinel cell to {atoms} atoms; "
                f"at most {MAX_NEB_ATOMS}"
            )
        return supercell


class JobResources(_Strict):
    """What one job asks the batch scheduler for (qtoolkit/jobflow-remote resource keys)."""

    nodes: int | None = Field(None, gt=0)
    ntasks: int | None = Field(None, gt=0)
    cpus_per_task: int | None = Field(None, gt=0, description="also torch's thread count (OMP_NUM_THREADS)")
    mem: str | None = Field(None, description="e.g. 4G")
    time: str | None = Field(None, description="wall time, e.g. 01:00:00")
    partition: str | None = None
    account: str | None = None
    qos: str | None = None


class ResourceSettings(_Strict):
    """Per job type resources for cluster runs (`mvflows submit`); unset keys keep the worker's."""

    default: JobResources = Field(default_factory=JobResources, description="every job")
    relax: JobResources = Field(default_factory=JobResources, description="the unit-cell relaxations")
    neb: JobResources = Field(
        default_factory=lambda: JobResources(cpus_per_task=2, time="04:00:00"),
        description="the NEB band and its supercell endpoint relaxations",
    )


class HostFile(_Strict):
    """A host read from a structure file (CIF, POSCAR, pymatgen JSON: anything pymatgen reads).

    When the file holds the intercalant (the discharged phase), the charged host is the
    file without it and the file's ion sites are the insertion sites; otherwise sites are
    searched as for the shipped hosts.
    """

    file: str = Field(description="path, relative to the campaign file")
    name: str | None = Field(None, description="the host's name in results (default: the file's stem)")
    ion: str | None = Field(
        None, description="the intercalant the file holds (default: the campaign ion in it)"
    )
    formula: str | None = Field(
        None, description="one formula unit of the charged host (default: the smallest with whole ions)"
    )

    @property
    def key(self) -> str:
        return self.name or Path(self.file).stem


def host_key(host: str | HostFile) -> str:
    """How results and pairs name a host: the formula or shipped name, or a file host's name."""
    return host if isinstance(host, str) else host.key


class NebPath(_Strict):
    """An NEB between two given endpoints (same cell, same atoms in order, one ion moved)."""

    initial: str = Field(description="structure file of the first endpoint, relative to the campaign file")
    final: str = Field(description="structure file of the last endpoint")
    name: str | None = Field(
        None, description="the path's name in results (default: the initial file's folder)"
    )

    @property
    def key(self) -> str:
        return self.name or Path(self.initial).parent.name or Path(self.initial).stem


class Pair(_Strict):
    """One host/intercalant pair, e.g. Mg in Cr2S4."""

    host: str | HostFile
    intercalant: str
    x_max: float | None = Field(
        None, gt=0, le=MAX_X, description="ions per host formula at full discharge (family: host)"
    )


class Campaign(_Strict):
    """A screening campaign: a matrix (hosts × intercalants) or an explicit pair list."""

    name: str
    family: Literal["spinel", "host"] = Field(
        "spinel", description="spinel B2S4 hosts, or shipped hosts (VS4, ...)"
    )
    hosts: list[str | HostFile] = Field(
        default_factory=list, description="charged hosts, e.g. Cr2S4, VS4, or {file: my/MgMn2O4.cif}"
    )
    intercalants: list[str] = Field(default_factory=list)
    pairs: list[Pair] = Field(default_factory=list, description="explicit pairs, added to the matrix")
    calculator: CalculatorSettings = Field(default_factory=CalculatorSettings)
    screen: ScreenSettings = Field(default_factory=ScreenSettings)
    neb: NebSettings = Field(default_factory=NebSettings)
    resources: ResourceSettings = Field(default_factory=ResourceSettings)
    insertion: InsertionSettings = Field(default_factory=InsertionSettings)
    hops: HopSettings = Field(default_factory=HopSettings)
    stability: StabilitySettings = Field(default_factory=StabilitySettings)
    x_max: float = Field(
        1.0, gt=0, le=MAX_X, description="default ions per host formula at full discharge (family: host)"
    )
    paths: list[NebPath] = Field(default_factory=list, description="NEBs between given endpoint files")
    refine: RefineSettings | None = Field(
        None, description="after the force-field screen, recompute the pairs this rule picks on VASP"
    )
    calibration: CalibrationSettings | None = Field(
        None, description="reference points that calibrate the force field's barriers (softening factor)"
    )
    _file_hosts: dict[str, Any] = PrivateAttr(default_factory=dict)  # file host key -> Host, once read
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)  # dotted key -> where it was set

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, hosts: list[str | HostFile], info: ValidationInfo) -> list[str | HostFile]:
        return [_at((i,), _named_host, h, info.data.get("family")) for i, h in enumerate(hosts)]

    @field_validator("intercalants")
    @classmethod
    def _intercalants(cls, ions: list[str]) -> list[str]:
        return [_at((i,), check_intercalant, ion) for i, ion in enumerate(ions)]

    @model_validator(mode="after")
    def _pairs_valid(self) -> Campaign:
        spinel = self.family == "spinel"
        names: dict[str, str | HostFile] = {}  # a host written many times is checked once
        for j, pair in enumerate(self.pairs):
            written = pair.host
            if isinstance(written, str) and written in names:
                pair.host = names[written]
            else:
                pair.host = _at(("pairs", j, "host"), _named_host, written, self.family)
                if isinstance(written, str):
                    names[written] = pair.host
            _at(("pairs", j, "intercalant"), check_intercalant, pair.intercalant)
            if spinel and pair.x_max is not None and not isinstance(pair.host, HostFile):
                raise _At(("pairs", j, "x_max"), _SPINEL_X)
        files = any(isinstance(h, HostFile) for h in [*self.hosts, *(p.host for p in self.pairs)])
        if spinel and "x_max" in self.model_fields_set and not files:
            raise _At(("x_max",), _SPINEL_X)
        if not self.pair_list() and not self.paths:
            raise ValueError("the campaign has no pairs: give hosts and intercalants, pairs, or paths")
        self._no_conflicts()
        checked: set[tuple[str, str, float]] = set()
        for loc, pair in self._placed_pairs():
            if isinstance(pair.host, HostFile):
                continue  # checked when its file is read
            if (pair.host, pair.intercalant, self.x_of(pair)) in checked:
                continue
            checked.add((pair.host, pair.intercalant, self.x_of(pair)))
            if self.family == "host":
                where = loc
                if pair.x_max is not None:
                    where = (*loc, "x_max")
                elif "x_max" in self.model_fields_set:
                    where = ("x_max",)
                _at(where, ions_in_cell, pair.host, self.x_of(pair))
            else:
                b, x = spinel_parts(pair.host)
                _at(loc, check_spinel, b, x, pair.intercalant)
        if self.screen.max_e_hull_ev_atom is not None and not self.stability.enabled:
            raise _At(("screen", "max_e_hull_ev_atom"), "needs stability.enabled: true")
        if self.refine is not None and self.refine.flagged and self.calculator.committee is None:
            raise _At(("refine", "flagged"), "needs calculator.committee: only a model committee flags pairs")
        return self

    def _placed_pairs(self) -> list[tuple[tuple[Any, ...], Pair]]:
        """Every pair as written, with where: the matrix's at its host, the explicit ones at their entry."""
        placed: list[tuple[tuple[Any, ...], Pair]] = [
            (("hosts", i), Pair(host=host, intercalant=ion))
            for i, host in enumerate(self.hosts)
            for ion in self.intercalants
        ]
        placed += [(("pairs", j), pair) for j, pair in enumerate(self.pairs)]
        return placed

    def _no_conflicts(self) -> None:
        """One definition per pair: the same pair twice is merged, twice with another x or host refused."""
        first: dict[tuple[str, str], tuple[tuple[Any, ...], Pair]] = {}
        hosts: dict[str, tuple[tuple[Any, ...], str | HostFile]] = {}
        for loc, pair in self._placed_pairs():
            key = host_key(pair.host)
            host_loc = loc if loc[0] == "hosts" else (*loc, "host")
            seen_host = hosts.setdefault(key, (host_loc, pair.host))
            if seen_host[1] != pair.host:
                raise _At(
                    host_loc,
                    f"host {key} is defined twice, differently (also at {_field(seen_host[0])}); "
                    "give the file host another name",
                )
            seen = first.setdefault((key, pair.intercalant), (loc, pair))
            if seen[1] is not pair and self.x_of(seen[1]) != self.x_of(pair):
                raise _At(
                    (*loc, "x_max") if loc[0] == "pairs" and pair.x_max is not None else loc,
                    f"{pair.intercalant} in {key} is already a pair at {_field(seen[0])} with x_max = "
                    f"{self.x_of(seen[1]):g}, here {self.x_of(pair):g}: give each pair once",
                )

    def where(self, dotted: str) -> str | None:
        """Where a setting was given: ``file:line:col: key`` or the command-line option; None by default."""
        return self._origins.get(dotted)

    def settings_digest(self) -> str:
        """Short hash of every setting that changes what the campaign computes.

        Stored with each pair result, so stored versions of one campaign can be told
        apart; files the settings name enter by their content: the entries file byte for
        byte, the VASP settings as read (comments, and how fake VASP is launched or told to
        fail, change no result).
        """
        import contextlib
        import hashlib
        import json

        from mvflows.vasp.settings import load_vasp_settings

        data = self.model_dump(
            mode="json",
            include={"family", "calculator", "screen", "neb", "insertion", "hops", "stability", "x_max"},
        )
        path = data["stability"].get("entries_file")
        if path:
            with contextlib.suppress(OSError):  # reported where the file is read
                data["stability"]["entries_file"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if data["calculator"].get("committee") is None:  # a campaign without one: the digest it always had
            data["calculator"].pop("committee", None)
        path = data["calculator"].get("vasp_config")
        if path:
            with contextlib.suppress(ValueError):  # reported where the file is read
                data["calculator"]["vasp_config"] = load_vasp_settings(path).model_dump(mode="json")
        data["calculator"].pop("device", None)  # where it ran, not what it computed
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def x_of(self, pair: Pair) -> float:
        """Ions per host formula at full discharge for a pair; a shipped spinel's is always 1."""
        if self.family == "spinel" and not isinstance(pair.host, HostFile):
            return 1.0
        return pair.x_max if pair.x_max is not None else self.x_max

    def pair_list(self) -> list[Pair]:
        """Every pair once, matrix first, in file order."""
        seen: dict[tuple[str, str], Pair] = {}
        for host, ion in itertools.product(self.hosts, self.intercalants):
            seen.setdefault((host_key(host), ion), Pair(host=host, intercalant=ion))
        for pair in self.pairs:
            seen.setdefault((host_key(pair.host), pair.intercalant), pair)
        return list(seen.values())

    def ions(self) -> list[str]:
        """Every intercalant of the campaign, in file order."""
        return list(dict.fromkeys([*self.intercalants, *(p.intercalant for p in self.pairs)]))

    def host_of(self, pair: Pair):
        """The Host a pair names (a file host is read once per campaign)."""
        from mvflows.structures.catalog import host_for

        if not isinstance(pair.host, HostFile):
            return host_for(pair.host, self.family)
        key = pair.host.key
        if key not in self._file_hosts:
            from mvflows.structures.files import host_from_file

            entry = pair.host
            self._file_hosts[key] = host_from_file(
                entry.file, self.ions(), entry.key, entry.ion, entry.formula
            )
        return self._file_hosts[key]


_SPINEL_X = "spinel pairs are always x = 1 (one ion per B2X4); x_max is for family: host and file hosts"


def _at(loc: tuple[Any, ...], check: Any, *args: Any) -> Any:
    """``check(*args)``, its ValueError placed at ``loc``."""
    try:
        return check(*args)
    except _At:
        raise
    except ValueError as exc:
        raise _At(loc, str(exc)) from None


def _field(loc: tuple[Any, ...]) -> str:
    """A location as users write it: ``pairs[3].host``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _named_host(host: str | HostFile, family: str | None) -> str | HostFile:
    """A host name checked and written one way (S4Cr2 -> Cr2S4); a file host as it is."""
    if isinstance(host, HostFile):
        return host
    return check_host(host) if family == "host" else spinel_name(host)


def check_host(name: str) -> str:
    """A shipped host's name, however its formula is ordered (S4V -> VS4)."""
    import contextlib

    from pymatgen.core import Composition

    from mvflows.structures.hosts import check_host as _check
    from mvflows.structures.hosts import host_catalog

    if name not in host_catalog():
        with contextlib.suppress(ValueError, KeyError):
            wanted = Composition(name)
            name = next((known for known in host_catalog() if Composition(known) == wanted), name)
    return _check(name)


def ions_in_cell(host: str, x_max: float) -> int:
    """Ions in the host's cell at x_max per formula; it must be a whole number."""
    from mvflows.structures.hosts import host_formula_units, host_structure

    units = host_formula_units(host, host_structure(host))
    n = x_max * units
    if abs(n - round(n)) > 1e-6 or round(n) < 1:
        raise ValueError(
            f"x_max = {x_max} per {host} is {n:g} ions in the {units:g}-formula-unit cell; "
            "it must be a whole number"
        )
    return round(n)


def check_element(symbol: str) -> str:
    """Return the symbol if it names an element, else raise a one-line error."""
    try:
        Element(symbol)
    except (ValueError, KeyError):
        raise ValueError(f"unknown element {symbol!r}") from None
    return symbol


def check_intercalant(symbol: str) -> str:
    check_element(symbol)
    if symbol not in SPINEL_INTERCALANTS or symbol not in METAL_REFERENCES:
        raise ValueError(f"{symbol!r} is not a supported intercalant ({', '.join(SPINEL_INTERCALANTS)})")
    return symbol


# --- loading with line-precise errors -------------------------------------------------


class _Refused(yaml.composer.ComposerError):
    """Well-formed YAML that a campaign file may not use (the message says why)."""


class _CampaignLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses what a campaign never needs and a hostile file could use:
    a key given twice in one mapping (the last would win), aliases (``*name``: exponential
    expansion), nesting deeper than :data:`MAX_NESTING` (unbounded recursion).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _Refused(
                None,
                None,
                "YAML aliases (*name) are not allowed in a campaign file; write the value out",
                self.peek_event().start_mark,
            )
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise _Refused(
                None, None, f"nested deeper than {MAX_NESTING} levels", self.peek_event().start_mark
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        first: dict[tuple[str, str], yaml.Mark] = {}
        for key, _value in node.value:
            if isinstance(key, yaml.ScalarNode):
                mark = first.setdefault((key.tag, key.value), key.start_mark)
                if mark is not key.start_mark:
                    raise _Refused(
                        None,
                        None,
                        f"duplicate key {key.value!r} (first at line {mark.line + 1}); give each key once",
                        key.start_mark,
                    )
        return node


def _node_at(node: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    """Deepest YAML node along a pydantic error location."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(key)]
            if not match:
                return node
            node = match[0][1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return node
    return node


def _find(node: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """The YAML node at exactly ``loc`` (mapping keys), or None when the file does not set it."""
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if k.value == str(key)), None)
    return node


def _key_node(node: yaml.Node, loc: tuple[Any, ...]) -> yaml.Node:
    """For unknown keys point at the key itself, not its parent."""
    if not loc:
        return node
    parent = _node_at(node, loc[:-1])
    if isinstance(parent, yaml.MappingNode):
        for k, _v in parent.value:
            if k.value == str(loc[-1]):
                return k
    return _node_at(node, loc)


def _line_col(text: str | bytes, offset: int) -> tuple[int, int]:
    newline = "\n" if isinstance(text, str) else b"\n"
    line = text.count(newline, 0, offset) + 1
    return line, offset - (text.rfind(newline, 0, offset) + 1) + 1


def _read_text(path: Path) -> str:
    """The campaign file's text: at most MAX_CAMPAIGN_BYTES of UTF-8."""
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_CAMPAIGN_BYTES + 1)
    except OSError as exc:
        raise CampaignError(f"{path}: cannot read campaign file: {exc.strerror}") from None
    if len(raw) > MAX_CAMPAIGN_BYTES:
        raise CampaignError(
            f"{path}: campaign file larger than {MAX_CAMPAIGN_BYTES // 1000} kB; "
            "is it the right file? (campaigns are a few kB)"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, col = _line_col(raw, exc.start)
        raise CampaignError(
            f"{path}:{line}:{col}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None


def _parse(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """The YAML node tree (for locations) and the data it holds."""
    loader = None
    try:
        loader = _CampaignLoader(text)
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        what = "" if isinstance(exc, _Refused) else "malformed YAML: "
        raise CampaignError(f"{where}: {what}{exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:  # a control character
        line, col = _line_col(text, exc.position)
        raise CampaignError(
            f"{path}:{line}:{col}: malformed YAML: control character {chr(exc.character)!r} is not allowed"
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    return root, data


def load_campaign(
    path: str | Path, overrides: dict[str, Any] | None = None, options: dict[str, str] | None = None
) -> Campaign:
    """Read and validate a campaign file; raise CampaignError with ``file:line:col``.

    ``overrides`` replace settings (dotted keys, ``{"calculator.model": "CHGNet"}``);
    ``options`` names the command-line option of each (``{"calculator.model": "--model"}``), so
    that an error in an override blames the option, not a line of the file.
    """
    path = Path(path)
    overrides = overrides or {}
    labels = {key: f"{(options or {}).get(key, key)} {value}" for key, value in overrides.items()}
    root, data = _parse(path, _read_text(path))
    if not isinstance(data, dict):
        raise CampaignError(f"{path}:1:1: a campaign file must be a mapping of settings")
    for key, value in overrides.items():
        _set_dotted(data, key, value)

    def located(loc: tuple[Any, ...], message: str, key: bool = False) -> CampaignError:
        dotted = [".".join(str(p) for p in loc[:n]) for n in range(len(loc), 0, -1)]
        label = next((labels[d] for d in dotted if d in labels), None)
        if label is not None:
            return CampaignError(f"{label}: {message}")
        mark = (_key_node(root, loc) if key else _node_at(root, loc)).start_mark
        return CampaignError(f"{path}:{mark.line + 1}:{mark.column + 1}: {_field(loc)}: {message}")

    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        # pydantic names the branch of a union it tried (str, HostFile): not a place in the file
        loc = tuple(p for p in err["loc"] if isinstance(p, int) or p not in ("str", "HostFile"))
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, _At):
            loc = (*loc, *cause.loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise located(loc, msg + more, key=err["type"] == "extra_forbidden") from None
    for dotted in (
        "calculator.kind",
        "calculator.model",
        "calculator.vasp_config",
        "calculator.committee",
        "refine.calculator",
        "refine.vasp_config",
    ):
        node = _find(root, tuple(dotted.split(".")))
        if dotted in labels:
            campaign._origins[dotted] = labels[dotted]
        elif node is not None:
            campaign._origins[dotted] = (
                f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}: {dotted}"
            )
    _check_model_kwargs(campaign, located)
    entries = campaign.stability.entries_file
    if entries:
        resolved = (path.parent / entries).resolve()
        from mvflows.stability import load_entries_file

        try:
            load_entries_file(resolved)
        except ValueError as exc:
            raise located(("stability", "entries_file"), str(exc)) from None
        campaign.stability.entries_file = str(resolved)
    _read_files(campaign, path, root)
    if campaign.refine is not None:
        _check_refine(campaign, path, located)
    if campaign.calibration is not None:
        _check_calibration(campaign, path, located)
    return campaign


def _check_model_kwargs(campaign: Campaign, located: Any) -> None:
    """Every ``model_kwargs`` key must be a keyword of the model's calculator (else it is ignored)."""
    kwargs = campaign.calculator.model_kwargs
    if not kwargs:
        return
    from mvflows.models import calculator_keywords

    accepted = calculator_keywords(campaign.calculator.model)
    if accepted is None:  # not known here; loading the model tells
        return
    for key in kwargs:
        if key not in accepted:
            raise located(
                ("calculator", "model_kwargs", key),
                f"{campaign.calculator.model}'s calculator takes no keyword {key!r} "
                f"(it takes: {', '.join(sorted(accepted))})",
                key=True,
            )


def _check_refine(campaign: Campaign, path: Path, located: Any) -> None:
    """``refine`` follows a force-field screen and names the VASP settings it runs with (resolved here)."""
    from mvflows.vasp.settings import load_vasp_settings

    refine = campaign.refine
    if campaign.calculator.kind != "forcefield":
        raise located(("calculator", "kind"), "refine follows a force-field screen: kind must be forcefield")
    if refine.vasp_config is None and campaign.calculator.vasp_config is None:
        raise located(("refine",), "needs a VASP configuration: set refine.vasp_config (configs/vasp.yaml)")
    if refine.vasp_config is not None:
        refine.vasp_config = str((path.parent / refine.vasp_config).resolve())
    try:
        load_vasp_settings(refine.vasp_config or campaign.calculator.vasp_config)
    except ValueError as exc:
        where = ("refine", "vasp_config") if refine.vasp_config else ("calculator", "vasp_config")
        raise located(where, str(exc)) from None


def _check_calibration(campaign: Campaign, path: Path, located: Any) -> None:
    """``calibration`` calibrates one force field on a points file that is there and readable."""
    from mvflows.calibration import CalibrationError, choose_method, read_points

    settings = campaign.calibration
    if campaign.calculator.kind != "forcefield":
        raise located(
            ("calibration",), "calibrates a force field's barriers: calculator.kind must be forcefield"
        )
    if campaign.calculator.committee is not None:
        raise located(
            ("calibration",),
            "calibrates one screening model, and this campaign has a committee (calculator.committee): "
            "calibrate each member in a campaign of its own",
        )
    resolved = (path.parent / settings.points).expanduser().resolve()
    try:
        choose_method(read_points(resolved), settings.method)
    except CalibrationError as exc:
        raise located(("calibration", "points"), str(exc)) from None
    settings.points = str(resolved)


def _read_files(campaign: Campaign, path: Path, root: yaml.Node) -> None:
    """Read every host and path file the campaign names, relative to it; one line per problem."""
    from mvflows.structures.files import check_endpoints, read_structure

    def fail(loc: tuple[Any, ...], message: str) -> None:
        mark = _node_at(root, loc).start_mark
        raise CampaignError(f"{path}:{mark.line + 1}:{mark.column + 1}: {_field(loc)}: {message}") from None

    places = [(("hosts", i), h) for i, h in enumerate(campaign.hosts)]
    places += [(("pairs", j, "host"), p.host) for j, p in enumerate(campaign.pairs)]
    for _loc, entry in places:
        if isinstance(entry, HostFile):
            entry.file = str((path.parent / entry.file).resolve())
    for loc, entry in places:
        if not isinstance(entry, HostFile):
            continue
        try:
            host = campaign.host_of(Pair(host=entry, intercalant=campaign.ions()[0]))
        except ValueError as exc:
            fail((*loc, "file"), str(exc))
        for j, pair in enumerate(campaign.pairs):
            if pair.host is entry and pair.x_max is not None and host.discharged is not None:
                fail(
                    ("pairs", j, "x_max"),
                    f"{entry.key}'s file fixes x (it holds {host.site_ion}); drop x_max",
                )
    for pair in campaign.pair_list():
        if isinstance(pair.host, HostFile) and campaign.host_of(pair).discharged is None:
            host = campaign.host_of(pair)
            n = campaign.x_of(pair) * host.formula_units(host.structure().composition)
            if abs(n - round(n)) > 1e-6 or round(n) < 1:
                loc = next(lc for lc, e in places if e is pair.host)
                fail(
                    loc,
                    f"x_max = {campaign.x_of(pair)} per {host.formula} is {n:g} ions in the file's cell; "
                    "it must be a whole number",
                )
    for k, neb_path in enumerate(campaign.paths):
        ends = []
        for key in ("initial", "final"):
            resolved = (path.parent / getattr(neb_path, key)).resolve()
            setattr(neb_path, key, str(resolved))
            try:
                ends.append(read_structure(resolved))
            except ValueError as exc:
                fail(("paths", k, key), str(exc))
        try:
            check_endpoints(*ends, where=f"path {neb_path.key}")
        except ValueError as exc:
            fail(("paths", k), str(exc))


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c`` in nested mappings; an empty section (``calculator:``) becomes one. A section
    that is not a mapping is left for validation to report where the file has it.
    """
    keys = dotted.split(".")
    for key in keys[:-1]:
        if data.get(key) is None:
            data[key] = {}
        if not isinstance(data[key], dict):
            return
        data = data[key]
    data[keys[-1]] = value
