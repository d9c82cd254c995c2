"""Errors of the catalog area. Messages name the offending value and what to do."""


class CatalogError(Exception):
    """Base error of the catalog area."""


class DatasetNotFound(CatalogError):
    def __init__(self, dataset: str) -> None:
        super().__init__(
            f"dataset {dataset!r} has no catalogued files; drop files under s3://<landing>/{dataset}/ "
            "and check `datalake status`, or list datasets with `datalake datasets`"
        )
        self.dataset = dataset


class StaleEvent(CatalogError):
    """A write lost to a newer event for the same key (sequencer order); safe to drop."""
