"""Plausibility checks of one NEB band: does the band look like the hop its geometry describes?

A machine-learned potential can give a converged band with a barrier far from DFT's
(7net-l3i5: 2.01 eV for Mg in Cr2S4, DFT 0.54) and nothing in the band's own convergence
says so. These checks compare the band with what the hop must look like, so that a single
model flags its own doubtful barriers. They apply to hops that pass an *intermediate site*,
the spinel hops tet -> oct -> tet and oct -> tet -> oct:

``intermediate_site``
    The ion is held on the intermediate void and every other atom relaxed from the relaxed
    start, in the same fixed supercell with the endpoint relax settings
    (:func:`mvflows.jobs.hop_neb.intermediate_structure`). The band's image on that void is
    the same configuration, relaxed by the NEB instead, so it should come out at that
    energy; an image more than ``tolerance_ev`` above it means the band did not relax
    through the void, and its maximum (the barrier) is doubtful.
``maximum_position``
    The bottlenecks of a spinel hop are the triangular anion faces shared by the tetrahedron
    and the octahedron, at about 25 % and 75 % of the ion's path (the study's profiles, and
    SevenNet-0's Table 1 bands). The band's highest image must lie within ``window`` (a
    fraction of the path) of one of them; a maximum on the intermediate void or at an
    endpoint is not a face crossing.

A hop without an intermediate site (a host's direct hop between two sites, an NEB between
given endpoints) records both checks as ``not_applicable``: the relax has no site to sit on,
and nothing places the maximum. A flag never changes a result's state; it says the number is
in question (:class:`mvflows.schemas.PairResult` ``flagged``, ``flag_reasons``).
"""

from __future__ import annotations

import numpy as np
from pymatgen.core import Structure

from mvflows.schemas import PlausibilityCheck

TOLERANCE_EV = 0.1  # default of neb.intermediate_tolerance_ev
WINDOW = 0.125  # default of neb.maximum_window: half the distance between a face and a site
INTERMEDIATE = "intermediate_site"
MAXIMUM = "maximum_position"
FACES = (0.25, 0.75)  # the shared triangular faces, as fractions of the ion's path
ON_SITE_A = 0.25  # a band image whose ion is this close to the intermediate void is the image "on" it
LEFT_SITE_A = 0.5  # a relaxed ion this far from the void has left it: the void is no minimum of the model

_NO_SITE = "the hop passes no intermediate site ({kind}): {what}"


def not_applicable(kind: str) -> list[PlausibilityCheck]:
    """Both checks of a hop without an intermediate site, each saying why it does not apply."""
    return [
        PlausibilityCheck(
            check=INTERMEDIATE,
            status="not_applicable",
            reason=_NO_SITE.format(kind=kind, what="there is no site between its ends to relax"),
        ),
        PlausibilityCheck(
            check=MAXIMUM,
            status="not_applicable",
            reason=_NO_SITE.format(kind=kind, what="nothing places its maximum"),
        ),
    ]


def _min_image_norms(lattice, vectors: np.ndarray) -> np.ndarray:
    frac = lattice.get_fractional_coords(vectors)
    return np.linalg.norm(lattice.get_cartesian_coords(frac - np.round(frac)), axis=-1)


