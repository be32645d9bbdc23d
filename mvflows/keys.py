"""Content keys: a job's identity is what it computes, so finished work is found again.

Every job mvflows builds gets the uuid of its *content key*, a sha256 of the function it
runs, the settings of the Maker it belongs to, its arguments (structures, numbers, and
the uuids of the jobs it reads from) and the code version. The same campaign built twice
has the same uuids, a finished job is recognised in the store by its uuid, writes of the
same job from two runs land on the same document, and jobs shared by pairs (a metal
reference, a host relax) run once.

Keying is structural, not placed by hand:

* :func:`job` is jobflow's ``job`` decorator whose jobs come out keyed;
* :class:`KeyedMaker` keys whatever its subclasses' ``make`` returns (a Job, or a Flow
  whose jobs must then all be keyed already: a stray unkeyed job is an error at build time).

Fields a maker does not use stay out of its key (``UNKEYED`` on the class, or
``field(metadata={"keyed": False})``), and a maker can add what its fields do not show
(:meth:`KeyedMaker.key_extra`: a force-field maker adds the model's package version and
checkpoint, :func:`mvflows.models.model_identity`).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import uuid as uuidlib
from collections.abc import Callable
from typing import Any, ClassVar

import jobflow
import numpy as np
from jobflow import Flow, Job, Maker, OutputReference
from monty.json import MSONable, jsanitize

import mvflows

# Bump when the meaning of a job's output changes without its inputs changing.
JOB_CODE_VERSION = f"{mvflows.__version__}/2"
_NAMESPACE = uuidlib.UUID("6b1c2f0e-3d4a-4f7e-9a51-6d7c1e2b9f30")
_KEY = "content_key"


def _maker_fields(maker: Any) -> dict[str, Any]:
    unkeyed: set[str] = set()
    for cls in type(maker).__mro__:
        unkeyed |= set(cls.__dict__.get("UNKEYED", ()))
    return {
        f.name: getattr(maker, f.name)
        for f in dataclasses.fields(maker)
        if f.name not in unkeyed and f.metadata.get("keyed", True)
    }


def canonical(obj: Any) -> Any:
    """The JSON form a key hashes: floats rounded, Makers reduced to the fields they use.

    Rounding to 8 digits keeps harmless float noise (a structure read back from JSON)
    from giving a new key.
    """
    if obj is None or isinstance(obj, bool | str | int):
        return obj
    if isinstance(obj, float):
        return round(obj, 8)
    if isinstance(obj, enum.Enum):
        return canonical(obj.value)
    if isinstance(obj, np.ndarray | np.generic):
        return canonical(obj.tolist())
    if isinstance(obj, OutputReference):
        return {"@ref": obj.uuid, "attributes": canonical([list(a) for a in obj.attributes])}
    if isinstance(obj, dict):
        return {
            str(k): canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0])) if k != "@version"
        }
    if isinstance(obj, list | tuple):
        return [canonical(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = (
            _maker_fields(obj)
            if isinstance(obj, Maker)
            else {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        )
        extra = obj.key_extra() if isinstance(obj, KeyedMaker) else {}
        return {
            "@class": f"{type(obj).__module__}.{type(obj).__qualname__}",
            **canonical({**fields, **extra}),
        }
    if isinstance(obj, MSONable) or hasattr(obj, "model_dump"):
        return canonical(jsanitize(obj, strict=True, enum_values=True))
    return canonical(jsanitize(obj, strict=True, enum_values=True))


def content_key(job: Job) -> str:
    """sha256 of everything that determines the job's output."""
    function = job.function
    maker = getattr(function, "__self__", None)
    raw = getattr(function, "original", function)
    payload = {
        "function": f"{getattr(raw, '__module__', '')}.{getattr(raw, '__qualname__', '')}",
        "maker": canonical(maker) if maker is not None else None,
        "args": canonical(list(job.function_args)),
        "kwargs": canonical(dict(job.function_kwargs)),
        "code": JOB_CODE_VERSION,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def keyed(job: Job) -> Job:
    """Give ``job`` the uuid of its content key (done before anything refers to its output)."""
    key = content_key(job)
    job.set_uuid(str(uuidlib.uuid5(_NAMESPACE, key)))
    job.metadata = {**(job.metadata or {}), _KEY: key}
    return job


def is_keyed(job: Job) -> bool:
    return bool((job.metadata or {}).get(_KEY))


def _check_keyed(flow: Flow, maker: Any) -> Flow:
    stray = [j.name for j, _ in flow.iterflow() if not is_keyed(j)]
    if stray:
        raise TypeError(
            f"{type(maker).__name__}.make built jobs without content keys ({', '.join(stray[:3])}): "
            "build them with mvflows.keys.job or a KeyedMaker"
        )
    return flow


def _keyed_make(make: Callable) -> Callable:
    """Wrap a Maker's ``make`` (plain or jobflow-decorated) so that what it returns is keyed.

    ``functools.wraps`` keeps jobflow's ``original`` attribute, through which jobflow
    recognises the method and runs the undecorated function.
    """

    @functools.wraps(make)
    def make_keyed(self: Any, *args: Any, **kwargs: Any) -> Job | Flow:
        out = make(self, *args, **kwargs)
        if isinstance(out, Job):
            return keyed(out)
        if isinstance(out, Flow):
            return _check_keyed(out, self)
        return out

    make_keyed._mvflows_keyed = True  # type: ignore[attr-defined]
    return make_keyed


class KeyedMaker(Maker):
    """A Maker whose jobs carry content keys (mix in before a jobflow/atomate2 Maker).

    ``UNKEYED`` names fields that do not change what the maker computes (its name,
    worker counts, where files are written); they are left out of the key.
    """

    UNKEYED: ClassVar[tuple[str, ...]] = ("name",)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the make this class will run: the first one along the MRO (a mixin placed
        # before an atomate2 maker defines none, so its base's make is found and wrapped)
        make = next((c.__dict__["make"] for c in cls.__mro__ if "make" in c.__dict__), None)
        if make is None or make is Maker.__dict__.get("make") or getattr(make, "_mvflows_keyed", False):
            return
        cls.make = _keyed_make(make)

    def key_extra(self) -> dict[str, Any]:
        """What the key needs beyond the keyed fields (e.g. the model's version)."""
        return {}


def job(method: Callable | None = None, **job_kwargs: Any) -> Callable:
    """jobflow's ``@job``, whose jobs are keyed when they are created."""

    def decorate(func: Callable) -> Callable:
        make_job = jobflow.job(func, **job_kwargs)

        @functools.wraps(make_job)
        def keyed_job(*args: Any, **kwargs: Any) -> Job:
            return keyed(make_job(*args, **kwargs))

        keyed_job._mvflows_keyed = True  # type: ignore[attr-defined]
        return keyed_job

    return decorate(method) if method is not None else decorate
