"""Machine-learned potentials: names, what identifies a model, and one loaded copy per process.

This module is light on purpose: the NEB band's image workers, the job workers, fake VASP
and the campaign checker all import it, and none of them may pull in the makers that
import them back (``mvflows.calculators`` builds on this module, never the reverse).
"""

from __future__ import annotations

import ast
import functools
import json
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any


# The checkpoints whose weights ship inside their Python package and so load offline, by
# short name: what a campaign's ``calculator.model`` (or ``--model``) may say. Each is an
# atomate2 force field (an ``MLFF`` value) plus the calculator keywords that pick the
# checkpoint; a package's default checkpoint has none, so ``SevenNet`` and ``7net-0`` are one
# model with one content key. How each one fares, and why the default is the default:
# docs/models.md (measured by benchmarks/model.py).
@dataclass(frozen=True)
class OfflineModel:
    name: str
    mlff: str
    kwargs: tuple[tuple[str, str], ...]
    about: str

    def calculator_kwargs(self) -> dict[str, str]:
        return dict(self.kwargs)


MODEL_CATALOG: dict[str, OfflineModel] = {
    m.name: m
    for m in (
        OfflineModel("7net-0", "SevenNet", (), "SevenNet-0 (11 Jul 2024), MPtrj, PBE(+U)"),
        OfflineModel(
            "7net-0-22may2024",
            "SevenNet",
            (("model", "7net-0_22may2024"),),
            "SevenNet-0 (22 May 2024), MPtrj",
        ),
        OfflineModel("7net-l3i5", "SevenNet", (("model", "7net-l3i5"),), "SevenNet l3i5 (lmax 3), MPtrj"),
        OfflineModel(
            "7net-mf-0-pbe",
            "SevenNet",
            (("model", "7net-mf-0"), ("modal", "PBE")),
            "SevenNet-MF-0, PBE head (MPtrj + MP r2SCAN, multi-fidelity)",
        ),
        OfflineModel(
            "7net-mf-0-r2scan",
            "SevenNet",
            (("model", "7net-mf-0"), ("modal", "R2SCAN")),
            "SevenNet-MF-0, r2SCAN head",
        ),
        OfflineModel("chgnet-0.3.0", "CHGNet", (), "CHGNet 0.3.0, MPtrj"),
        OfflineModel("chgnet-0.2.0", "CHGNet", (("model", "0.2.0"),), "CHGNet 0.2.0, MPtrj (older)"),
        OfflineModel(
            "chgnet-r2scan", "CHGNet", (("model", "r2scan"),), "CHGNet r2SCAN (transfer-learned on MP r2SCAN)"
        ),
    )
}
OFFLINE_MODELS = tuple(MODEL_CATALOG)
DEFAULT_MODEL = "SevenNet"  # = 7net-0
# ``calculator.committee: default``: the three models benchmarks/model.py measured on the
# Table 1 pairs, two architectures, so that their errors are not all the same
# (docs/models.md: why these, with their numbers)
DEFAULT_COMMITTEE = ("7net-0", "chgnet-0.2.0", "chgnet-0.3.0")

# model -> (distribution that ships it, calculator keyword naming the checkpoint, default checkpoint)
_CHECKPOINTS: dict[str, tuple[str, str, str]] = {
    "SevenNet": ("sevenn", "model", "7net-0"),
    "CHGNet": ("chgnet", "model", "0.3.0"),
    "MACE-MP-0": ("mace-torch", "model", "medium"),
    "MACE": ("mace-torch", "model", "medium"),
    "MatterSim": ("mattersim", "load_path", "default"),
    "M3GNet": ("matgl", "path", "default"),
}


# model -> (package, its module file, class) of the ASE calculator atomate2 builds, for its keywords
_CALCULATOR_CLASSES: dict[str, tuple[str, str, str]] = {
    "SevenNet": ("sevenn", "calculator.py", "SevenNetCalculator"),
    "CHGNet": ("chgnet", "model/dynamics.py", "CHGNetCalculator"),
}


