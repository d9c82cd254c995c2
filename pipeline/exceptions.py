"""Errors of the pipeline area. Messages name the dataset or run and what to do."""

from __future__ import annotations

from datalake_base.exceptions import DataLakeError


class PipelineError(DataLakeError):
    """Base error of the pipeline area."""


class LeaseHeld(PipelineError):
    """Another run holds the dataset's lease: at most one run per dataset at a time."""

    def __init__(self, dataset: str, run_id: str | None, expires_at: float | None) -> None:
        super().__init__(
            f"dataset {dataset!r} is being processed by run {run_id or '?'} (lease valid until epoch "
            f"{expires_at or 0:.0f}); wait for it (`datalake runs {dataset}`) and try again"
        )
        self.dataset, self.run_id, self.expires_at = dataset, run_id, expires_at


class NotDue(PipelineError):
    """The dataset has no pending change whose debounce has passed; nothing to start."""


class LeaseLost(PipelineError):
    """The run's lease expired and was taken over (or released): the run must stop."""

    def __init__(self, dataset: str, owner: str) -> None:
        super().__init__(
            f"the lease of dataset {dataset!r} held by {owner[:8]}... was lost (it expired after "
            "DATALAKE_PIPELINE_LEASE seconds without a heartbeat, or was released); the run stops, a newer run owns it"
        )


class RunNotFound(PipelineError):
    def __init__(self, dataset: str, run_id: str) -> None:
        super().__init__(f"no run {run_id!r} for dataset {dataset!r}; list runs with `datalake runs {dataset}`")


class RunNotValidated(PipelineError):
    def __init__(self, dataset: str, run_id: str, error: str | None) -> None:
        super().__init__(f"run {run_id} of {dataset!r} did not validate ({error or 'no reason recorded'}); nothing "
                         f"was published: fix the cause and re-run the pipeline (`datalake run {dataset}`)")
