"""Voltage and capacity arithmetic against the formulas of science.md."""

import itertools

import pytest
from pymatgen.core import Element, Lattice, Structure

from mvflows.electrochemistry import gravimetric_capacity
from mvflows.jobs.sites import site_energy
from mvflows.jobs.voltage import voltage
from mvflows.structures import (
    SPINEL_REDOX_METALS,
    charged_spinel,
    metal_reference,
    octahedral_spinel,
    tetrahedral_spinel,
)
from mvflows.structures.catalog import host_for

F = 26801.0  # mAh/mol, as science.md states it


def _mass(formula_counts):
    return sum(Element(el).atomic_mass * n for el, n in formula_counts.items())


@pytest.mark.parametrize("ion, b", list(itertools.product(("Mg", "Ca", "Zn"), SPINEL_REDOX_METALS)))
def test_capacity_of_all_21_pairs(ion, b):
    expected = 1 * 2 * F / _mass({ion: 1, b: 2, "S": 4})
    assert gravimetric_capacity(f"{ion}{b}2S4", ion) == pytest.approx(expected, rel=1e-4)


def test_capacity_mgcr2s4_is_209():
    assert round(gravimetric_capacity("MgCr2S4", "Mg")) == 209


def test_trivalent_capacity_uses_z3():
    assert gravimetric_capacity("AlCr2S4", "Al") == pytest.approx(
        3 * F / _mass({"Al": 1, "Cr": 2, "S": 4}), rel=1e-4
    )


def _site_doc(e_tet_cell, e_oct_cell, ion="Mg", b="Cr"):
    host = host_for(f"{b}2S4", "spinel")
    return site_energy.original(
        ion, host, tetrahedral_spinel(ion, b), e_tet_cell, octahedral_spinel(ion, b), e_oct_cell
    )


def test_site_energy_per_ion_and_stable_site():
    doc = _site_doc(-100.0, -99.0)  # 2 ions per cell: oct is 0.5 eV/ion higher
    assert doc.delta_e_site_ev == pytest.approx(0.5) and doc.barrier_lower_bound_ev == pytest.approx(0.5)
    assert doc.stable_site == "tet"
    (step,) = doc.discharge  # the stable arrangement is the discharged cell
    assert step.energy_ev == -100.0 and step.x == pytest.approx(1.0) and step.n_ions == 2
    assert step.structure.composition == tetrahedral_spinel("Mg", "Cr").composition
    doc = _site_doc(-100.0, -100.4)
    assert doc.stable_site == "oct" and doc.delta_e_site_ev == pytest.approx(-0.2)
    assert doc.discharge[0].energy_ev == -100.4


@pytest.mark.parametrize("ion, z", [("Mg", 2), ("Ca", 2), ("Zn", 2), ("Al", 3), ("Y", 3)])
def test_voltage_formula_on_known_energies(ion, z):
    # per formula unit: E(B2S4) = -40, E(A metal) = -1.5 per atom, E(AB2S4) = -45
    charged = charged_spinel("Cr")  # 2 formula units
    metal = metal_reference(ion)
    site = _site_doc(-90.0, -89.0, ion=ion)
    doc = voltage.original(ion, host_for("Cr2S4", "spinel"), charged, -80.0, site, metal, -1.5 * len(metal))
    expected = (-40.0 + 1 * -1.5 - (-45.0)) / (1 * z)
    assert doc.voltage_v == pytest.approx(expected)
    assert doc.x == pytest.approx(1.0)
    assert doc.capacity_mah_g == pytest.approx(z * F / _mass({ion: 1, "Cr": 2, "S": 4}), rel=1e-4)
    assert doc.specific_energy_wh_kg == pytest.approx(doc.voltage_v * doc.capacity_mah_g)
    assert [(p.x_start, p.x_end) for p in doc.profile] == [(0.0, 1.0)] and doc.profile[
        0
    ].voltage_v == doc.voltage_v


def test_site_energy_rejects_mismatched_cells():
    other = Structure(Lattice.cubic(5), ["Mg"], [[0, 0, 0]])
    with pytest.raises(ValueError, match="differ in composition"):
        site_energy.original(
            "Mg", host_for("Cr2S4", "spinel"), tetrahedral_spinel("Mg", "Cr"), -1.0, other, -1.0
        )
