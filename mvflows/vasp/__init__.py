"""VASP backend: the study's input sets on atomate2's VASP makers (see README, "VASP and fake VASP")."""

from mvflows.vasp.settings import VaspStudySettings, load_vasp_settings

__all__ = ["VaspStudySettings", "load_vasp_settings"]
