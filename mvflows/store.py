"""Where outputs live: an embedded on-disk store by default, MongoDB when configured.

A store URI is one of:
  * a directory path, or ``monty:PATH`` -- embedded MontyDB (sqlite) store, the default
    (``./mvflows_data``); it survives the process and needs no server;
  * ``mongodb://HOST:PORT/DB`` -- a MongoDB server (or anything speaking its protocol);
  * ``mongomock://NAME`` -- in-memory mongomock, for tests;
  * a ``.yaml`` file holding ``store: URI`` (see ``configs/store.yaml``).

Every store has three collections: ``outputs`` (jobflow job documents), ``data``
(trajectories and other large objects atomate2 sends there) and ``pair_results``
(:class:`mvflows.schemas.PairResult` documents). A result belongs to the campaign and the
settings that made it: it is stored under its ``result_id``, so campaigns, and versions
of one campaign, never replace each other's results; readers show each campaign's
latest version of a pair unless asked for every version.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

import yaml
from jobflow import CURRENT_JOB, JobStore
from maggma.core import Store
from maggma.stores import MontyStore
from monty.json import jsanitize

RESULTS_STORE_NAME = "results"
RESULTS_COLLECTION = "pair_results"
RESULT_KEY = "result_id"
KEEP_FIELDS = ("state", "headline_level")  # what _keeps reads of a stored result
# the versions of one result: the latest of each group is what readers show by default
VERSION_GROUP = ("campaign", "calculator", "host", "intercalant")
DEFAULT_STORE = os.environ.get("MVFLOWS_STORE", "mvflows_data")


class StoreError(RuntimeError):
    """A store that cannot be used; the message is one line."""


_COLLECTIONS = (("docs", "outputs"), ("data", "data"), (RESULTS_STORE_NAME, RESULTS_COLLECTION))


def _collections(uri: str, read_only: bool = False) -> dict[str, Store]:
    if uri.startswith(("mongodb://", "mongodb+srv://")):
        from maggma.stores import MongoStore

        tail = uri.split("/", 3)[3] if uri.count("/") >= 3 else ""
        database = tail.split("?")[0] or "mvflows"
        return {
            name: MongoStore(
                database=database,
                collection_name=coll,
                uri=uri,
                mongoclient_kwargs={"serverSelectionTimeoutMS": 3000},
            )
            for name, coll in _COLLECTIONS
        }
    if uri.startswith("mongomock://"):
        from maggma.stores import MemoryStore

        db = uri.removeprefix("mongomock://") or "mvflows"
        return {name: MemoryStore(collection_name=f"{db}.{coll}") for name, coll in _COLLECTIONS}
    # absolute: jobs run in another working directory
    path = embedded_path(uri)
    return {
        name: LockedMontyStore(
            coll, database_path=str(path), database_name="mvflows", storage="sqlite", read_only=read_only
        )
        for name, coll in _COLLECTIONS
    }


def embedded_path(uri: str) -> Path:
    """The directory of an embedded store's URI."""
    return Path(uri.removeprefix("monty:")).expanduser().resolve()


# what MontyDB writes when it creates a repository, and what mvflows adds
_MONTY_FILES = (".monty.storage", "monty.storage.cfg")
MARKER = ".mvflows-store"
LOCK_FILE = ".mvflows.lock"


def is_store(path: Path) -> bool:
    """Whether ``path`` holds an embedded mvflows store (one made by an earlier release has no marker)."""
    return all((path / f).is_file() for f in _MONTY_FILES) and (
        (path / MARKER).is_file() or (path / "mvflows").is_dir()
    )


def check_store(path: Path) -> None:
    """Raise a one-line StoreError unless ``path`` is an embedded mvflows store (for read commands)."""
    if not path.exists():
        raise StoreError(f"no store at {path} (mvflows run ... --store {path} makes one)")
    if not path.is_dir() or not is_store(path):
        raise StoreError(f"{path} is not an mvflows store")


