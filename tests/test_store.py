"""Stores: results are kept per campaign and settings; bad stores fail with one line."""

import pytest

from mvflows.schemas import PairResult
from mvflows.store import StoreError, job_store, publish_result, query_results, resolve_uri, results_store


def _result(host="Cr2S4", ion="Mg", v=1.0, campaign="t", settings="s1", at="2026-12-01T00:00:00+00:00"):
    return PairResult(
        campaign=campaign,
        settings_digest=settings,
        host=host,
        intercalant=ion,
        formula_discharged="MgCr2S4",
        voltage_v=v,
        calculator="forcefield:SevenNet",
        state="successful",
        completed_at=at,
    )


@pytest.mark.parametrize("uri", ["mongomock://t1", "monty"])
def test_publish_is_idempotent(tmp_path, uri):
    uri = str(tmp_path / "db") if uri == "monty" else uri
    store = results_store(uri)
    publish_result(store, _result(v=1.0))
    publish_result(store, _result(v=1.5))
    publish_result(store, _result(host="Ti2S4"))
    docs = query_results(store)
    assert len(docs) == 2
    assert query_results(store, host="Cr2S4")[0]["voltage_v"] == 1.5
    assert query_results(store, intercalant="Zn") == []


def test_embedded_store_survives_the_process(tmp_path):
    path = str(tmp_path / "db")
    publish_result(results_store(path), _result())
    # a new connection (as a new process would make) sees the document
    assert len(query_results(results_store(path))) == 1


def test_embedded_store_writes_reach_disk_and_memory_alike(tmp_path):
    """Reads come from the in-memory copy; every write and removal must also be on disk."""
    path = str(tmp_path / "db")
    store = job_store(path).docs_store
    # keys with '.' occur in real outputs (species such as 'S1.50-' in a composition)
    store.update([{"uuid": "a", "index": 1, "output": 1}, {"uuid": "b", "index": 1, "output": {"S1.50-": 2}}])
    store.update({"uuid": "a", "index": 1, "output": 3})  # upsert on the store's key
    store.remove_docs({"uuid": "b"})
    fresh = job_store(path).docs_store  # a new connection reads the disk
    for s in (store, fresh):
        assert [(d["uuid"], d["output"]) for d in s.query({}, properties=["uuid", "output"])] == [("a", 3)]
    fresh.update({"uuid": "c", "index": 1, "output": 4})
    assert job_store(path).docs_store.count() == 2


def test_unreachable_mongodb_is_one_line():
    with pytest.raises(StoreError) as info:
        job_store("mongodb://127.0.0.1:1/mvflows")
    assert str(info.value).startswith("cannot reach store 127.0.0.1:1/mvflows")
    assert "\n" not in str(info.value)


def test_store_yaml(tmp_path):
    cfg = tmp_path / "store.yaml"
    cfg.write_text("store: mongomock://fromfile\n")
    assert resolve_uri(str(cfg)) == "mongomock://fromfile"
    bad = tmp_path / "bad.yaml"
    bad.write_text("nothing: here\n")
    with pytest.raises(StoreError, match="must contain 'store: URI'"):
        resolve_uri(str(bad))


def test_store_path_that_cannot_be_a_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot reach store"):
        job_store(str(blocker / "db"))


@pytest.mark.parametrize("uri", ["mongomock://t2", "monty"])
def test_campaigns_and_settings_never_replace_each_other(tmp_path, uri):
    uri = str(tmp_path / "db") if uri == "monty" else uri
    store = results_store(uri)
    publish_result(store, _result(campaign="spinel21", v=1.68, settings="careful"))
    publish_result(store, _result(campaign="smoke", v=1.70, settings="light"))
    publish_result(
        store, _result(campaign="smoke", v=1.71, settings="lighter", at="2026-12-02T00:00:00+00:00")
    )
    everything = query_results(store, all_versions=True)
    assert sorted(d["voltage_v"] for d in everything) == [1.68, 1.70, 1.71]
    latest = query_results(store)
    assert sorted((d["campaign"], d["voltage_v"]) for d in latest) == [("smoke", 1.71), ("spinel21", 1.68)]
    assert [d["voltage_v"] for d in query_results(store, campaign="spinel21")] == [1.68]


