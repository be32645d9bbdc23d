"""SevenNet's tensor products compiled by ``torch.compile`` on CPUs: a quarter to a third off each call.

On the 97-atom spinel supercell with one thread, a SevenNet-0 call spends most of its time in
the element-wise products and sums of the convolutions' e3nn tensor products
(``aten::mul`` alone is a third), many small memory-bound kernels that inductor fuses.
Compiling only those five modules (``IrrepsConvolution.convolution``, shapes dynamic) took
the call to 0.67-0.75 of the eager one on the 2-core AMD VM (e.g. 0.39 against 0.58 s;
medians of 8-12 calls, compiled and eager alternated in one process) with forces equal to
5e-7 eV/Å. Compiling the e3nn linears as well gained nothing clear: they share one code
object, which hits dynamo's recompile limit, and the compile took half as long again.

Compiling costs ~60 s in the first process on a machine (~40 s each when two compile at
once) and ~10 s in every later one with the same torch thread count (inductor's on-disk
cache, ``TORCHINDUCTOR_CACHE_DIR``; the thread count is part of its key). A calculator
compiles on its first call (:func:`compile_on_first_call`), so ``mvflows run``'s check that
the model loads, in a process that computes nothing with more threads, costs no compile.
That first call starts with a probe call on a small cell, compiling forward and backward:
a compiler that cannot build for this machine fails there, and the model stays eager (one
warning line), never in a job.

``MVFLOWS_TORCH_COMPILE``: ``auto`` (default: SevenNet on a CPU), ``1`` (also on CUDA),
``0`` (never; the test suite sets it, since each test process would compile again).
It is an execution setting, like the worker count: results agree to float rounding, so
it is not part of any job's content key.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

logger = logging.getLogger(__name__)

ENV = "MVFLOWS_TORCH_COMPILE"


_EAGER = False  # inside eager()


@contextlib.contextmanager
def eager() -> Iterator[None]:
    """Calculators loaded inside the block stay eager (e.g. fake VASP's short-lived processes)."""
    global _EAGER
    before, _EAGER = _EAGER, True
    try:
        yield
    finally:
        _EAGER = before


def wanted(meta: str, calculator: Any) -> bool:
    """Whether ``calculator`` (an ASE calculator of force field ``meta``) is to be compiled."""
    setting = os.environ.get(ENV, "auto").strip().lower()
    if _EAGER or setting in ("0", "false", "no", "off") or meta != "SevenNet":
        return False
    if setting in ("1", "true", "yes", "on"):
        return True
    return str(getattr(calculator, "device", "cpu")).startswith("cpu")


def compile_on_first_call(calculator: Any) -> None:
    """Make ``calculator``'s first ``calculate`` compile the model first (:func:`compile_sevennet`)."""
    eager_calculate = calculator.calculate

    def calculate(*args: Any, **kwargs: Any) -> Any:
        del calculator.calculate  # once: the probe and every later call go to the class's method
        compile_sevennet(calculator)
        return eager_calculate(*args, **kwargs)

    calculator.calculate = calculate


def compile_sevennet(calculator: Any) -> bool:
    """Compile the convolutions' tensor products of a ``SevenNetCalculator`` in place.

    Returns whether the compiled model is in use; on any error in the probe the eager
    modules are put back.
    """
    import torch
    from sevenn.nn.convolution import IrrepsConvolution

    convolutions = [m for m in calculator.model.modules() if isinstance(m, IrrepsConvolution)]
    if not convolutions:
        return False
    eager = [m.convolution for m in convolutions]
    for module in convolutions:
        module.convolution = torch.compile(module.convolution, dynamic=True)
    try:
        _probe(calculator)
    except Exception as exc:  # noqa: BLE001 - whatever the compiler raises, eager still works
        for module, original in zip(convolutions, eager, strict=True):
            module.convolution = original
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        logger.warning(
            "torch.compile of SevenNet failed (%s: %s); running it eager", type(exc).__name__, first[:200]
        )
        return False
    return True


def _probe(calculator: Any) -> None:
    """One energy-and-forces call on a small periodic cell: compiles forward and backward now."""
    from ase.build import bulk

    atoms = bulk("MgO", "rocksalt", a=4.21, cubic=True)  # 8 atoms, a few hundred edges at 5 Å
    atoms.rattle(0.02, seed=1)
    atoms.calc = calculator
    atoms.get_forces()
    calculator.reset()
