"""Errors of the local runtime and CLI. Messages name the offending value and what to do."""

from datalake_base.exceptions import DataLakeError

__all__ = ["DataLakeError", "LocalLakeError", "NotRunning"]


class LocalLakeError(DataLakeError):
    """The local lake cannot start, stop or be reached."""


class NotRunning(LocalLakeError):
    def __init__(self) -> None:
        super().__init__("the local lake is not running; start it with `datalake up`")
