"""A small lake on the moto server: a bucket, a Glue database, tables and Parquet/CSV objects."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from athena_queries import LocalAthena, s3_filesystem

DATABASE = "lakedb"
BUCKET = "test-lake"


class RecordingHandler(pafs.FileSystemHandler):
    """Delegates to a real filesystem and records every file opened for reading."""

    def __init__(self, fs: pafs.FileSystem) -> None:
        self.fs = fs
        self.opened: list[str] = []

    def get_type_name(self): return "recording"
    def normalize_path(self, path): return self.fs.normalize_path(path)
    def get_file_info(self, paths): return self.fs.get_file_info(paths)
    def get_file_info_selector(self, selector): return self.fs.get_file_info(selector)
    def create_dir(self, path, recursive): return self.fs.create_dir(path, recursive=recursive)
    def delete_dir(self, path): return self.fs.delete_dir(path)
    def delete_dir_contents(self, path, missing_dir_ok=False): return self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)
    def delete_root_dir_contents(self): raise NotImplementedError
    def delete_file(self, path): return self.fs.delete_file(path)
    def move(self, src, dest): return self.fs.move(src, dest)
    def copy_file(self, src, dest): return self.fs.copy_file(src, dest)
    def open_output_stream(self, path, metadata): return self.fs.open_output_stream(path, metadata=metadata)
    def open_append_stream(self, path, metadata): return self.fs.open_append_stream(path, metadata=metadata)
    def __eq__(self, other): return self is other
    def __ne__(self, other): return self is not other

    def open_input_stream(self, path):
        self.opened.append(path)
        return self.fs.open_input_stream(path)

    def open_input_file(self, path):
        self.opened.append(path)
        return self.fs.open_input_file(path)


@dataclass
class Lake:
    s3: Any
    glue: Any
    bucket: str = BUCKET
    database: str = DATABASE
    objects: list[str] = field(default_factory=list)

    def put_parquet(self, key: str, table: pa.Table) -> str:
        buf = io.BytesIO()
        pq.write_table(table, buf)
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=buf.getvalue())
        self.objects.append(key)
        return f"s3://{self.bucket}/{key}"

    def put_bytes(self, key: str, body: bytes) -> str:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        return f"s3://{self.bucket}/{key}"

    def create_table(
        self,
        name: str,
        columns: list[tuple[str, str]],
        *,
        prefix: str,
        partition_keys: list[tuple[str, str]] = (),
        fmt: str = "parquet",
        serde_params: dict[str, str] | None = None,
        table_params: dict[str, str] | None = None,
    ) -> None:
        formats = {
            "parquet": (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            ),
            "csv": ("org.apache.hadoop.mapred.TextInputFormat", "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"),
            "json": ("org.apache.hadoop.mapred.TextInputFormat", "org.openx.data.jsonserde.JsonSerDe"),
        }
        input_format, serde = formats[fmt]
        self.glue.create_table(
            DatabaseName=self.database,
            TableInput={
                "Name": name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": {"classification": fmt, **(table_params or {})},
                "PartitionKeys": [{"Name": k, "Type": t} for k, t in partition_keys],
                "StorageDescriptor": {
                    "Columns": [{"Name": c, "Type": t} for c, t in columns],
                    "Location": f"s3://{self.bucket}/{prefix}/",
                    "InputFormat": input_format,
                    "SerdeInfo": {"SerializationLibrary": serde, "Parameters": serde_params or {}},
                },
            },
        )

    def add_partitions(self, table: str, prefix: str, values: list[list[str]], keys: list[str]) -> None:
        t = self.glue.get_table(DatabaseName=self.database, Name=table)["Table"]
        sd = t["StorageDescriptor"]
        self.glue.batch_create_partition(
            DatabaseName=self.database,
            TableName=table,
            PartitionInputList=[
                {
                    "Values": v,
                    "StorageDescriptor": {
                        **sd,
                        "Location": f"s3://{self.bucket}/{prefix}/" + "/".join(f"{k}={x}" for k, x in zip(keys, v)) + "/",
                    },
                }
                for v in values
            ],
        )


@pytest.fixture
def lake(local_settings, s3, glue) -> Lake:
    s3.create_bucket(Bucket=BUCKET)
    glue.create_database(DatabaseInput={"Name": DATABASE})
    return Lake(s3=s3, glue=glue)


@pytest.fixture
def recorder(local_settings) -> RecordingHandler:
    return RecordingHandler(s3_filesystem(local_settings))


@pytest.fixture
def engine(glue, recorder) -> LocalAthena:
    return LocalAthena(glue_client=glue, s3_filesystem=pafs.PyFileSystem(recorder))
