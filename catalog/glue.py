"""Glue Data Catalog adapter: tables and partitions, written as a crawler's output would be."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError

Format = Literal["csv", "jsonl", "parquet"]

_SERDE: dict[str, dict[str, Any]] = {
    "parquet": {
        "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
    },
    "jsonl": {
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe"},
    },
    "csv": {
        "InputFormat": "org.apache.hadoop.mapred.TextInputFormat",
        "OutputFormat": "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"},
    },
}
OPEN_CSV_SERDE = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
_CLASSIFICATION = {"parquet": "parquet", "jsonl": "json", "csv": "csv"}


def storage_descriptor(
    fmt: Format, location: str, columns: Sequence[dict[str, str]], *, delimiter: str = ",", header: bool = True,
    compression: str = "none", quoted: bool = False,
) -> dict[str, Any]:
    """As a Glue crawler writes it. CSV: LazySimpleSerDe (typed columns) unless fields are quoted;
    then OpenCSVSerde, which reads every column as a string, so every column is declared string
    (typed columns would fail in Athena on empty numeric fields and text timestamps)."""
    sd = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _SERDE[fmt].items()}
    sd["SerdeInfo"] = dict(sd["SerdeInfo"])
    if fmt == "csv" and quoted:
        sd["SerdeInfo"] = {"SerializationLibrary": OPEN_CSV_SERDE,
                           "Parameters": {"separatorChar": delimiter, "quoteChar": '"', "escapeChar": "\\"}}
        columns = [{"name": c["name"], "type": "string"} for c in columns]
    elif fmt == "csv":
        sd["SerdeInfo"]["Parameters"] = {"field.delim": delimiter, "serialization.format": delimiter}
    sd["Columns"] = [{"Name": c["name"], "Type": c["type"]} for c in columns]
    sd["Location"] = location.rstrip("/") + "/"
    sd["Compressed"] = compression != "none"
    return sd


def table_input(
    name: str, fmt: Format, location: str, columns: Sequence[dict[str, str]], partition_keys: Sequence[str],
    *, delimiter: str = ",", header: bool = True, compression: str = "none", extra: dict[str, str] | None = None,
    quoted: bool = False,
) -> dict[str, Any]:
    params = {"classification": _CLASSIFICATION[fmt], "compressionType": compression, "typeOfData": "file"}
    if fmt == "csv":
        params["skip.header.line.count"] = "1" if header else "0"
        params["delimiter"] = delimiter
    params.update(extra or {})
    return {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": params,
        "StorageDescriptor": storage_descriptor(fmt, location, columns, delimiter=delimiter, header=header,
                                                compression=compression, quoted=quoted),
        "PartitionKeys": [{"Name": k, "Type": "string"} for k in partition_keys],
    }


class GlueCatalog:
    def __init__(self, database: str, client: Any) -> None:
        self.database = database
        self.client = client

    def get_table(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.get_table(DatabaseName=self.database, Name=name)["Table"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "EntityNotFoundException":
                return None
            raise

    def upsert_table(self, tinput: dict[str, Any]) -> Literal["created", "updated"]:
        """Create the table, or update it in place (the crawler's UpdateBehavior=UPDATE_IN_DATABASE)."""
        if self.get_table(tinput["Name"]) is None:
            try:
                self.client.create_table(DatabaseName=self.database, TableInput=tinput)
                return "created"
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "AlreadyExistsException":
                    raise
        self.client.update_table(DatabaseName=self.database, TableInput=tinput)
        return "updated"

    def add_partitions(self, table: str, values_and_locations: Iterable[tuple[list[str], str]]) -> int:
        """BatchCreatePartition, idempotent: partitions that already exist are left as they are."""
        tbl = self.get_table(table)
        if tbl is None:
            raise KeyError(table)
        base_sd = tbl["StorageDescriptor"]
        inputs = []
        for values, location in values_and_locations:
            sd = dict(base_sd)
            sd["Location"] = location.rstrip("/") + "/"
            inputs.append({"Values": values, "StorageDescriptor": sd})
        created = 0
        for i in range(0, len(inputs), 100):  # the API's batch limit
            chunk = inputs[i : i + 100]
            resp = self.client.batch_create_partition(DatabaseName=self.database, TableName=table, PartitionInputList=chunk)
            errors = resp.get("Errors", [])
            real = [e for e in errors if e["ErrorDetail"].get("ErrorCode") != "AlreadyExistsException"]
            if real:
                raise RuntimeError(f"BatchCreatePartition failed for {table}: {real[0]['ErrorDetail']}")
            created += len(chunk) - len(errors)
        return created

    def set_partitions(self, table: str, values_and_locations: Iterable[tuple[list[str], str]],
                       *, drop: Iterable[list[str]] | None = None) -> int:
        """Point each partition at its location (create or update), then drop partitions: those in
        ``drop``, or, when ``drop`` is None, every partition not listed.

        Repointing a partition is one atomic catalog write, so readers see either the previous
        run's files or the new run's, never a mix.
        """
        wanted = {tuple(v): loc for v, loc in values_and_locations}
        existing = {tuple(p["Values"]): p for p in self.partitions(table)}
        self.add_partitions(table, [(list(v), loc) for v, loc in wanted.items() if v not in existing])
        base_sd = self.get_table(table)["StorageDescriptor"]
        for values, loc in wanted.items():
            if values in existing and existing[values]["StorageDescriptor"].get("Location") != loc.rstrip("/") + "/":
                sd = {**base_sd, "Location": loc.rstrip("/") + "/"}
                self.client.update_partition(DatabaseName=self.database, TableName=table, PartitionValueList=list(values),
                                             PartitionInput={"Values": list(values), "StorageDescriptor": sd})
        if drop is None:
            stale = [list(v) for v in existing if v not in wanted]
        else:
            stale = [list(v) for v in map(tuple, drop) if v in existing and v not in wanted]
        for i in range(0, len(stale), 25):
            self.client.batch_delete_partition(DatabaseName=self.database, TableName=table,
                                               PartitionsToDelete=[{"Values": v} for v in stale[i : i + 25]])
        return len(wanted)

    def partitions(self, table: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("get_partitions").paginate(DatabaseName=self.database, TableName=table)
        return [p for page in pages for p in page["Partitions"]]

    def list_tables(self) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("get_tables").paginate(DatabaseName=self.database)
        return [t for p in pages for t in p["TableList"]]