class LockedMontyStore(MontyStore):
    """MontyDB store whose writes hold a file lock and whose reads come from memory.

    Locking: MontyDB has no unique indexes, so two processes upserting the same key at
    once could both insert. Under the lock an upsert sees the other's document and
    replaces it, which keeps concurrent runs on one embedded store free of duplicates. The
    OS drops the lock when a process dies, so a killed run never blocks the next one.

    Opening: MontyDB (through maggma) rewrites its two configuration files on every
    connect, truncating them first; a process that read them meanwhile found an empty
    storage name ("Empty module name"). The files are written once, when the store is
    created, under the lock, and read under it.

    Reading: MontyDB has no indexes either; every query decodes every stored document
    (0.5-0.9 s per query at the end of a spinel21 run, several queries per job). The
    documents are read from disk once at connect into an in-memory (mongomock) copy that
    serves every query and receives every write of this process. Writes of another
    process are seen after :meth:`refresh`: each write counts up a generation file of
    its collection, and a refresh reads the disk again only when that count is not the
    one this process last knew.

    ``read_only``: the store must exist (:func:`check_store`), nothing is created or
    written, and reads take the lock shared.
    """

    def __init__(self, *args: Any, read_only: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_only = read_only
        self._generation: int | None = None

    def connect(self, force_reset: bool = False):  # type: ignore[no-untyped-def]
        if self._coll is not None and not force_reset:
            return
        import mongomock_ng as mongomock  # maggma's own in-memory MongoDB
        from montydb import MontyClient, set_storage

        path = Path(self.database_path)
        if self.read_only:
            check_store(path)
        with self._locked(shared=self.read_only):
            if not self.read_only and not all((path / f).is_file() for f in _MONTY_FILES):
                set_storage(self.database_path, storage=self.storage, **self.storage_kwargs)
            if not self.read_only and not (path / MARKER).is_file():
                (path / MARKER).write_text("an mvflows store (MontyDB, sqlite); see docs/results.md\n")
            client = MontyClient(self.database_path, **self.client_kwargs)
            self._disk = client[self.database_name][self.collection_name]
            docs = list(self._disk.find({}))
            self._generation = self._read_generation()
        self._memory = mongomock.MongoClient()[self.database_name][self.collection_name]
        if docs:
            self._memory.insert_many(docs)
        self._coll = self._memory

    def close(self) -> None:
        if getattr(self, "_disk", None) is not None:
            self._coll = self._disk
        super().close()

    def refresh(self) -> bool:
        """Read the disk again if another process wrote since this one last did; True if it did."""
        if self._coll is None:
            return False
        with self._locked(shared=True):
            generation = self._read_generation()
            if generation == self._generation:
                return False
            docs = list(self._disk.find({}))
        self._memory.delete_many({})
        if docs:
            self._memory.insert_many(docs)
        self._generation = generation
        return True

    def _generation_file(self) -> Path:
        return Path(self.database_path) / f".mvflows.generation.{self.collection_name}"

    def _read_generation(self) -> int:
        try:
            return int(self._generation_file().read_text() or 0)
        except (OSError, ValueError):
            return 0

    def _wrote(self, in_sync: bool = True) -> None:
        """Count a write (under the lock); this process stays in step unless another wrote before."""
        before = self._read_generation()
        tmp = self._generation_file().with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(str(before + 1))
        os.replace(tmp, self._generation_file())
        if in_sync and before == self._generation:
            self._generation = before + 1

    @contextlib.contextmanager
    def _locked(self, shared: bool = False):  # type: ignore[no-untyped-def]
        from mvflows.interrupts import deferred  # Ctrl-C waits for the write: a document is whole or absent

        lock_path = Path(self.database_path) / LOCK_FILE
        if shared and not lock_path.exists():  # a store of an earlier release: no writer of this one yet
            yield
            return
        if not shared:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
        with deferred(), open(lock_path, "r" if shared else "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"store {self.database_path} was opened read-only")

    def update(self, docs, key=None, keep=None):  # type: ignore[no-untyped-def]
        """Upsert on ``key``: no pass over the disk when in step with it, one per batch otherwise.

        MontyDB's own ``replace_one(upsert=True)`` scans the collection for every
        document, which made writing 10,000 result documents quadratic; even one pass per
        batch cost 0.7 s per job at the end of a spinel21 run. While no other process has
        written since this one last read the disk, the memory copy holds the same documents
        under the same ids, so the stored documents are found there and written by id.
        ``keep(old, new)`` (``old`` holds the key fields and :data:`KEEP_FIELDS`) keeps a
        stored document instead of replacing it; it is asked under the lock.
        """
        self._writable()
        docs = [jsanitize(d, allow_bson=True) for d in (docs if isinstance(docs, list) else [docs])]
        fields = [key or self.key] if isinstance(key or self.key, str) else list(key or self.key)
        batch = {tuple(d[f] for f in fields): d for d in docs}  # the last of duplicate keys wins
        with self._locked():
            # in step, the memory copy mirrors the disk, ids included: find the stored
            # documents there, not by decoding every document on disk (~0.7 s at the end
            # of a spinel21 run, for every job's write)
            index = self._memory if self._read_generation() == self._generation else None
            kept, ids = _upsert(self._disk, fields, batch, keep, index=index)
            self._wrote(in_sync=not kept)  # a kept document may be missing from memory
        mirrored = {k: {**d, "_id": ids[k]} for k, d in batch.items() if k not in kept}
        _upsert(self._memory, fields, mirrored, given_ids=True)
        return kept

    def remove_docs(self, criteria):  # type: ignore[no-untyped-def]
        self._writable()
        with self._locked():
            self._disk.delete_many(criteria)
            self._wrote()
        self._memory.delete_many(criteria)


def _upsert(
    coll: Any,
    fields: list[str],
    batch: dict[tuple, dict],
    keep: Any = None,
    index: Any = None,
    given_ids: bool = False,
) -> tuple[set[tuple], dict[tuple, Any]]:
    """Replace the documents whose ``fields`` match a key of ``batch``; insert the rest.

    ``index``: a collection holding the same documents under the same ids, searched instead
    of ``coll`` (MontyDB has no indexes: a search there decodes every document).
    ``given_ids``: a new document is inserted under the ``_id`` it carries (the memory copy
    mirroring the disk); otherwise any ``_id`` in ``batch`` is dropped. Returns the keys
    whose stored document ``keep(old, new)`` kept, and the id of every document of ``batch``.
    """
    if not batch:
        return set(), {}
    projection = dict.fromkeys(["_id", *fields, *KEEP_FIELDS], 1)
    if index is None:
        found = coll.find({}, projection=projection)
    else:
        found = index.find({"$or": [dict(zip(fields, k, strict=True)) for k in batch]}, projection=projection)
    existing = {}
    for doc in found:
        k = tuple(doc.get(f) for f in fields)
        if k in batch:
            existing[k] = doc
    montydb = hasattr(coll, "_storage")
    if montydb:
        from montydb.types import bson
    new, kept, ids = [], set(), {}
    for k, doc in batch.items():
        given = doc.get("_id") if given_ids else None
        doc = {n: v for n, v in doc.items() if n != "_id"}
        if k in existing and keep is not None and keep(existing[k], doc):
            kept.add(k)
            ids[k] = existing[k]["_id"]
        elif k in existing:
            ids[k] = existing[k]["_id"]
            if montydb:  # by its primary key: replace_one({"_id": ...}) scans the collection
                coll._storage.update_one(coll, {**doc, "_id": ids[k]})
            else:
                coll.replace_one({"_id": ids[k]}, doc)
        else:
            ids[k] = given if given is not None else (bson.ObjectId() if montydb else None)
            new.append({**doc, "_id": ids[k]} if ids[k] is not None else doc)
    if new:
        if montydb:  # write as its replace_one(upsert) does, without insert_many's key check
            for doc in new:  # ('.' in keys such as 'S1.50-')
                coll._storage.write_one(coll, doc, check_keys=False)
        else:
            result = coll.insert_many(new)
            for doc, new_id in zip(new, result.inserted_ids, strict=True):
                ids[tuple(doc.get(f) for f in fields)] = new_id
    return kept, ids


def resolve_uri(uri: str | None) -> str:
    """Expand the default and ``.yaml`` store files into a plain URI."""
    uri = uri or DEFAULT_STORE
    if uri.endswith((".yaml", ".yml")):
        try:
            cfg = yaml.safe_load(Path(uri).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise StoreError(f"cannot read store file {uri}: {exc}") from None
        if not isinstance(cfg, dict) or "store" not in cfg:
            raise StoreError(f"store file {uri} must contain 'store: URI'")
        return resolve_uri(str(cfg["store"]))
    return uri


def job_store(uri: str | None = None, read_only: bool = False) -> JobStore:
    """A connected jobflow JobStore with mvflows' data and results stores.

    ``read_only`` (the read commands): an embedded store must exist already, and nothing
    is created or written.
    """
    uri = resolve_uri(uri)
    stores = _collections(uri, read_only)
    store = JobStore(
        stores["docs"],
        additional_stores={"data": stores["data"], RESULTS_STORE_NAME: stores[RESULTS_STORE_NAME]},
    )
    connect(store, uri, read_only)
    return store


def results_store(uri: str | None = None, read_only: bool = False) -> Store:
    """The connected results collection alone (for queries)."""
    uri = resolve_uri(uri)
    store = _collections(uri, read_only)[RESULTS_STORE_NAME]
    connect(store, uri, read_only)
    return store


def is_embedded(uri: str) -> bool:
    return not uri.startswith(("mongodb://", "mongodb+srv://", "mongomock://"))


def connect(store: JobStore | Store, uri: str, read_only: bool = False) -> None:
    """Connect and prove the store answers, or raise a one-line StoreError."""
    label = uri.split("://", 1)[-1].split("@")[-1] if uri.startswith("mongodb") else uri  # no credentials
    try:
        if is_embedded(uri):
            path = embedded_path(uri)
            if read_only:
                check_store(path)
            else:
                path.mkdir(parents=True, exist_ok=True)
                if not os.access(path, os.W_OK):
                    raise StoreError(f"store directory {path} is not writable")
        store.connect()
        target = store.docs_store if isinstance(store, JobStore) else store
        target.count()
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - drivers raise many types for one meaning
        first = str(exc).splitlines()[0].split(" (configured timeouts")[0].split(", Timeout:")[0][:200]
        first = first or type(exc).__name__
        raise StoreError(f"cannot reach store {label}: {first}") from None


def refresh(store: JobStore | Store) -> bool:
    """Let this process see what other processes wrote to an embedded store since; True if anything."""
    stores = [store.docs_store, *store.additional_stores.values()] if isinstance(store, JobStore) else [store]
    return any([s.refresh() for s in stores if isinstance(s, LockedMontyStore)])


def publish_from_job(result: Any) -> Any:
    """Publish a result job's output to the results store of the job store running it (if it has one).

    Called by every result job (pair, path, committee, refined pair) as its last step; returns
    ``result`` so the job can end with ``return publish_from_job(result)``.
    """
    store = CURRENT_JOB.store
    if store is not None and RESULTS_STORE_NAME in store.additional_stores:
        publish_result(store.additional_stores[RESULTS_STORE_NAME], result)
    return result


def publish_result(store: Store, result: Any) -> bool:
    """Upsert one pair result under its ``result_id`` (also jobflow's ``blob_uuid``), unless it
    would replace a successful result by a worse one (:func:`_keeps`); True when written.

    jobflow keys every additional store on ``blob_uuid``, and jobflow-remote relies on it:
    a job's results store is a JSON file re-read by that key, then upserted into MongoDB
    by it; the same id keeps re-runs replacing the document there too.
    """
    doc = result.model_dump(mode="json") if hasattr(result, "model_dump") else dict(result)
    doc[RESULT_KEY] = doc.get(RESULT_KEY) or _derived_id(doc)
    doc["blob_uuid"] = doc[RESULT_KEY]
    if isinstance(store, LockedMontyStore):  # decided on the disk's document, under the lock
        return not store.update([doc], key=RESULT_KEY, keep=_keeps)
    old = store.query_one({RESULT_KEY: doc[RESULT_KEY]}, properties=list(KEEP_FIELDS))
    if old is not None and _keeps(old, doc):
        return False
    store.update([doc], key=RESULT_KEY)
    return True


def _keeps(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A successful result is never replaced by a partial or failed one of the same identity.

    Same identity means the same inputs and settings: a worse outcome is a fault of that
    attempt (a killed worker, a crashed duplicate), not a new answer. The pair's jobs know
    it (the job that failed is not finished), so the next run tries again. A document whose
    headline is another level of fidelity (a refined pair's DFT result) is a new answer, and
    replaces the screen's even when it is worse.
    """
    same_level = old.get("headline_level") == new.get("headline_level")
    return same_level and old.get("state") == "successful" and new.get("state") != "successful"


def _derived_id(doc: dict[str, Any]) -> str:
    """An id for a result made outside a job (tests, imports): its campaign, settings and pair."""
    import uuid

    parts = [str(doc.get(k)) for k in ("campaign", "settings_digest", *VERSION_GROUP[1:])]
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "mvflows/pair_result/" + "/".join(parts)))


def result_id_of(doc: dict[str, Any]) -> str:
    """The id of a stored result; documents of the 0.1 release have none and go by their job's uuid."""
    return (
        doc.get(RESULT_KEY) or (doc.get("job_uuids") or {}).get("pair_result") or doc.get("blob_uuid") or ""
    )


def _committee_of(doc: dict[str, Any]) -> tuple[str, ...]:
    """The member labels of a committee result (empty for a single-model one): its version group too."""
    committee = doc.get("committee") or {}
    return tuple(str(m.get("label")) for m in committee.get("members") or [])


def latest_versions(docs: list[dict]) -> list[dict]:
    """The most recently completed document of each (campaign, calculator, host, intercalant), a
    committee's result apart from its headline member's own.

    A refined pair has two documents of its DFT calculator: the DFT level's own result and the
    pair's merged result (``levels``), written after it; within the second that
    ``completed_at`` resolves, the merged one wins.
    """

    def newer(doc: dict) -> tuple[str, bool]:
        return str(doc.get("completed_at", "")), bool(doc.get("levels"))

    best: dict[tuple, dict] = {}
    for doc in docs:
        group = (*(doc.get(k) for k in VERSION_GROUP), _committee_of(doc))
        if group not in best or newer(doc) > newer(best[group]):
            best[group] = doc
    return list(best.values())


def query_results(
    store: Store,
    host: str | None = None,
    intercalant: str | None = None,
    campaign: str | None = None,
    all_versions: bool = False,
) -> list[dict]:
    """Pair results, newest version of each pair per campaign unless ``all_versions``."""
    criteria: dict[str, Any] = {}
    for key, value in (("host", host), ("intercalant", intercalant), ("campaign", campaign)):
        if value:
            criteria[key] = value
    docs = list(store.query(criteria=criteria, properties={"_id": 0}))
    for doc in docs:
        doc.pop("blob_uuid", None)  # jobflow's storage key, not a result field
        doc[RESULT_KEY] = result_id_of(doc)
    if not all_versions:
        docs = latest_versions(docs)
    return sorted(
        docs,
        key=lambda d: (
            d.get("intercalant", ""),
            d.get("host", ""),
            d.get("campaign", ""),
            d.get("calculator", ""),
            str(d.get("completed_at", "")),
        ),
    )


def member_result_ids(doc: dict[str, Any]) -> set[str]:
    """The ids of the members' own results folded into a committee result (at any level of a refined one)."""
    blocks = [
        doc.get("committee"),
        *((level or {}).get("committee") for level in (doc.get("levels") or {}).values()),
    ]
    return {m["result_id"] for b in blocks if b for m in b.get("members") or [] if m.get("result_id")}


def fold_members(docs: list[dict]) -> list[dict]:
    """Results without the committee members' own ones whose committee result is among them: a
    committee campaign shows one row per pair (``mvflows results --members`` shows them all)."""
    folded = {rid for doc in docs for rid in member_result_ids(doc)}
    return [doc for doc in docs if result_id_of(doc) not in folded]
