"""Running a Flow here: the scheduler, the executors, progress, and the runner that joins them."""

from mvflows.execution.runner import RunReport, run_flow

__all__ = ["RunReport", "run_flow"]