# model -> the calculator keyword that picks the device (cpu, cuda); absent means the
# package's own choice, which is CUDA wherever torch sees a GPU
DEVICE_KEYWORDS: dict[str, str] = {
    "SevenNet": "device",
    "CHGNet": "use_device",
    "MatterSim": "device",
    "MACE": "device",
    "MACE-MP-0": "device",
}


def mlff_name(name: Any) -> str:
    """The atomate2 force-field value of an ``MLFF`` member or string (``MLFF.SevenNet`` -> ``SevenNet``)."""
    return name.value if hasattr(name, "value") else str(name).removeprefix("MLFF.")


def device_kwargs(mlff: str, device: str) -> dict[str, str]:
    """Calculator keywords that put a model on ``device`` (``auto``: none, the package decides)."""
    if device == "auto":
        return {}
    keyword = DEVICE_KEYWORDS.get(mlff)
    if keyword is None:
        raise ValueError(f"mvflows does not know how to put {mlff} on {device!r}; use device: auto")
    return {keyword: device}


def _mlff():
    from atomate2.forcefields.utils import MLFF

    return MLFF


def resolve_model_name(name: str) -> str:
    """Canonical atomate2 force-field name (an ``MLFF`` value) for a user's spelling."""
    catalogued = MODEL_CATALOG.get(str(name).lower())
    if catalogued is not None:
        return catalogued.mlff
    mlff = _mlff()
    wanted = str(name).removeprefix("MLFF.").lower().replace("_", "-")
    for member in mlff:
        if member is mlff.Forcefield:
            continue
        if wanted in (member.value.lower(), member.name.lower().replace("_", "-")):
            return member.value
    known = ", ".join(m.value for m in mlff if m is not mlff.Forcefield)
    raise ValueError(
        f"unknown force field {name!r}; offline models: {', '.join(OFFLINE_MODELS)}; atomate2 knows: {known}"
    )


