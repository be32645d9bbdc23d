"""Write the static HTML report of a list of pair results into a folder.

    DIR/index.html          results table, figures, validation table
    DIR/figures/KIND.png    the figures of mvflows.plotting that the results can draw
    DIR/pairs/SLUG.html     one page per pair result
    DIR/pairs/SLUG/         its NEB figure, relaxed structures (.cif), NEB images (.extxyz)

Files of an earlier report in DIR are overwritten, never deleted (DIR may be shared).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jobflow import JobStore
from pymatgen.core import Structure

from mvflows.plotting import NothingToPlot, plot, profiles
from mvflows.report.artifacts import NebBand, PairArtifacts, attach_neb_paths, load_artifacts
from mvflows.report.pages import Download, Figure, PairPage, index_page, pair_page
from mvflows.validation import compare, load_reference

CAPTIONS = {  # the report's figures, in the order shown
    "neb": "NEB energy profiles, one panel per host, one line per intercalant (and hop). x: the distance "
    "the migrating ion moves along the path (Å), from the NEB images in the job store (hop length "
    "with evenly spaced images where the images are not stored). Markers: images; dashed: a band of "
    "a partial or failed pair, or one that did not converge; ▲: a band clipped above its panel, its "
    "peak written.",
    "voltage-capacity": "Average voltage against gravimetric capacity, labelled by redox metal, coloured by "
    "intercalant; dashed: 200, 300 and 400 Wh/kg.",
    "site-barrier": "|dE_site| against the NEB barrier: |dE_site| is a lower bound of a tet-oct-tet barrier "
    "(dotted line); ▲: a barrier far above the others, drawn at the top edge with its value.",
    "hull": "Energy above the convex hull of the charged host and the discharged compound.",
}


class ReportError(RuntimeError):
    """The report cannot be written; the message is one line."""


def slugs(docs: list[dict[str, Any]]) -> list[str]:
    """One file-name-safe, unique name per result: ion, host and model (Mg-Cr2S4-SevenNet)."""
    out: list[str] = []
    for d in docs:
        base = re.sub(r"[^A-Za-z0-9.]+", "-", f"{d.get('intercalant')}-{d.get('host')}-{d.get('calculator')}")
        base = base.strip("-.") or "pair"
        slug, n = base, 2
        while slug in out:
            slug, n = f"{base}-{n}", n + 1
        out.append(slug)
    return out


def _write_cif(structure: Structure, path: Path) -> None:
    from pymatgen.io.cif import CifWriter

    CifWriter(structure).write_file(path)


def _write_extxyz(band: NebBand, path: Path) -> None:
    """The band's images in one extended-XYZ file, each with its energy (ASE reads it back)."""
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from pymatgen.io.ase import AseAtomsAdaptor

    frames = []
    for i, structure in enumerate(band.images):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.info["neb_image"] = i
        if i < len(band.energies_ev):
            atoms.calc = SinglePointCalculator(atoms, energy=band.energies_ev[i])
        frames.append(atoms)
    write(path, frames, format="extxyz")


def _pair_files(page: PairPage, folder: Path) -> None:
    """Draw the pair's NEB figure and write its downloads into ``folder``; record them on ``page``."""
    folder.mkdir(exist_ok=True)
    rel = folder.name
    if profiles(page.doc):
        plot("neb", [page.doc], folder / "neb.png")
        page.neb_figure = Figure(
            "neb",
            f"{rel}/neb.png",
            "Energy along the band relative to its first image (markers: the images).",
            _css_width(folder / "neb.png"),
        )
    uuids = page.doc.get("job_uuids") or {}
    for name, structure in page.artifacts.structures.items():
        _write_cif(structure, folder / f"{name}.cif")
        job = uuids.get(name) or uuids.get(name.rsplit("_", 1)[0])
        page.downloads.append(
            Download(
                f"{name}.cif",
                f"{rel}/{name}.cif",
                f"relaxed cell {structure.composition.formula.replace(' ', '')} (job {job})",
            )
        )
    for band in page.artifacts.bands:
        hop = re.sub(r"[^A-Za-z0-9]+", "-", band.hop or "").strip("-")
        name = f"neb_images_{hop}.extxyz" if hop else "neb_images.extxyz"
        _write_extxyz(band, folder / name)
        page.downloads.append(
            Download(
                name,
                f"{rel}/{name}",
                f"{len(band.images)} NEB images of the {band.hop or 'hop'} with their "
                f"energies (job {band.job_uuid})",
            )
        )


def _css_width(png: Path) -> int:
    """Show a 150-dpi figure at about 100 px per inch, its size on a screen."""
    from PIL import Image

    with Image.open(png) as image:
        return round(image.width / 1.5)


def _draw_figures(docs: list[dict[str, Any]], folder: Path) -> list[Figure]:
    figures = []
    for kind, caption in CAPTIONS.items():
        try:
            plot(kind, docs, folder / f"{kind}.png")
        except NothingToPlot as exc:
            figures.append(Figure(kind, None, str(exc)))
            continue
        figures.append(Figure(kind, f"figures/{kind}.png", caption, _css_width(folder / f"{kind}.png")))
    return figures


def build_report(
    docs: list[dict[str, Any]],
    out_dir: str | Path,
    job_stores: Iterable[JobStore] = (),
    source: str = "",
    reference: dict[str, Any] | None = None,
) -> Path:
    """Write the report of ``docs`` into ``out_dir`` and return the path of its index.html.

    ``docs`` are pair-result documents however they were selected (one store, several, a
    campaign); they are the report's only numbers. ``job_stores`` supply what the documents
    only point to (structures, NEB images, job settings): each job is read from the first
    store that has it, and a job no store has is listed as missing, not an error.
    ``source`` names the stores in the page header; ``reference`` is the validation
    reference (default: the shipped one).
    """
    out = Path(out_dir)
    try:
        (out / "pairs").mkdir(parents=True, exist_ok=True)
        (out / "figures").mkdir(exist_ok=True)
        probe = out / ".mvflows-report-probe"  # fail before the slow part, not after it
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ReportError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    stores = list(job_stores)
    pages = []
    for doc, slug in zip(docs, slugs(docs)):
        art = load_artifacts(doc, stores) if stores else PairArtifacts()
        pages.append(PairPage(attach_neb_paths(doc, art.bands), slug, art))
    try:
        figures = _draw_figures([p.doc for p in pages], out / "figures")
        for page in pages:
            _pair_files(page, out / "pairs" / page.slug)
            (out / page.href).write_text(pair_page(page), encoding="utf-8")
        validation = compare([p.doc for p in pages], reference or load_reference())
        written = datetime.now(UTC).isoformat(timespec="seconds")
        index = out / "index.html"
        index.write_text(index_page(pages, figures, validation, source, written), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {out}: {exc.strerror or exc}") from None
    return index
