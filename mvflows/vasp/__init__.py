"""VASP backend: the study's input sets on atomate2's VASP makers (see docs/vasp.md)."""

from mvflows.vasp.settings import VaspStudySettings, load_vasp_settings

__all__ = ["VaspStudySettings", "load_vasp_settings"]