def resolve_model(name: str, model_kwargs: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(atomate2 force field, calculator keywords) of a model name and the user's keywords.

    A catalogue name (``7net-l3i5``) brings its checkpoint keywords, which the user's own
    keywords override; keywords equal to atomate2's defaults are dropped, so every spelling
    of one model (``SevenNet``, ``7net-0``, ``model_kwargs: {model: 7net-0}``) is one
    content key.
    """
    catalogued = MODEL_CATALOG.get(str(name).lower())
    mlff = resolve_model_name(name)
    kwargs = {**(catalogued.calculator_kwargs() if catalogued else {}), **(model_kwargs or {})}
    defaults = default_kwargs(mlff)
    return mlff, {k: v for k, v in kwargs.items() if not (k in defaults and defaults[k] == v)}


def model_label(name: str, model_kwargs: dict[str, Any] | None = None) -> str:
    """The short name results carry: the package's for its default checkpoint (``SevenNet``),
    the catalogue's for another (``7net-l3i5``), else the force field and its keywords."""
    mlff, kwargs = resolve_model(name, model_kwargs)
    if not kwargs:
        return mlff
    for entry in MODEL_CATALOG.values():
        if entry.mlff == mlff and entry.calculator_kwargs() == kwargs:
            return entry.name
    return f"{mlff}({', '.join(f'{k}={v}' for k, v in sorted(kwargs.items()))})"


def default_kwargs(name: str) -> dict[str, Any]:
    """atomate2's default calculator keywords of a model (e.g. SevenNet: ``{"model": "7net-0"}``)."""
    from atomate2.forcefields.utils import _DEFAULT_CALCULATOR_KWARGS

    mlff = _mlff()
    return dict(_DEFAULT_CALCULATOR_KWARGS.get(mlff(name), {}))


def calculator_keywords(name: str) -> frozenset[str] | None:
    """The keywords a model's ASE calculator takes (what ``model_kwargs`` may set); None if unknown here.

    Read from the calculator's source, not imported: importing it loads torch (seconds), and
    a campaign is checked before anything runs. A ``**kwargs`` of the constructor goes to
    ASE's ``Calculator``, which keeps unknown keywords without using them: its own named
    keywords count, the rest would be silently ignored.
    """
    meta = resolve_model_name(name)
    if meta not in _CALCULATOR_CLASSES:
        return None
    package, module, cls = _CALCULATOR_CLASSES[meta]
    try:
        spec = util.find_spec(package)
        source = Path(next(iter(spec.submodule_search_locations or []))) / module  # type: ignore[union-attr]
        tree = ast.parse(source.read_text())
    except (AttributeError, ImportError, OSError, StopIteration, SyntaxError, ValueError):
        return None
    init = next(
        (
            item
            for node in tree.body
            if isinstance(node, ast.ClassDef) and node.name == cls
            for item in node.body
            if isinstance(item, ast.FunctionDef) and item.name == "__init__"
        ),
        None,
    )
    if init is None:
        return None
    args = init.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]} - {"self"}
    if args.kwarg is not None:
        import inspect

        from ase.calculators.calculator import Calculator

        names |= {p for p in inspect.signature(Calculator.__init__).parameters if p != "self"} - {"kwargs"}
    return frozenset(names | set(default_kwargs(meta)))


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def model_identity(name: str, calculator_kwargs: dict[str, Any] | None = None) -> dict[str, str]:
    """What decides a model's energies: its package, the package's version and the checkpoint.

    Part of every force-field job's content key (:mod:`mvflows.keys`), so that an upgraded
    package or another checkpoint never reuses energies stored by the old one.
    """
    meta = mlff_name(name)
    distribution, keyword, default = _CHECKPOINTS.get(meta, (meta.lower(), "model", "default"))
    kwargs = {**default_kwargs(meta), **(calculator_kwargs or {})} if meta != "Forcefield" else {}
    checkpoint = kwargs.get(keyword, default)
    identity = {
        "model": meta,
        "package": distribution,
        "version": _version(distribution),
        "checkpoint": str(checkpoint),
    }
    if kwargs.get("modal") is not None:  # a multi-fidelity checkpoint's head
        identity["head"] = str(kwargs["modal"])
    return identity


def load_calculator(meta: str, kwargs: dict[str, Any]) -> Any:
    """A new ASE calculator of an atomate2 force field (every process that computes loads through here)."""
    from atomate2.forcefields.utils import ase_calculator

    from mvflows import model_compile
    from mvflows.atomate2_fixes import load_chgnet_checkpoint

    if meta == "CHGNet":
        kwargs = load_chgnet_checkpoint(kwargs)
    calculator = ase_calculator(_mlff()(meta), **kwargs)
    if model_compile.wanted(meta, calculator):
        model_compile.compile_on_first_call(calculator)
    return calculator


@functools.lru_cache(maxsize=4)
def _cached(meta: str, kwargs_json: str) -> Any:
    return load_calculator(meta, json.loads(kwargs_json))


def cached_calculator(calculator_meta: Any, **kwargs: Any) -> Any:
    """One ASE calculator per (model, settings) in this process.

    Every atomate2 job deserialises a new Maker and would load the model again (5 s for
    SevenNet-0 here); see :mod:`mvflows.atomate2_fixes`, item 6.
    """
    meta = calculator_meta.value if hasattr(calculator_meta, "value") else str(calculator_meta)
    return _cached(meta, json.dumps(kwargs, sort_keys=True, default=str))


def load_model_or_fail(model: str, model_kwargs: dict | None = None) -> None:
    """Load a model now, so a run fails before any compute when it cannot be loaded."""
    name, kwargs = resolve_model(model, model_kwargs)
    kwargs = {**default_kwargs(name), **kwargs}
    try:
        cached_calculator(name, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any loader error means the same to the user
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RuntimeError(
            f"force field {name!r} cannot be loaded on this machine ({type(exc).__name__}: {first}); "
            f"models that work offline: {', '.join(OFFLINE_MODELS)}"
        ) from None
