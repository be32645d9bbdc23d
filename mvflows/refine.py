"""Multi-fidelity campaigns: which force-field results go on to DFT (a campaign's ``refine:``).

After the force-field screen, :func:`select` picks pairs from their result documents by
the campaign's rule (:class:`RefineSettings`): thresholds on result fields (``where``),
then the best ``top`` by one field (``by``, lowest first unless ``descending``), among
pairs in the given ``states`` (successful ones by default) and, with ``flagged``, only the
pairs a model committee flagged; every condition must hold (AND). The graph part, a job that
adds the VASP pair graphs of the picked pairs to the running Flow, is
:mod:`mvflows.jobs.refine`; this module holds no compute and imports nothing heavy.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mvflows.schemas import PairResult

PairStateName = Literal["successful", "partial", "failed"]


def _is_number(annotation: Any) -> bool:
    args = typing.get_args(annotation) if isinstance(annotation, types.UnionType) else (annotation,)
    return any(a in (float, int) for a in args)


# the result fields a rule can rank or threshold on: the numbers of a pair result
RESULT_NUMBERS = tuple(
    name for name, f in PairResult.model_fields.items() if _is_number(f.annotation) and name != "fake_vasp"
)


def check_result_field(name: str) -> str:
    if name not in RESULT_NUMBERS:
        raise ValueError(f"unknown result field {name!r} (one of: {', '.join(RESULT_NUMBERS)})")
    return name


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Threshold(_Strict):
    """Bounds on one result field; a pair without that number never passes."""

    min: float | None = Field(None, description="pass when the value is at least this")
    max: float | None = Field(None, description="pass when the value is at most this")

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def passes(self, value: float | None) -> bool:
        if value is None:
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


class RefineSettings(_Strict):
    """Which force-field results are recomputed on DFT, and on which VASP."""

    calculator: Literal["vasp", "fake-vasp"] = Field(
        "vasp", description="vasp, or fake-vasp (the VASP graph on fake VASP, a dry run)"
    )
    vasp_config: str | None = Field(
        None,
        description="VASP settings file, relative to the campaign (default: calculator.vasp_config); "
        "one of the two is required",
    )
    top: int | None = Field(None, ge=1, description="refine at most this many pairs, best first by `by`")
    by: str = Field("barrier_ev", description="result field that ranks the pairs for `top`")
    descending: bool = Field(False, description="rank highest first (default: lowest first)")
    where: dict[str, Threshold] = Field(
        default_factory=dict, description="result field -> {min, max}; every one must pass"
    )
    states: list[PairStateName] = Field(
        default_factory=lambda: ["successful"], min_length=1, description="pair states that may be picked"
    )
    flagged: bool = Field(
        False,
        description="only the pairs a model committee flagged (needs calculator.committee), AND the other "
        "conditions; false: no such condition",
    )

    @field_validator("by")
    @classmethod
    def _known_by(cls, name: str) -> str:
        return check_result_field(name)

    @field_validator("where")
    @classmethod
    def _known_where(cls, where: dict[str, Threshold]) -> dict[str, Threshold]:
        for name in where:
            check_result_field(name)
        return where


def _get(doc: Any, name: str) -> Any:
    return doc.get(name) if isinstance(doc, dict) else getattr(doc, name, None)


def select(docs: list[Any], rule: RefineSettings) -> list[int]:
    """Indices of the pair results (dicts or PairResults; None for a missing one) the rule picks.

    In the order of ``docs``, unless ``top`` ranks them: then best first.
    """
    picked = [
        i
        for i, doc in enumerate(docs)
        if doc is not None
        and _get(doc, "state") in rule.states
        and (not rule.flagged or bool(_get(doc, "flagged")))
        and all(t.passes(_get(doc, name)) for name, t in rule.where.items())
    ]
    if rule.top is None:
        return picked
    ranked = [i for i in picked if _get(docs[i], rule.by) is not None]
    ranked.sort(key=lambda i: _get(docs[i], rule.by), reverse=rule.descending)
    return ranked[: rule.top]


def picks_record(
    docs: list[Any], picked: list[int], pairs: list[str], rule: RefineSettings, level: str
) -> dict:
    """What a refine job picked, as it keeps it (the job's ``stored_data``, for run and status)."""
    return {
        "level": level,
        "by": rule.by,
        "of": len(docs),
        "picked": [{"pair": pairs[i], "value": _get(docs[i], rule.by)} for i in picked],
    }


def _number(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "n/a"


def describe_picks(record: dict[str, Any]) -> str:
    """One line: ``refine: picked MgCr2S4 (barrier_ev 0.61) of 2 pairs for fake-vasp:PBE``."""
    by = record.get("by", "")
    names = ", ".join(f"{p['pair']} ({by} {_number(p.get('value'))})" for p in record.get("picked") or [])
    return f"refine: picked {names or 'none'} of {record.get('of', '?')} pairs for {record.get('level', '?')}"


def describe_rule(rule: RefineSettings, n_pairs: int, level: str) -> str:
    """One line saying what a campaign's refine will pick, before the force-field results exist."""
    order = "highest" if rule.descending else "lowest"
    what = f"the best {rule.top} by {rule.by} ({order} first)" if rule.top else "every pair"
    tests = [
        " and ".join(
            part
            for part in (
                f"{name} >= {t.min:g}" if t.min is not None else "",
                f"{name} <= {t.max:g}" if t.max is not None else "",
            )
            if part
        )
        for name, t in rule.where.items()
    ]
    passing = f" with {', '.join(tests)}" if tests else ""
    return (
        f"refine: {what}{passing} of the {n_pairs} pairs' {'/'.join(rule.states)} force-field results "
        f"go on to {level}"
    )


def at_level(doc: dict[str, Any], level: str) -> dict[str, Any] | None:
    """A result document as one level of fidelity saw it, or None when it has no such level.

    A document without ``levels`` (a campaign without ``refine``) has one level, its calculator.
    """
    levels = doc.get("levels") or {}
    if not levels:
        return doc if doc.get("calculator") == level else None
    if level not in levels:
        return None
    view = {**doc, **levels[level]}
    view.pop("levels", None)
    return view
