"""Result tables for people (rich) and machines (CSV, JSON) from pair-result documents."""

from __future__ import annotations

import csv
import io
import json

from rich.table import Table

COLUMNS = [
    ("campaign", "campaign", "{}"),
    ("host", "host", "{}"),
    ("intercalant", "ion", "{}"),
    ("formula_discharged", "discharged", "{}"),
    ("stable_site", "site", "{}"),
    ("delta_e_site_ev", "dE_site (eV)", "{:+.3f}"),
    ("voltage_v", "V (V)", "{:.3f}"),
    ("capacity_mah_g", "C (mAh/g)", "{:.1f}"),
    ("specific_energy_wh_kg", "E (Wh/kg)", "{:.0f}"),
    ("barrier_ev", "barrier (eV)", "{:.3f}"),
    ("state", "state", "{}"),
    ("flagged", "flag", "{}"),
    ("calculator", "calculator", "{}"),
]
# where a result has a committee (or a flag): how far its members' numbers are apart, and the flag
COMMITTEE_COLUMNS = [
    ("voltage_spread_v", "V spread", "{:.3f}"),
    ("barrier_spread_ev", "barrier spread", "{:.3f}"),
]
# where a result has a calibration: the barrier divided by the model's softening factor, beside it
CALIBRATION_COLUMNS = [("calibrated_barrier_ev", "calibrated (eV)", "{:.3f}")]
# with every stored version shown (--all): which settings made it, and when
VERSION_COLUMNS = [
    ("settings_digest", "settings", "{}"),
    ("completed_at", "completed", "{}"),
]


def cell(doc: dict, key: str, fmt: str) -> str:
    """The text of one table cell: formatted value, "-" when missing, "skipped" for a skipped NEB."""
    value = doc.get(key)
    if key == "flagged":  # a plausibility check (or a committee) doubts the number; see notes()
        return "flagged" if value else "-"
    if key == "calculator" and (doc.get("fake_vasp") or str(value).startswith("fake-vasp")):
        return f"{value} (FAKE: not DFT)"
    if key == "calculator" and doc.get("committee"):
        return f"{value} (+{len(doc['committee'].get('members') or []) - 1} committee)"
    if value is None:
        if key == "barrier_ev" and doc.get("neb_skipped_reason"):
            return "skipped"
        return "-"
    return fmt.format(value)


def columns_for(docs: list[dict], versions: bool = False) -> list[tuple[str, str, str]]:
    """The table's columns: the calibrated barrier after the raw one when some result has a
    calibration, the committee's spreads when some result has a committee."""
    columns = list(COLUMNS)
    if any(d.get("calibration") for d in docs):
        at = next(i for i, c in enumerate(columns) if c[0] == "barrier_ev") + 1
        columns[at:at] = CALIBRATION_COLUMNS
    committee = any(d.get("committee") for d in docs)
    return columns + (COMMITTEE_COLUMNS if committee else []) + (VERSION_COLUMNS if versions else [])


def calibration_note(cal: dict) -> str:
    """One line: the factor, how it was fitted, and the points it came from."""
    where = f"{cal.get('n_points')} points of {cal.get('reference')} ({cal.get('points_digest')})"
    if cal.get("factor") is None:
        return f"not calibrated: {cal.get('failure_reason')} [{where}]"
    return (
        f"calibrated barrier = barrier / {cal['factor']:.3f}, the softening factor of {cal.get('model')} "
        f"fitted on {cal.get('n_values')} {cal.get('method')} values of {where}, r2 {cal.get('r2'):.2f}"
    )


def table(docs: list[dict], title: str = "mvflows results", versions: bool = False) -> Table:
    columns = columns_for(docs, versions)
    t = Table(title=title)
    for _key, header, _fmt in columns:
        t.add_column(header, justify="right" if _fmt != "{}" else "left")
    for doc in docs:
        style = {"failed": "red", "partial": "yellow"}.get(doc.get("state", ""))
        t.add_row(*(cell(doc, k, f) for k, _h, f in columns), style=style)
    return t


def notes(docs: list[dict]) -> list[str]:
    """One line per skipped NEB, failure or flag, so a table reader knows why."""
    lines = []
    said: set[str] = set()
    for doc in docs:
        cal = doc.get("calibration")
        if cal and cal.get("points_digest", "") + str(cal.get("model")) not in said:
            said.add(cal.get("points_digest", "") + str(cal.get("model")))
            lines.append(f"{doc.get('campaign')}: {calibration_note(cal)}")
    for doc in docs:
        tag = f"{doc.get('intercalant')} in {doc.get('host')} ({doc.get('campaign')})"
        if doc.get("neb_skipped_reason"):
            lines.append(f"{tag}: NEB skipped: {doc['neb_skipped_reason']}")
        for reason in doc.get("failure_reasons") or []:
            lines.append(f"{tag}: {doc.get('state')}: {reason}")
        for reason in doc.get("flag_reasons") or []:
            lines.append(f"{tag}: flagged: {reason}")
    return lines


def to_csv(docs: list[dict], versions: bool = False) -> str:
    buf = io.StringIO()
    keys = [k for k, _h, _f in COLUMNS] + ["fake_vasp", "neb_skipped_reason", "failure_reasons"]
    keys += [k for k, _h, _f in COMMITTEE_COLUMNS] + ["flag_reasons"]
    keys += [k for k, _h, _f in CALIBRATION_COLUMNS] + ["calibration_factor"]
    keys += ["result_id", *(k for k, _h, _f in VERSION_COLUMNS)] if versions else []
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for doc in docs:
        row = dict(doc)
        row["failure_reasons"] = "; ".join(doc.get("failure_reasons") or [])
        row["flag_reasons"] = "; ".join(doc.get("flag_reasons") or [])
        row["flagged"] = bool(doc.get("flagged"))
        row["calibration_factor"] = (doc.get("calibration") or {}).get("factor")
        writer.writerow(row)
    return buf.getvalue()


def to_json(docs: list[dict]) -> str:
    return json.dumps(docs, indent=2, default=str)
