"""What a report shows beyond the result documents, read from the job store.

A pair result holds numbers; its ``job_uuids`` name the jobs that made them. Those jobs'
outputs are in the job store's ``outputs`` collection, and atomate2 moves their large
parts (ionic steps, trajectories) into the ``data`` store, leaving a reference behind;
:meth:`jobflow.JobStore.get_output` with ``load=True`` resolves both the references to
other jobs and those blobs, so every output here is read through it.

From the outputs come the relaxed structures (every step whose output has a
``structure``; each step of a stepwise insertion), the site-energy, voltage and stability
documents, the relax settings and the NEB images. A spinel pair's result names its NEB
job directly; a host with several hops has one NEB per hop, found through the hop's NEB
summary, which lies in the same flow as the pair's result job (the ``hosts`` of a job
document).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jobflow import JobStore, OnMissing
from monty.json import jsanitize
from pymatgen.core import Structure

from mvflows.neb_path import ion_path_a

_NOT_SETTINGS = {"mol_or_struct", "structure", "structures", "images"}


@dataclass
class NebBand:
    """The images of one NEB and where the migrating ion is along the path."""

    hop: str | None  # the summary's hop name, e.g. "tet-oct-tet" or "along-chain (label 1)"
    job_uuid: str
    images: list[Structure]
    energies_ev: list[float]  # total energies of the images as the NEB job stored them
    path_a: list[float] | None  # distance along the path (Å) at each image, see ion_path_a


@dataclass
class JobRecord:
    """One step of a pair: its job, its output (None when no store read has it), its settings."""

    step: str
    uuid: str | None
    name: str | None = None
    output: Any = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class PairArtifacts:
    """Everything the job store holds for one pair result, beyond the document itself."""

    jobs: list[JobRecord] = field(default_factory=list)
    structures: dict[str, Structure] = field(default_factory=dict)  # download name -> structure
    bands: list[NebBand] = field(default_factory=list)

    def output(self, step: str) -> dict[str, Any] | None:
        """The output document of ``step`` (e.g. "site_energy", "voltage"), if stored."""
        for job in self.jobs:
            if job.step == step and isinstance(job.output, dict):
                return job.output
        return None


def _structure(obj: Any) -> Structure | None:
    if isinstance(obj, Structure):
        return obj
    if isinstance(obj, dict) and obj.get("@class") == "Structure":
        return Structure.from_dict(obj)
    return None


def find_job(stores: list[JobStore], uuid: str) -> tuple[JobStore, dict[str, Any]] | None:
    """The first store with job ``uuid`` (content-keyed uuids name one job everywhere): its first run.

    The first, because a replaced job's later indices are jobflow's "store_inputs" jobs,
    named so, and in the flow of the replacement.
    """
    for js in stores:
        doc = js.docs_store.query_one(
            {"uuid": uuid}, properties=["uuid", "index", "name", "hosts"], sort={"index": 1}
        )
        if doc is not None:
            return js, doc
    return None


def job_output(js: JobStore, uuid: str) -> Any:
    """The job's output as plain JSON-like data, blobs and references to other jobs resolved.

    A resolved reference comes back as objects (an InsertionDocument, a Structure), a
    direct output as dicts; jsanitize makes both the same dicts.
    """
    try:
        out = js.get_output(uuid, load=True, on_missing=OnMissing.NONE)
    except (ValueError, RuntimeError):  # no output (the job failed) or a reference cycle
        return None
    return jsanitize(out, strict=True, allow_bson=True)


def _settings(output: Any) -> dict[str, Any]:
    """The parameters a job ran with, as flat ``name: value`` pairs (relax input, force field)."""
    if not isinstance(output, dict):
        return {}
    flat: dict[str, Any] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in _NOT_SETTINGS and not k.startswith("@"):
                    add(f"{prefix}.{k}" if prefix else k, v)
        elif value is not None and not isinstance(value, list | tuple):
            flat[prefix] = value

    add("", output.get("input") or {})
    for key in ("forcefield_name", "forcefield_version"):
        if output.get(key):
            flat[key] = output[key]
    if output.get("tags") and output.get("images"):  # an NEB: its tags say what the band did
        flat["tags"] = "; ".join(map(str, output["tags"]))
    return flat


def _neb_summaries(js: JobStore, result_job: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """NEB job uuid -> its summary (hop, hop length, reaction coordinate) in the pair's flow."""
    if result_job is None or not result_job.get("hosts"):
        return {}
    found = js.docs_store.query(
        {"hosts": result_job["hosts"][0], "output.neb_job_uuid": {"$exists": True}}, properties=["output"]
    )
    return {d["output"]["neb_job_uuid"]: d["output"] for d in found if d["output"].get("neb_job_uuid")}


