"""Errors of the local runtime and CLI. Messages name the offending value and what to do."""


class DataLakeError(Exception):
    """Base error of the service's own plumbing."""


class LocalLakeError(DataLakeError):
    """The local lake cannot start, stop or be reached."""


class NotRunning(LocalLakeError):
    def __init__(self) -> None:
        super().__init__("the local lake is not running; start it with `datalake up`")
