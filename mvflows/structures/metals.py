"""Metal references for the voltage: the ground-state elemental metal of each ion."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure

# symbol: (prototype, a in Å, c in Å for hcp); experimental room-temperature values.
METAL_REFERENCES = {
    "Mg": ("hcp", 3.209, 5.211),
    "Ca": ("fcc", 5.588, None),
    "Zn": ("hcp", 2.665, 4.947),
    "Y": ("hcp", 3.647, 5.731),
    "Al": ("fcc", 4.050, None),
    "Li": ("bcc", 3.510, None),  # the monovalent comparison (z = 1)
    "Na": ("bcc", 4.291, None),
}


def metal_reference(symbol: str) -> Structure:
    """Primitive cell of the reference metal (Mg hcp, Ca fcc, Zn hcp, Y hcp, Al fcc, Li and Na bcc)."""
    if symbol not in METAL_REFERENCES:
        raise ValueError(f"no metal reference for {symbol!r} (known: {', '.join(METAL_REFERENCES)})")
    prototype, a, c = METAL_REFERENCES[symbol]
    if prototype == "bcc":
        return Structure(
            Lattice.cubic(a), [symbol, symbol], [[0, 0, 0], [0.5, 0.5, 0.5]]
        ).get_primitive_structure()
    if prototype == "fcc":
        return Structure(
            Lattice.from_parameters(a / 2**0.5, a / 2**0.5, a / 2**0.5, 60, 60, 60), [symbol], [[0, 0, 0]]
        )
    return Structure(Lattice.hexagonal(a, c), [symbol, symbol], [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])
