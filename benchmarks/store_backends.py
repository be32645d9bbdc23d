"""Which embedded maggma store to use by default: write, query and reopen timings.

Writes a campaign's worth of documents (21 pair results and 21 x 14 job documents of
the size a relax document has, ~20 kB with its structure) to each candidate, one
``update`` per document as jobflow does, then queries by host and intercalant and
reopens the store as a new process would.

    python benchmarks/store_backends.py      -> benchmarks/results/store.json
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

from maggma.stores import JSONStore, MontyStore
from pymatgen.core import Structure

from mvflows.structures import tetrahedral_spinel

HOSTS = ["Ti2S4", "V2S4", "Cr2S4", "Mn2S4", "Fe2S4", "Co2S4", "Ni2S4"]
IONS = ["Mg", "Ca", "Zn"]


def documents() -> list[dict]:
    structure: Structure = tetrahedral_spinel("Mg", "Cr") * (2, 2, 2)
    sdict = structure.as_dict()
    docs = []
    for host in HOSTS:
        for ion in IONS:
            docs.append(
                {
                    "uuid": f"res-{host}-{ion}",
                    "host": host,
                    "intercalant": ion,
                    "voltage_v": 1.0,
                    "kind": "result",
                }
            )
            for k in range(14):
                docs.append(
                    {
                        "uuid": f"job-{host}-{ion}-{k}",
                        "host": host,
                        "intercalant": ion,
                        "kind": "job",
                        "output": {"structure": sdict, "energy": -1.0 * k},
                    }
                )
    return docs


def measure(name: str, make) -> dict:
    print(f"measuring {name} ...", flush=True)
    docs = documents()
    store = make()
    store.connect()
    t0 = time.perf_counter()
    for d in docs:
        store.update([d], key="uuid")
    write = time.perf_counter() - t0
    t0 = time.perf_counter()
    for host in HOSTS:
        for ion in IONS:
            n = len(list(store.query({"host": host, "intercalant": ion, "kind": "result"})))
            assert n == 1
    query = time.perf_counter() - t0
    store.close()
    t0 = time.perf_counter()
    again = make()
    again.connect()
    count = again.count()
    reopen = time.perf_counter() - t0
    assert count == len(docs), (name, count)
    return {
        "store": name,
        "documents": len(docs),
        "write_s": round(write, 3),
        "query_21_s": round(query, 4),
        "reopen_s": round(reopen, 3),
    }


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows.append(
            measure(
                "MontyStore(sqlite)", lambda: MontyStore("c", database_path=str(tmp / "ms"), storage="sqlite")
            )
        )
        rows.append(
            measure(
                "MontyStore(flatfile)",
                lambda: MontyStore("c", database_path=str(tmp / "mf"), storage="flatfile"),
            )
        )
        rows.append(measure("JSONStore", lambda: JSONStore(str(tmp / "js.json"), read_only=False)))
    out = {
        "date": date.today().isoformat(),
        "machine": {"cores": __import__("os").cpu_count(), "cpu": platform.processor() or platform.machine()},
        "results": rows,
    }
    Path(__file__).parent.joinpath("results").mkdir(exist_ok=True)
    Path(__file__).parent.joinpath("results", "store.json").write_text(json.dumps(out, indent=2) + "\n")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
