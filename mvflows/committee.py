"""A model committee: one pair's results from several force fields, their spread, and when to doubt them.

A committee campaign (``calculator.committee``) runs each pair's ordinary pair graph once per
member model; :func:`committee_result` (a job of :mod:`mvflows.jobs.results`) then reads the
members' results and writes one result per pair with the headline member's numbers on top
and a :class:`~mvflows.schemas.CommitteeDocument` beside them. This module is the arithmetic
and the flag rules, with no compute and nothing heavy imported, so that it is tested on
made-up member results.

The pair is flagged (``flagged``, with one line per reason in ``flag_reasons``) when

* the members disagree on the stable site (spinels: tet against oct; the void chosen in other
  hosts is named by each member's own relaxed cell, so it is not compared);
* the members' barriers differ by more than ``max_barrier_spread_ev`` (max - min), or their
  voltages by more than ``max_voltage_spread_v``;
* some members have a barrier (or a voltage) and others none: a member whose NEB the screen
  skipped, or whose NEB failed, cannot confirm the others' barrier. When no member has one
  (every NEB skipped) nothing is flagged on it.

A flag does not change the pair's state: the numbers were computed, the committee doubts them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from mvflows.schemas import CommitteeDocument, CommitteeMember, PairResult, Spread

SITES = ("tet", "oct")  # the sites a spinel's members can be compared on


def short(label: str) -> str:
    """A member's name in a sentence: ``forcefield:chgnet-0.3.0`` -> ``chgnet-0.3.0``."""
    return label.split(":", 1)[-1]


def spread_of(values: Sequence[float | None]) -> Spread:
    """Mean, population standard deviation, min, max and max - min of the values that are there."""
    have = [float(v) for v in values if v is not None]
    if not have:
        return Spread()
    mean = sum(have) / len(have)
    return Spread(
        n=len(have),
        mean=mean,
        std=math.sqrt(sum((v - mean) ** 2 for v in have) / len(have)),
        min=min(have),
        max=max(have),
        spread=max(have) - min(have) if len(have) > 1 else None,
    )


def member_of(label: str, result: PairResult | None) -> CommitteeMember:
    """A member's summary from its own pair result (None when its result job did not run)."""
    if result is None:
        return CommitteeMember(label=label)
    own = result.model_dump(include=set(CommitteeMember.model_fields) - {"label"})
    return CommitteeMember(label=label, **own)


def _why_none(member: CommitteeMember, quantity: str) -> str:
    if member.state is None:
        return "no result"
    if quantity == "barrier_ev" and member.neb_skipped_reason:
        return f"NEB skipped: {member.neb_skipped_reason}"
    return f"{member.state}, no {quantity.split('_')[0]}"


def _numbers(members: Sequence[CommitteeMember], quantity: str, unit: str) -> str:
    return ", ".join(f"{short(m.label)} {getattr(m, quantity):.3f}" for m in members) + f" {unit}"


def _quantity_flags(
    members: Sequence[CommitteeMember], quantity: str, limit: float, setting: str, unit: str
) -> list[str]:
    """Why a quantity (barrier_ev, voltage_v) flags the pair: a spread above ``limit``, or members
    without the value while others have it."""
    have = [m for m in members if getattr(m, quantity) is not None]
    lack = [m for m in members if getattr(m, quantity) is None]
    name = quantity.split("_")[0]
    reasons = []
    if have and lack:
        reasons.append(
            f"committee: {name} from {', '.join(short(m.label) for m in have)} but not from "
            + ", ".join(f"{short(m.label)} ({_why_none(m, quantity)})" for m in lack)
        )
    values = [getattr(m, quantity) for m in have]
    if len(values) > 1 and max(values) - min(values) > limit:
        reasons.append(
            f"committee: {name} spread {max(values) - min(values):.3f} {unit} exceeds {setting} "
            f"{limit:g} {unit} ({_numbers(have, quantity, unit)})"
        )
    return reasons


def site_flags(members: Sequence[CommitteeMember]) -> list[str]:
    """The members disagree on a spinel's stable site (members without a site are left out)."""
    sites = [(m, m.stable_site) for m in members if m.stable_site is not None]
    if not sites or any(site not in SITES for _m, site in sites):
        return []  # no site, or another host's void: not comparable across members' relaxed cells
    if len({site for _m, site in sites}) < 2:
        return []
    named = ", ".join(
        f"{short(m.label)} {site}"
        + (f" ({m.delta_e_site_ev:+.3f} eV)" if m.delta_e_site_ev is not None else "")
        for m, site in sites
    )
    return [f"committee: members disagree on the stable site: {named} (dE_site = E(oct) - E(tet))"]


def committee_document(
    members: Sequence[CommitteeMember], max_barrier_spread_ev: float, max_voltage_spread_v: float
) -> CommitteeDocument:
    """The committee block of a pair: spreads, the limits and every reason to flag it."""
    reasons = [
        *site_flags(members),
        *_quantity_flags(members, "barrier_ev", max_barrier_spread_ev, "max_barrier_spread_ev", "eV"),
        *_quantity_flags(members, "voltage_v", max_voltage_spread_v, "max_voltage_spread_v", "V"),
    ]
    return CommitteeDocument(
        members=list(members),
        voltage_v=spread_of([m.voltage_v for m in members]),
        barrier_ev=spread_of([m.barrier_ev for m in members]),
        delta_e_site_ev=spread_of([m.delta_e_site_ev for m in members]),
        max_barrier_spread_ev=max_barrier_spread_ev,
        max_voltage_spread_v=max_voltage_spread_v,
        flag_reasons=reasons,
    )


def member_failures(members: Sequence[CommitteeMember], results: Sequence[PairResult | None]) -> list[str]:
    """Failure lines of the members other than the headline: a committee is partial without them."""
    lines = []
    for member, result in zip(members[1:], results[1:], strict=True):
        if result is None:
            lines.append(f"committee member {short(member.label)}: its result did not complete")
        elif result.state != "successful":
            why = "; ".join(result.failure_reasons) or "no reason given"
            lines.append(f"committee member {short(member.label)} is {result.state}: {why}")
    return lines


def committee_pair(
    headline: PairResult,
    members: Sequence[CommitteeMember],
    results: Sequence[PairResult | None],
    max_barrier_spread_ev: float,
    max_voltage_spread_v: float,
) -> dict:
    """The fields a committee adds to (or changes in) the headline member's result."""
    block = committee_document(members, max_barrier_spread_ev, max_voltage_spread_v)
    failures = member_failures(members, results)
    state = headline.state
    if failures and state == "successful":
        state = "partial"
    return {
        "committee": block,
        "voltage_spread_v": block.voltage_v.spread,
        "barrier_spread_ev": block.barrier_ev.spread,
        "flag_reasons": [*headline.flag_reasons, *block.flag_reasons],
        "state": state,
        "failure_reasons": [*headline.failure_reasons, *failures],
    }
