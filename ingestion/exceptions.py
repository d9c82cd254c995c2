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


class NeedMoreBytes(IngestionError):
    """A head holds no complete first line (a CSV header or JSON line longer than it): read a longer head."""

    def __init__(self, what: str, have: int) -> None:
        super().__init__(f"no complete {what} in the first {have} characters; profile a longer head of the object")
        self.what, self.have = what, have


class ConcurrentArrivals(IngestionError):
    """Other writers kept changing one key's records; the message is retried by the queue."""

    def __init__(self, bucket: str, key: str, attempts: int) -> None:
        super().__init__(
            f"s3://{bucket}/{key}: the catalog record changed under {attempts} consecutive attempts; the queue "
            "will redeliver this event. If it keeps happening, lower DATALAKE_LOCAL_CONCURRENCY or look for a "
            "process rewriting this key in a loop"
        )


class QueueNotFound(IngestionError):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"queue {name!r} does not exist; start the lake with `datalake up` (local) or deploy the stack, "
            "or set DATALAKE_ARRIVALS_QUEUE / DATALAKE_ARRIVALS_DLQ to the queue names"
        )
