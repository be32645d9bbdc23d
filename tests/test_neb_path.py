"""Hop geometry: neighbouring stable voids, through the other void type, symmetric."""

import numpy as np
import pytest

from mvflows.neb_path import hop_images, spinel_hop
from mvflows.structures import charged_spinel


def _frac_dist(s, a, b):
    d = s.lattice.get_fractional_coords(np.asarray(a) - np.asarray(b))
    return float(np.linalg.norm(s.lattice.get_cartesian_coords(d - np.round(d))))


@pytest.mark.parametrize("site, kind", [("tet", "tet-oct-tet"), ("oct", "oct-tet-oct")])
def test_hop_endpoints(site, kind):
    host = charged_spinel("Cr")
    hop = spinel_hop(host, "Mg", site)
    a = host.lattice.a * np.sqrt(2)  # cubic lattice constant
    assert hop.kind == kind
    assert len(hop.start) == len(hop.end) == 97  # 2x2x2 x 12 + 1
    assert hop.start[-1].specie.symbol == "Mg"
    # each leg is the 8a-16c distance a*sqrt(3)/8
    assert hop.length == pytest.approx(2 * a * np.sqrt(3) / 8, rel=1e-3)
    # the ion's periodic images are at least 8 Å apart
    assert min(hop.start.lattice.abc) >= 8.0
    # both endpoints are voids: nearest S at a sensible distance, same in both
    d0 = min(n.nn_distance for n in hop.start.get_neighbors(hop.start[-1], 3.5))
    d1 = min(n.nn_distance for n in hop.end.get_neighbors(hop.end[-1], 3.5))
    assert d0 == pytest.approx(d1, abs=1e-6) and d0 > 2.0


@pytest.mark.parametrize("site", ["tet", "oct"])
def test_images_pass_through_the_other_void(site):
    hop = spinel_hop(charged_spinel("Cr"), "Mg", site)
    images = hop_images(hop.start, hop.end, hop.via, 7, idpp=False)
    assert len(images) == 9
    assert _frac_dist(images[4], images[4][-1].coords, hop.via) < 1e-6
    # framework atoms of the fixed endpoints are untouched
    assert np.allclose(images[0].frac_coords[:-1], hop.start.frac_coords[:-1])
    # a tight IDPP, so that it must move the framework (at the default 0.1 eV/Å it may stop at once)
    smoothed = hop_images(hop.start, hop.end, hop.via, 7, idpp=True, idpp_fmax=0.03)
    # IDPP moves the framework only: the ion still passes exactly through the other void
    # (left free, IDPP would straighten the bent oct-tet-oct path across an octahedral edge)
    assert _frac_dist(smoothed[4], smoothed[4][-1].coords, hop.via) < 1e-6
    assert not np.allclose(smoothed[3].frac_coords[:-1], images[3].frac_coords[:-1])  # framework moved
    for img in smoothed:
        assert min(n.nn_distance for n in img.get_neighbors(img[-1], 3.5)) > 1.8


@pytest.mark.parametrize("site", ["tet", "oct"])
def test_mirrored_endpoint_is_the_symmetry_image_of_the_start(site):
    from ase.calculators.emt import EMT  # any invariant potential: a relaxed start maps to a relaxed end
    from pymatgen.io.ase import AseAtomsAdaptor

    from mvflows.neb_path import mirrored_endpoint

    hop = spinel_hop(charged_spinel("Cr"), "Mg", site)
    same = mirrored_endpoint(hop.start, hop)
    assert same is not None
    for a, b in zip(same, hop.end):  # the unrelaxed start maps onto the unrelaxed end, atom by atom
        assert a.specie == b.specie and _frac_dist(same, a.coords, b.coords) < 1e-3
    # a distorted start maps to an end with equal energy and forces of equal size
    moved = hop.start.copy()
    moved.perturb(0.1, min_distance=0.05)
    end = mirrored_endpoint(moved, hop)
    calc = EMT()
    energies, fmax = [], []
    for s in (moved, end):
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.numbers = np.where(
            atoms.numbers == 16, 29, np.where(atoms.numbers == 24, 28, 13)
        )  # EMT elements
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        fmax.append(np.sort(np.linalg.norm(atoms.get_forces(), axis=1)))
    assert energies[0] == pytest.approx(energies[1], abs=1e-6)
    assert np.allclose(fmax[0], fmax[1], atol=1e-6)
    assert _frac_dist(end, end[-1].coords, hop.end[-1].coords) < 0.3  # the ion sits at the hop's end


def test_a_host_with_broken_symmetry_still_gives_its_hop_without_a_mirror():
    """CHGNet relaxed Cr2S4 off the spinel symmetry (legs 2.051/1.973 Å); the hop must not fail."""
    from mvflows.neb_path import hop_mirror

    host = charged_spinel("Cr")
    rng = np.random.default_rng(0)
    for i, site in enumerate(host):
        if site.specie.symbol == "S":
            host.translate_sites([i], rng.normal(0.0, 0.3, 3), frac_coords=False)
    hop = spinel_hop(host, "Mg", "tet")
    legs = (
        np.linalg.norm(np.asarray(hop.via) - hop.start.cart_coords[-1]),
        _frac_dist(hop.end, hop.end.cart_coords[-1], hop.via),
    )
    assert abs(legs[0] - legs[1]) > 0.05  # beyond what spinel_hop used to reject
    assert hop.start[-1].specie.symbol == hop.end[-1].specie.symbol == "Mg"
    assert hop_mirror(hop) is None  # so both endpoints are relaxed