def check_intermediate(
    energies: list[float],
    images: list[Structure] | None,
    ion: int,
    site: str,
    via: list[float],
    site_energy: float | None,
    site_structure: Structure | None,
    tolerance_ev: float,
    relaxed: bool = True,
) -> PlausibilityCheck:
    """The band's image on the intermediate ``site`` (at Cartesian ``via``) against the relaxed ion there.

    ``ion`` is the migrating ion's index in the images and in ``site_structure``; energies are
    totals (eV) of the band's images and of the relaxed site.
    """

    def unchecked(reason: str, **values: float | None) -> PlausibilityCheck:
        return PlausibilityCheck(check=INTERMEDIATE, status="unchecked", reason=reason, values=values)

    if not relaxed:
        return unchecked(
            f"the ion on the intermediate {site} site is not relaxed (neb.relax_intermediate: false)"
        )
    if site_energy is None or site_structure is None:
        return unchecked(f"the relax with the ion on the intermediate {site} site did not complete")
    if not images or len(images) != len(energies):
        return unchecked("the band's images are not stored")
    lattice = images[0].lattice
    target = np.asarray(via, dtype=float)
    on_site = _min_image_norms(lattice, np.array([img.cart_coords[ion] for img in images]) - target)
    k = int(np.argmin(on_site))
    if on_site[k] > ON_SITE_A:
        return unchecked(
            f"no band image lies on the intermediate {site} site (the nearest is {on_site[k]:.2f} Å away)",
            image_distance_a=float(on_site[k]),
        )
    shift = float(_min_image_norms(lattice, site_structure.cart_coords[ion] - target))
    if shift > LEFT_SITE_A:
        return unchecked(
            f"the ion left the intermediate {site} site in its relax (moved {shift:.2f} Å; it is held "
            "there unless the relax ignores selective dynamics): there is no relaxed site to compare with",
            site_shift_a=shift,
        )
    middle = float(energies[k] - energies[0])
    relaxed_site = float(site_energy - energies[0])
    excess = middle - relaxed_site
    values = {
        "middle_image_ev": middle,
        "relaxed_site_ev": relaxed_site,
        "excess_ev": excess,
        "tolerance_ev": float(tolerance_ev),
        "image": float(k),
        "site_shift_a": shift,
    }
    where = f"{abs(excess):.3f} eV {'above' if excess >= 0 else 'below'}"
    said = (
        f"the band's image on the intermediate {site} site (image {k}) lies {where} the relaxed site "
        f"({middle:.3f} against {relaxed_site:.3f} eV above the start; tolerance {tolerance_ev:g} eV)"
    )
    if excess > tolerance_ev:
        return PlausibilityCheck(
            check=INTERMEDIATE,
            status="flagged",
            reason=f"{said}: the band did not relax through the site, its barrier is doubtful",
            values=values,
        )
    return PlausibilityCheck(check=INTERMEDIATE, status="passed", reason=said, values=values)


def check_maximum(
    energies: list[float], coordinate: list[float] | None, site: str, window: float
) -> PlausibilityCheck:
    """The band's highest image against the faces at 25 % and 75 % of the path.

    ``coordinate``: each image's fraction of the ion's path (None: equal spacing).
    """
    n = len(energies)
    if n < 3:
        return PlausibilityCheck(
            check=MAXIMUM, status="unchecked", reason=f"a band of {n} images has no image between its ends"
        )
    pos = list(coordinate) if coordinate is not None and len(coordinate) == n else list(np.linspace(0, 1, n))
    e = np.asarray(energies, dtype=float)
    k = int(np.argmax(e))
    at = float(pos[k])
    off = min(abs(at - face) for face in FACES)
    values = {
        "maximum_at": at,
        "maximum_ev": float(e[k] - e[0]),
        "face_distance": off,
        "window": float(window),
        "image": float(k),
    }
    said = (
        f"the band's highest image (image {k}, {e[k] - e[0]:.3f} eV) lies at {100 * at:.0f} % of the path, "
        f"{100 * off:.0f} % from the nearest triangular face (25 %, 75 %; window {100 * window:g} %)"
    )
    if off > window + 1e-9:
        nearest = min(
            ((0.0, "the start"), (0.5, f"the intermediate {site} site"), (1.0, "the end")),
            key=lambda landmark: abs(at - landmark[0]),
        )[1]
        return PlausibilityCheck(
            check=MAXIMUM,
            status="flagged",
            reason=f"{said}: the maximum is not at a face the ion passes (of the hop's sites it is closest "
            f"to {nearest}), the barrier is doubtful",
            values=values,
        )
    return PlausibilityCheck(check=MAXIMUM, status="passed", reason=said, values=values)


def flag_reasons(checks: list[PlausibilityCheck], prefix: str = "") -> list[str]:
    """One line per flagged check."""
    return [f"{prefix}{c.check}: {c.reason}" for c in checks if c.status == "flagged"]
