"""Write VASP output files (vasprun.xml, OUTCAR, OSZICAR, CONTCAR) that pymatgen and emmet parse.

Only what atomate2's task documents read is written: parameters, atom info, k-points,
one ``<calculation>`` per ionic step with energies, forces, stress and structure, and the
final structure. No eigenvalues or DOS (band gaps stay empty in the task document).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
from pymatgen.core import Structure
from pymatgen.io.vasp import Incar, Kpoints, Poscar

FAKE_VERSION = "6.4.2"  # what the files claim to come from; OUTCAR/vasprun say "fake VASP" too


@dataclass
class IonicStep:
    structure: Structure
    energy: float  # eV per cell
    forces: np.ndarray  # eV/Å, (n, 3)
    stress_kbar: np.ndarray  # VASP convention (kB), (3, 3)
    magmoms: list[float] | None = None


def _i(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f'<i type="logical" name="{name}"> {"T" if value else "F"}  </i>'
    if isinstance(value, int):
        return f'<i type="int" name="{name}">{value:8d}</i>'
    if isinstance(value, float):
        return f'<i name="{name}">{value:16.8f}</i>'
    if isinstance(value, (list, tuple)):
        return f'<v name="{name}">' + " ".join(f"{float(x):14.8f}" for x in value) + "</v>"
    return f'<i type="string" name="{name}">{escape(str(value))}</i>'


def _varray(name: str, rows: np.ndarray) -> str:
    body = "\n".join("<v>" + " ".join(f"{x:16.8f}" for x in row) + " </v>" for row in np.atleast_2d(rows))
    return f'<varray name="{name}" >\n{body}\n</varray>'


def _structure(s: Structure, name: str | None = None) -> str:
    head = f'<structure name="{name}" >' if name else "<structure>"
    rec = s.lattice.reciprocal_lattice_crystallographic.matrix
    return (
        f"{head}\n<crystal>\n{_varray('basis', s.lattice.matrix)}\n"
        f'<i name="volume">{s.volume:16.8f} </i>\n{_varray("rec_basis", rec)}\n</crystal>\n'
        f"{_varray('positions', s.frac_coords)}\n</structure>"
    )


def _energy(e: float) -> str:
    return (
        "<energy>\n"
        f'<i name="e_fr_energy">{e:16.8f} </i>\n<i name="e_wo_entrp">{e:16.8f} </i>\n'
        f'<i name="e_0_energy">{e:16.8f} </i>\n</energy>'
    )


def write_vasprun(
    path: Path, incar: Incar, kpoints: Kpoints | None, potcar_symbols: list[str], steps: list[IonicStep]
) -> None:
    s0 = steps[0].structure
    symbols = Poscar(s0).site_symbols
    counts = Poscar(s0).natoms
    functional = "PAW_PBE"
    params = {
        "PREC": str(incar.get("PREC", "accurate")).lower(),
        "ENMAX": float(incar.get("ENCUT", 0)),
        "EDIFF": float(incar.get("EDIFF", 1e-4)),
        "NELM": int(incar.get("NELM", 60)),
        "ISMEAR": int(incar.get("ISMEAR", 1)),
        "SIGMA": float(incar.get("SIGMA", 0.2)),
        "ISPIN": int(incar.get("ISPIN", 1)),
        "MAGMOM": [float(m) for m in incar.get("MAGMOM", [1.0] * len(s0))],
        "GGA": str(incar.get("GGA", "PE")),
        "LHFCALC": False,
        "LASPH": bool(incar.get("LASPH", False)),
        "LMETAGGA": False,
        "NSW": int(incar.get("NSW", 0)),
        "IBRION": int(incar.get("IBRION", -1 if int(incar.get("NSW", 0)) == 0 else 0)),
        "ISIF": int(incar.get("ISIF", 2)),
        "EDIFFG": float(incar.get("EDIFFG", 0.1 * float(incar.get("EDIFF", 1e-4)))),
        "LORBIT": int(incar.get("LORBIT", 0)),
        "LEPSILON": False,
        "LCALCPOL": False,
        "LDAU": bool(incar.get("LDAU", False)),
        "NBANDS": int(max(8, 4 * len(s0))),
    }
    # emmet reads INCAR IBRION from vasprun.xml when there are no eigenvalues (as here)
    shown = {**incar, "IBRION": params["IBRION"]}
    incar_xml = "\n".join(_i(k, v) for k, v in shown.items() if not isinstance(v, dict))
    atoms_rows = []
    type_index = {sym: i + 1 for i, sym in enumerate(symbols)}
    for site in s0:
        atoms_rows.append(
            f"<rc><c>{site.specie.symbol:2s}</c><c>{type_index[site.specie.symbol]:4d}</c></rc>"
        )
    types_rows = [
        f"<rc><c>{n:4d}</c><c>{sym:2s}</c><c>{float(site_mass(sym)):16.8f}</c><c>{0.0:16.8f}</c>"
        f"<c>  {functional} {pot} 00Jan0000 (fake VASP)</c></rc>"
        for sym, n, pot in zip(symbols, counts, potcar_symbols)
    ]
    kp_xml = ""
    if kpoints is not None and kpoints.kpts:
        div = " ".join(f"{int(x):8d}" for x in kpoints.kpts[0])
        style = "Gamma" if str(kpoints.style).lower().startswith("gamma") else "Monkhorst-Pack"
        kp_xml = (
            f'<kpoints>\n<generation param="{style}">\n<v type="int" name="divisions">{div} </v>\n'
            '<v name="usershift">0.0 0.0 0.0 </v>\n</generation>\n'
            f"{_varray('kpointlist', np.zeros((1, 3)))}\n"
            '<varray name="weights" >\n<v>1.00000000 </v>\n</varray>\n</kpoints>'
        )
    calcs = []
    for step in steps:
        calcs.append(
            "<calculation>\n<scstep>\n"
            + _energy(step.energy)
            + "\n</scstep>\n"
            + _structure(step.structure)
            + "\n"
            + _varray("forces", step.forces)
            + "\n"
            + _varray("stress", step.stress_kbar)
            + "\n"
            + _energy(step.energy)
            + "\n</calculation>"
        )
    xml = f"""<?xml version="1.0" encoding="ISO-8859-1"?>
