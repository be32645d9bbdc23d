"""Structure builders: spinel hosts, their discharged forms and metal references."""

from mvflows.structures.metals import METAL_REFERENCES, metal_reference
from mvflows.structures.spinel import (
    SPINEL_REDOX_METALS,
    charged_spinel,
    octahedral_spinel,
    tetrahedral_spinel,
)

__all__ = [
    "METAL_REFERENCES",
    "SPINEL_REDOX_METALS",
    "charged_spinel",
    "metal_reference",
    "octahedral_spinel",
    "tetrahedral_spinel",
]
