"""Errors of the arrival path. Messages name the offending value and what to do."""


class IngestionError(Exception):
    """Base error of the ingestion area."""


class EventShapeError(IngestionError):
    """An event is not one of the supported S3 notification shapes; the message is retried, then dead-lettered."""


class QuarantineError(IngestionError):
    """The object cannot be catalogued as data; it is kept untouched and marked ``quarantined``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
