"""The static HTML report of pair results (``mvflows report``).

One folder that opens from disk in any browser, offline: the results table (sortable,
filtered by ion and host, coloured by state, with failure reasons), the figures of
:mod:`mvflows.plotting`, the validation table of :mod:`mvflows.validation`, and one page
per pair with its NEB profile, site energies, voltage, E_hull, settings, job uuids and
its relaxed structures (CIF) and NEB images (extxyz) to download.

The report is built from a list of result documents (:func:`build_report`), whichever
way they were read; structures and NEB images come from the job stores the documents'
``job_uuids`` point into (:mod:`mvflows.report.artifacts`).
"""

from mvflows.report.artifacts import with_neb_paths
from mvflows.report.build import ReportError, build_report

__all__ = ["ReportError", "build_report", "with_neb_paths"]