<modeling>
<generator>
<i name="program" type="string">vasp </i>
<i name="version" type="string">{FAKE_VERSION} </i>
<i name="subversion" type="string">fake VASP (mvflows.testing): surrogate energies, not DFT </i>
<i name="platform" type="string">mvflows </i>
<i name="date" type="string">2025 01 01 </i>
<i name="time" type="string">00:00:00 </i>
</generator>
<incar>
{incar_xml}
</incar>
{kp_xml}
<parameters>
<separator name="general" >
{chr(10).join(_i(k, v) for k, v in params.items())}
</separator>
</parameters>
<atominfo>
<atoms>{len(s0)} </atoms>
<types>{len(symbols)} </types>
<array name="atoms" >
<dimension dim="1">ion</dimension>
<field type="string">element</field>
<field type="int">atomtype</field>
<set>
{chr(10).join(atoms_rows)}
</set>
</array>
<array name="atomtypes" >
<dimension dim="1">type</dimension>
<field type="int">atomspertype</field>
<field type="string">element</field>
<field>mass</field>
<field>valence</field>
<field type="string">pseudopotential</field>
<set>
{chr(10).join(types_rows)}
</set>
</array>
</atominfo>
{_structure(s0, "initialpos")}
{chr(10).join(calcs)}
{_structure(steps[-1].structure, "finalpos")}
</modeling>
"""
    path.write_text(xml)


def site_mass(symbol: str) -> float:
    from pymatgen.core import Element

    return float(Element(symbol).atomic_mass)


def write_outcar(
    path: Path,
    potcar_symbols: list[str],
    steps: list[IonicStep],
    converged: bool,
    neb_forces: list[float] | None = None,
    incar: Incar | None = None,
) -> None:
    incar = incar or Incar()
    lines = [f" vasp.{FAKE_VERSION} (fake VASP, mvflows.testing: surrogate energies, not DFT)", ""]
    lines += [" running on    1 total cores", ""]
    lines += [f"   POTCAR:    PAW_PBE {p} 00Jan0000" for p in potcar_symbols]
    lines += [f"   TITEL  = PAW_PBE {p} 00Jan0000" for p in potcar_symbols]
    lines += [
        "",
        "   k-points           NKPTS =      1   k-points in BZ     NKDIM =      1"
        f"   number of bands    NBANDS=     {max(8, 4 * len(steps[0].structure))}",
        "   total plane-waves  NPLWV =  100000",
        f"   ISPIN  =      {int(incar.get('ISPIN', 1))}    spin polarized calculation?",
        f"   IBRION =     {int(incar.get('IBRION', -1))}    ionic relax: 0-MD 1-quasi-New 2-CG",
    ]
    for k, step in enumerate(steps):
        lines += [
            "",
            f"{'-' * 39} Iteration {k + 1:6d}(   1)  {'-' * 39}",
            "  FREE ENERGIE OF THE ION-ELECTRON SYSTEM (eV)",
            "  ---------------------------------------------------",
            f"  free  energy   TOTEN  = {step.energy:18.8f} eV",
            "",
            f"  energy  without entropy= {step.energy:18.8f}  energy(sigma->0) = {step.energy:18.8f}",
        ]
        lines.append(f"  total drift:      {0.0:12.6f}  {0.0:12.6f}  {0.0:12.6f}")
        if neb_forces is not None:
            lines.append(
                f"  FORCES: max atom, RMS {neb_forces[min(k, len(neb_forces) - 1)]:12.6f} {0.0:12.6f}"
            )
    final = steps[-1]
    if final.magmoms is not None:
        lines += ["", " magnetization (x)", "", "# of ion       s       p       d       tot", "-" * 41]
        for i, m in enumerate(final.magmoms):
            lines.append(f"{i + 1:5d}        0.000   0.000   0.000   {m:7.3f}")
        lines += ["-" * 41, f"tot          0.000   0.000   0.000   {sum(final.magmoms):7.3f}", ""]
        lines.append(f" number of electron     100.0000000 magnetization     {sum(final.magmoms):12.7f}")
    if converged:
        lines.append(" reached required accuracy - stopping structural energy minimisation")
    lines += [
        "",
        " General timing and accounting informations for this job:",
        " ========================================================",
        "",
        "                  Total CPU time used (sec):        1.000",
        "                            User time (sec):        1.000",
        "                          System time (sec):        0.000",
        "                         Elapsed time (sec):        1.000",
        "",
        "                   Maximum memory used (kb):      100000.",
        "                   Average memory used (kb):          N/A",
        "",
        "                          Minor page faults:            0",
        "                          Major page faults:            0",
        "                 Voluntary context switches:            0",
    ]
    path.write_text("\n".join(lines) + "\n")


def write_oszicar(path: Path, steps: list[IonicStep]) -> None:
    lines = []
    for k, step in enumerate(steps):
        lines.append(f"DAV:   1    {step.energy: .8E}   0.00000E+00   0.00000E+00     1   0.000E+00")
        mag = sum(step.magmoms) if step.magmoms is not None else 0.0
        lines.append(
            f"{k + 1:4d} F= {step.energy: .8E} E0= {step.energy: .8E}  d E =0.000000E+00  mag= {mag:9.4f}"
        )
    path.write_text("\n".join(lines) + "\n")


def write_outputs(
    directory: Path,
    incar: Incar,
    kpoints: Kpoints | None,
    potcar_symbols: list[str],
    steps: list[IonicStep],
    converged: bool,
    neb_forces: list[float] | None = None,
) -> None:
    """Every output file of one VASP run (one NEB image, or an ordinary job)."""
    write_vasprun(directory / "vasprun.xml", incar, kpoints, potcar_symbols, steps)
    write_outcar(directory / "OUTCAR", potcar_symbols, steps, converged, neb_forces, incar)
    write_oszicar(directory / "OSZICAR", steps)
    Poscar(steps[-1].structure).write_file(directory / "CONTCAR")
