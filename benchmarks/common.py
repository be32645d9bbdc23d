"""What every benchmark records: the machine, the date, and force calls counted at the model."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "machine": {
            "cores": os.cpu_count(),
            "cpu_model": cpu_model(),
            "python": platform.python_version(),
            "load_average_1min_at_end": load,
        },
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {path}")
    return path


class CallCounter:
    """Counts ASE ``calculate`` calls of every force-field calculator class in this process.

    Calls made in mvflows' band worker processes are counted by the band itself
    (``ImageEvaluator.calls``); this adds them through a hook on the evaluator.
    """

    def __enter__(self) -> CallCounter:
        from mvflows import image_workers

        self.n = 0
        counter = self
        self._patched = []
        for cls in _model_calculator_classes():
            original = cls.calculate

            def counted(calc, *a, _orig=original, **k):  # type: ignore[no-untyped-def]
                counter.n += 1
                return _orig(calc, *a, **k)

            cls.calculate = counted
            self._patched.append((cls, original))
        original_call = image_workers.ImageEvaluator.__call__

        def counted_eval(ev, structures, _orig=original_call):  # type: ignore[no-untyped-def]
            if ev.workers > 1 and len(structures) > 1:
                counter.n += len(structures)  # evaluated in worker processes
            return _orig(ev, structures)

        image_workers.ImageEvaluator.__call__ = counted_eval
        self._patched.append((image_workers.ImageEvaluator, original_call, "__call__"))
        return self

    def __exit__(self, *exc) -> None:
        for entry in self._patched:
            if len(entry) == 3:
                setattr(entry[0], entry[2], entry[1])
            else:
                entry[0].calculate = entry[1]


def _model_calculator_classes() -> list[type]:
    classes = []
    try:
        from sevenn.calculator import SevenNetCalculator

        classes.append(SevenNetCalculator)
    except ImportError:
        pass
    try:
        from chgnet.model.dynamics import CHGNetCalculator

        classes.append(CHGNetCalculator)
    except ImportError:
        pass
    return classes