def neb_bands(doc: dict[str, Any], stores: list[JobStore]) -> list[NebBand]:
    """The NEB bands of a pair result whose jobs are in ``stores``: images, energies, path."""
    uuids = doc.get("job_uuids") or {}
    hit = find_job(stores, uuids["pair_result"]) if uuids.get("pair_result") else None
    summaries = _neb_summaries(*hit) if hit else {}
    candidates = list(summaries)
    if uuids.get("neb") and uuids["neb"] not in summaries:  # e.g. the summary was made in an earlier run
        candidates.insert(0, uuids["neb"])
    bands = []
    for uuid in candidates:
        where = find_job(stores, uuid)
        out = job_output(where[0], uuid) if where else None
        if not isinstance(out, dict) or not out.get("images"):
            continue  # the NEB screen (no NEB ran) or an NEB that stored no band
        images = [s for s in map(_structure, out["images"]) if s is not None]
        summary = summaries.get(uuid, {})
        path = ion_path_a(images) if len(images) > 1 else None
        if path is None and summary.get("reaction_coordinate") and summary.get("hop_length_a"):
            path = [c * summary["hop_length_a"] for c in summary["reaction_coordinate"]]
        energies = [float(e) for e in out.get("energies") or []]
        bands.append(NebBand(summary.get("hop"), uuid, images, energies, path))
    return bands


def with_neb_paths(docs: list[dict[str, Any]], stores: list[JobStore]) -> list[dict[str, Any]]:
    """Copies of ``docs`` with the distance along each NEB path from the stored images.

    Documents that lack them (written before results carried the path) get
    ``neb_path_distance_a``, and each hop of a host ``path_distance_a``. The plotting
    module uses them for the x axis of the NEB figure (:func:`mvflows.plotting.neb_profiles`).
    """
    return [attach_neb_paths(d, neb_bands(d, stores)) for d in docs]


def attach_neb_paths(doc: dict[str, Any], bands: list[NebBand]) -> dict[str, Any]:
    """A copy of ``doc`` with the path of each of ``bands`` (see :func:`with_neb_paths`)."""
    doc = dict(doc)
    by_uuid = {b.job_uuid: b for b in bands}
    main = by_uuid.get((doc.get("job_uuids") or {}).get("neb"))
    wanted = not doc.get("neb_path_distance_a")
    if (
        wanted
        and main is not None
        and main.path_a
        and len(main.path_a) == len(doc.get("neb_energies_ev") or [])
    ):
        doc["neb_path_distance_a"] = main.path_a
    if doc.get("hops"):
        by_hop = {b.hop: b for b in bands}
        hops = []
        for hop in doc["hops"]:
            band = by_hop.get(f"{hop.get('kind')} (label {hop.get('label')})")
            found = band is not None and band.path_a and not hop.get("path_distance_a")
            hops.append({**hop, "path_distance_a": band.path_a} if found else hop)
        doc["hops"] = hops
    return doc


def load_artifacts(doc: dict[str, Any], stores: list[JobStore]) -> PairArtifacts:
    """Every job of a pair result that the stores hold, its structures and its NEB bands."""
    art = PairArtifacts()
    for step, uuid in (doc.get("job_uuids") or {}).items():
        record = JobRecord(step, uuid)
        art.jobs.append(record)
        where = find_job(stores, uuid) if uuid else None
        if where is None:
            continue
        record.name = where[1].get("name")
        record.output = job_output(where[0], uuid)
        record.settings = _settings(record.output)
        if not isinstance(record.output, dict) or step == "neb":
            continue
        structure = _structure(record.output.get("structure"))
        if structure is not None:
            art.structures[step] = structure
        for i, ins in enumerate(record.output.get("steps") or [], start=1):  # stepwise insertion
            structure = _structure(ins.get("structure")) if isinstance(ins, dict) else None
            if structure is not None:
                art.structures[f"{step}_{i}"] = structure
    art.bands = neb_bands(doc, stores)
    return art
