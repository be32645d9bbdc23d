"""B-scale: a 1,000-pair graph into a jobflow-remote queue, 10,000 result documents queried.

Graph: 48 synthetic campaigns of the 21 spinel pairs (1,008 pairs), made distinct by a
tiny change of the relax fmax so that content keys do not merge their jobs; built with
``CampaignMaker`` and given per-job resources as ``mvflows submit`` does, then added to a
jobflow-remote ``JobController`` whose queue is a mongomock store. Query: 10,000 pair
result documents in the embedded default store (MontyDB/sqlite), then one query per
(host, intercalant) through ``mvflows.store.query_results``.

mongomock checks a unique index by scanning every stored document on each insert, so
adding n jobs costs O(n^2) there (MongoDB uses the index: O(log n) per insert). The
benchmark therefore drops the mock's indexes after ``JobController.reset`` unless
``--mock-unique-indexes`` is given; the JSON records which was measured.

    python -m benchmarks.scale [--pairs 1000] [--docs 10000]   -> benchmarks/results/scale.json
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import time
import tracemalloc

from benchmarks.common import machine, write_result

HOSTS = ["Ti2S4", "V2S4", "Cr2S4", "Mn2S4", "Fe2S4", "Co2S4", "Ni2S4"]
IONS = ["Mg", "Ca", "Zn"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def graph_and_submit(n_pairs: int, mock_unique_indexes: bool = False, trace: bool = False) -> dict:
    """Build and submit; memory is the process's peak RSS, plus Python's own peaks with ``trace``.

    tracemalloc slows allocation-heavy code about twofold, so it is off for the timed run.
    """
    from jobflow import Flow, JobStore
    from jobflow_remote.jobs.jobcontroller import JobController
    from maggma.stores import MemoryStore  # maggma's mongomock-backed MongoStore

    from mvflows.campaign import Campaign
    from mvflows.cluster import apply_resources, tag_pairs
    from mvflows.flows import CampaignMaker

    n_campaigns = -(-n_pairs // 21)
    rss0 = rss_mb()
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    flows = []
    for i in range(n_campaigns):
        camp = Campaign.model_validate(
            {
                "name": f"synthetic{i}",
                "family": "spinel",
                "hosts": HOSTS,
                "intercalants": IONS,
                "calculator": {"model": "SevenNet", "relax": {"fmax": 0.05 + 1e-6 * i}},
            }
        )
        flow = CampaignMaker().make(camp)
        tag_pairs(flow, camp)
        apply_resources(flow, camp, None)
        flows.append(flow)
    flow = Flow(flows, name="scale")
    build_s = time.perf_counter() - t0
    n_jobs = sum(1 for _ in flow.iterflow())
    build_peak = tracemalloc.get_traced_memory()[1] if trace else None
    rss_built = rss_mb()
    if trace:
        tracemalloc.reset_peak()
    from jobflow_remote.config.base import Project

    queue = MemoryStore("jobs")
    project = Project(
        name="scale",
        queue={"store": {"type": "MemoryStore", "collection_name": "jobs"}},
        workers={"local": {"type": "local", "scheduler_type": "slurm", "work_dir": tempfile.gettempdir()}},
    )
    jc = JobController(queue_store=queue, jobstore=JobStore(MemoryStore()), project=project)
    jc.reset()
    if not mock_unique_indexes:
        for coll in (jc.jobs, jc.flows):
            coll.drop_indexes()
    t0 = time.perf_counter()
    ids = jc.add_flow(flow, worker="local")
    submit_s = time.perf_counter() - t0
    submit_peak = tracemalloc.get_traced_memory()[1] if trace else None
    tracemalloc.stop()
    return {
        "pairs": n_campaigns * 21,
        "jobs_at_submission": n_jobs,
        "jobs_in_queue": len(ids),
        "mock_unique_indexes": mock_unique_indexes,
        "build_graph_s": build_s,
        "submit_s": submit_s,
        "tracemalloc": trace,
        "build_peak_python_mb": build_peak / 2**20 if trace else None,
        "submit_peak_python_mb": submit_peak / 2**20 if trace else None,
        "process_peak_rss_after_build_mb": rss_built,
        "process_peak_rss_mb": rss_mb(),
        "process_rss_before_mb": rss0,
    }


def query(n_docs: int) -> dict:
    from mvflows.store import query_results, results_store

    with tempfile.TemporaryDirectory() as tmp:
        store = results_store(tmp)
        store.connect()
        docs = []
        for i in range(n_docs):
            host, ion = HOSTS[i % 7], IONS[(i // 7) % 3]
            docs.append(
                {
                    "result_uid": f"r{i}",
                    "host": host,
                    "intercalant": ion,
                    "campaign": f"c{i // 21}",
                    "voltage_v": 1.0 + 1e-4 * i,
                    "state": "successful",
                    "neb_energies_ev": [0.0] * 9,
                }
            )
        t0 = time.perf_counter()
        for k in range(0, n_docs, 1000):
            store.update(docs[k : k + 1000], key="result_uid")
        write_s = time.perf_counter() - t0
        store.close()
        t0 = time.perf_counter()
        store = results_store(tmp)  # as a new process (mvflows results) opens it: reads the disk once
        open_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        found = 0
        for host in HOSTS:
            for ion in IONS:
                found += len(query_results(store, host=host, intercalant=ion))
        query_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        everything = len(query_results(store))
        all_s = time.perf_counter() - t0
        store.close()
    return {
        "documents": n_docs,
        "write_s": write_s,
        "open_store_s": open_s,
        "queries": 21,
        "documents_found": found,
        "query_by_host_and_intercalant_s": query_s,
        "query_all_s": all_s,
        "query_all_found": everything,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--docs", type=int, default=10000)
    p.add_argument("--out", default="scale.json")
    p.add_argument(
        "--mock-unique-indexes",
        action="store_true",
        help="keep jobflow-remote's unique indexes in the mongomock queue (O(n^2) inserts)",
    )
    p.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also record Python's allocation peaks (slows the timed part about twofold)",
    )
    args = p.parse_args()
    print(f"building and submitting a {args.pairs}-pair graph ...", flush=True)
    graph = graph_and_submit(args.pairs, args.mock_unique_indexes, args.tracemalloc)
    print(f"  {graph}", flush=True)
    gc.collect()
    print(f"querying {args.docs} result documents ...", flush=True)
    q = query(args.docs)
    print(f"  {q}", flush=True)
    write_result(
        args.out,
        {
            "benchmark": "B-scale",
            "graph": graph,
            "query": q,
            "store": "embedded default (MontyDB, sqlite)",
            **machine(),
        },
    )


if __name__ == "__main__":
    main()
