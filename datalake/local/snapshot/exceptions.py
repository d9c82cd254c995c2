"""Errors of saving and restoring the local lake's state. Messages name the folder and what to do."""

from __future__ import annotations

from pathlib import Path

from datalake.exceptions import LocalLakeError

FIX = ("run `datalake down --discard` to drop it and start empty, or move the folder away "
       "(keep it to inspect) and run `datalake up` again")


class SnapshotError(LocalLakeError):
    """The local lake's state could not be saved or restored."""


class CorruptSnapshot(SnapshotError):
    """The snapshot on disk is incomplete or damaged; nothing of it was applied."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"the saved local lake in {path} is damaged: {problem}. Nothing was restored; {FIX}")


class RestoreFailed(SnapshotError):
    """Applying a verified snapshot failed part-way; the endpoint is discarded with it."""

    def __init__(self, path: Path, step: str, cause: Exception) -> None:
        super().__init__(
            f"restoring the saved local lake from {path} failed while {step}: {cause}. The lake was not started "
            f"(a half-restored lake is never left running); the snapshot is untouched. {FIX[0].upper()}{FIX[1:]}"
        )
