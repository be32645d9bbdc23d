"""Content keys: a job's identity is what it computes, so finished work is found again.

The key of a job hashes its function, the Maker it belongs to (calculator, model and
every setting), its arguments (structures, numbers, and references to the keys of the
jobs it depends on) and the code version. The job's uuid is derived from the key, so the
same campaign built twice has the same uuids, a finished job is recognised in the store
by its uuid, and writes of the same job from two runs land on the same document.
"""

from __future__ import annotations

import hashlib
import json
import uuid as uuidlib
from typing import Any

from jobflow import Job
from monty.json import jsanitize

import mvflows

# Bump when the meaning of a job's output changes without its inputs changing.
JOB_CODE_VERSION = f"{mvflows.__version__}/1"
_NAMESPACE = uuidlib.UUID("6b1c2f0e-3d4a-4f7e-9a51-6d7c1e2b9f30")


def _canonical(obj: Any) -> Any:
    """JSON-able form with floats rounded, so harmless float noise gives the same key."""
    if isinstance(obj, float):
        return round(obj, 8)
    if isinstance(obj, dict):
        return {k: _canonical(v) for k, v in sorted(obj.items()) if k not in ("@version", "name")}
    if isinstance(obj, list | tuple):
        return [_canonical(v) for v in obj]
    return obj


def content_key(job: Job) -> str:
    """sha256 of everything that determines the job's output."""
    maker = getattr(job.function, "__self__", None)
    payload = {
        "function": f"{getattr(job.function, '__module__', '')}.{getattr(job.function, '__qualname__', '')}",
        "maker": jsanitize(maker, strict=True, enum_values=True) if maker is not None else None,
        "args": jsanitize(list(job.function_args), strict=True, enum_values=True),
        "kwargs": jsanitize(dict(job.function_kwargs), strict=True, enum_values=True),
        "code": JOB_CODE_VERSION,
    }
    text = json.dumps(_canonical(payload), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def keyed(job: Job) -> Job:
    """Give ``job`` the uuid of its content key (call before its output is used)."""
    key = content_key(job)
    job.set_uuid(str(uuidlib.uuid5(_NAMESPACE, key)))
    job.metadata = {**(job.metadata or {}), "content_key": key}
    return job