def test_results_of_the_previous_release_are_read(tmp_path):
    """0.1 documents: no result_id, keyed on host/intercalant/calculator; read with their job's uuid as id."""
    store = results_store(str(tmp_path / "db"))
    old = _result().model_dump(mode="json")
    for key in ("result_id", "settings_digest"):
        old.pop(key)
    old["job_uuids"] = {"pair_result": "0f4c2c9e-old"}
    store.update([old], key=["host", "intercalant", "calculator"])
    publish_result(store, _result(campaign="t2"))
    docs = {d["campaign"]: d for d in query_results(results_store(str(tmp_path / "db")))}
    assert docs["t"]["result_id"] == "0f4c2c9e-old" and docs["t"]["voltage_v"] == 1.0
    assert set(docs) == {"t", "t2"}


def test_two_processes_opening_a_new_store_at_once(tmp_path):
    """MontyDB rewrote its config files on every open; a process reading them meanwhile failed
    ('Empty module name'). 20 trials of two processes opening one new store at the same moment."""
    import subprocess
    import sys

    script = """
import multiprocessing as mp, sys
from mvflows.store import StoreError, job_store

def opener(path, barrier, q):
    barrier.wait()
    try:
        job_store(path).docs_store.count()
        q.put("ok")
    except StoreError as exc:
        q.put(str(exc))

ctx = mp.get_context("fork")  # imports done once; the children race on the open alone
errors = []
for i in range(20):
    barrier, q = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=opener, args=(f"{sys.argv[1]}/s{i}", barrier, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    errors += [m for m in (q.get(timeout=10) for _ in procs) if m != "ok"]
print(len(errors), errors[:3])
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("0 "), out.stdout
    assert len(list(tmp_path.glob("s*/.mvflows-store"))) == 20


def test_a_read_only_open_creates_and_writes_nothing(tmp_path):
    from mvflows.store import check_store

    with pytest.raises(StoreError, match="no store at"):
        results_store(str(tmp_path / "typo"), read_only=True)
    assert not (tmp_path / "typo").exists()
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="is not an mvflows store"):
        job_store(str(plain), read_only=True)
    assert [p.name for p in plain.iterdir()] == ["notes.txt"]
    path = tmp_path / "db"
    publish_result(results_store(str(path)), _result())
    check_store(path)
    files = lambda: {p: p.stat().st_mtime_ns for p in path.rglob("*") if p.is_file()}  # noqa: E731
    before = files()  # (sqlite's own -wal/-shm files come and go while it reads)
    store = results_store(str(path), read_only=True)
    assert len(query_results(store)) == 1
    with pytest.raises(StoreError, match="read-only"):
        publish_result(store, _result(v=2.0))
    assert files() == before


def test_a_refresh_sees_other_processes_writes(tmp_path):
    """Reads come from memory; a refresh reads the disk again only when another process wrote."""
    path = str(tmp_path / "db")
    mine, other = job_store(path).docs_store, job_store(path).docs_store  # two processes' connections
    mine.update({"uuid": "a", "index": 1, "output": 1})
    assert not mine.refresh()  # only its own write since it read the disk
    other.update({"uuid": "b", "index": 1, "output": 2})
    assert mine.count() == 1 and mine.refresh() and mine.count() == 2
    assert other.refresh() and other.count() == 2


def test_a_write_in_step_with_the_disk_does_not_search_the_disk(tmp_path, monkeypatch):
    """MontyDB decodes every document to find one; in step, the memory copy says where each is."""
    path = str(tmp_path / "db")
    mine, other = job_store(path).docs_store, job_store(path).docs_store
    mine.update([{"uuid": "a", "index": 1, "output": 1}, {"uuid": "b", "index": 1, "output": 2}])
    other.update({"uuid": "c", "index": 1, "output": 3})  # another process: mine is out of step
    mine.update({"uuid": "c", "index": 1, "output": 4})  # found on disk, replaced, not inserted twice
    assert mine.refresh()
    searched = []
    real_find = mine._disk.find
    monkeypatch.setattr(mine._disk, "find", lambda *a, **k: searched.append(a) or real_find(*a, **k))
    mine.update([{"uuid": "a", "index": 1, "output": 5}, {"uuid": "d", "index": 1, "output": 6}])
    assert searched == []  # in step again: a replacement and an insertion without a search
    for s in (mine, job_store(path).docs_store):  # the disk holds one document per key
        docs = s.query({}, properties=["uuid", "output"], sort={"uuid": 1})
        assert [(d["uuid"], d["output"]) for d in docs] == [("a", 5), ("b", 2), ("c", 4), ("d", 6)]
    mine.update({"uuid": "d", "index": 1, "output": 7})  # what it just inserted, under the disk's id
    assert [d["output"] for d in job_store(path).docs_store.query({"uuid": "d"})] == [7]


@pytest.mark.parametrize("uri", ["mongomock://t3", "monty"])
def test_a_successful_result_is_never_replaced_by_a_worse_one(tmp_path, uri):
    uri = str(tmp_path / "db") if uri == "monty" else uri
    store = results_store(uri)
    publish_result(store, _result(v=1.0))
    worse = _result(v=None).model_copy(update={"state": "partial", "failure_reasons": ["NEB crashed"]})
    publish_result(store, worse)
    readers = [store] + ([] if uri.startswith("mongomock") else [results_store(uri, read_only=True)])
    for s in readers:  # in memory and on disk
        [doc] = query_results(s)
        assert doc["state"] == "successful" and doc["voltage_v"] == 1.0
    publish_result(store, _result(v=1.1))  # a successful result of the same identity replaces it
    assert query_results(store)[0]["voltage_v"] == 1.1
    # a refined pair's result (another headline level) is a new answer, even when it is worse
    same_id = query_results(store)[0]["result_id"]  # merge_levels keeps the screen's identity
    refined = worse.model_copy(
        update={"headline_level": "fake-vasp:PBE", "calculator": "fake-vasp:PBE", "result_id": same_id}
    )
    publish_result(store, refined)
    for s in [store] + ([] if uri.startswith("mongomock") else [results_store(uri, read_only=True)]):
        [doc] = query_results(s)
        assert doc["state"] == "partial" and doc["headline_level"] == "fake-vasp:PBE"


READS = [
    ("results",),
    ("results", "--format", "json"),
    ("plot", "voltage-capacity", "-o", "{tmp}/v.png"),
    ("validate", "-o", "{tmp}/report.md"),
    ("report", "-o", "{tmp}/report"),
]


@pytest.mark.parametrize("where", ["missing", "plain directory"])
@pytest.mark.parametrize("command", READS, ids=lambda c: " ".join(c[:2]))
def test_read_commands_never_make_or_write_a_store(tmp_path, command, where):
    from conftest import error_lines, invoke

    target = tmp_path / "typo"
    if where == "plain directory":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    args = [a.format(tmp=tmp_path) for a in command]
    result = invoke(*args, "--store", target)
    assert result.exit_code == 2, result.output
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and str(target) in errors[0], result.stderr
    assert "no store at" in errors[0] if where == "missing" else "is not an mvflows store" in errors[0]
    left = sorted(p.name for p in tmp_path.rglob("*"))
    assert left == ([] if where == "missing" else ["notes.txt", "typo"])


def test_a_lost_result_is_published_again_from_its_job_output(tmp_path):
    from mvflows.jobs.results import republish

    js = job_store(str(tmp_path / "db"))
    result = _result().model_copy(update={"result_id": "u1"})
    output = {**result.model_dump(mode="json"), "@module": "mvflows.schemas", "@class": "PairResult"}
    js.docs_store.update({"uuid": "u1", "index": 1, "output": output}, key=["uuid", "index"])
    results = js.additional_stores["results"]
    assert republish(js, "u1") and [d["result_id"] for d in query_results(results)] == ["u1"]
    assert not republish(js, "u1")  # there, and as new as the job's output
    results.remove_docs({})
    assert not republish(js, "nope") and republish(js, "u1")
    assert query_results(results_store(str(tmp_path / "db"), read_only=True))[0]["voltage_v"] == 1.0
