"""Query statistics like Athena's: data scanned, files opened, partitions pruned, time."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from .conftest import BUCKET, DATABASE, Lake


@pytest.fixture
def monthly(lake: Lake) -> dict[str, bytes]:
    lake.create_table("trips", [("id", "bigint"), ("note", "string"), ("fare", "double")], prefix="trips",
                      partition_keys=[("month", "string")])
    bodies = {}
    for m in range(1, 13):
        t = pa.table({"id": pa.array(range(50), pa.int64()), "note": [f"note {m}-{i} " * 5 for i in range(50)],
                      "fare": [float(i) for i in range(50)]})
        key = f"trips/month={m:02d}/part-0.parquet"
        lake.put_parquet(key, t)
        bodies[key] = lake.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    lake.add_partitions("trips", "trips", [[f"{m:02d}"] for m in range(1, 13)], ["month"])
    return bodies


def _column_bytes(body: bytes, columns: set[str]) -> int:
    """Independent oracle: the compressed size of those columns' chunks, read from the object itself."""
    md = pq.read_metadata(io.BytesIO(body))
    return sum(md.row_group(r).column(c).total_compressed_size for r in range(md.num_row_groups)
               for c in range(md.num_columns) if md.row_group(r).column(c).path_in_schema in columns)


def test_a_one_month_filter_opens_one_file_of_twelve_and_scans_only_its_columns(engine, recorder, monthly):
    res = engine.query("SELECT sum(fare) FROM trips WHERE month = '03'", database=DATABASE)
    st = res.statistics
    assert res.rows == [(1225.0,)]
    assert (st.files_opened, st.partitions_total, st.partitions_scanned, st.partitions_pruned) == (1, 12, 1, 11)
    assert st.data_scanned_bytes == _column_bytes(monthly["trips/month=03/part-0.parquet"], {"fare"})
    assert {p.rsplit("/", 2)[-2] for p in recorder.opened} == {"month=03"}  # what was really opened
    assert st.total_ms >= st.engine_ms >= 0 and st.total_ms == st.planning_ms + st.engine_ms
    athena = st.to_athena()
    assert athena["DataScannedInBytes"] == st.data_scanned_bytes and "EngineExecutionTimeInMillis" in athena


def test_select_star_scans_every_column_of_every_file_read(engine, monthly):
    st = engine.query("SELECT * FROM trips WHERE month IN ('01', '02')", database=DATABASE).statistics
    every = {"id", "note", "fare"}
    assert st.data_scanned_bytes == sum(_column_bytes(monthly[f"trips/month={m}/part-0.parquet"], every)
                                        for m in ("01", "02"))
    assert (st.files_opened, st.partitions_pruned) == (2, 10)


def test_text_tables_scan_whole_files(lake, engine):
    body = b"1,a\n2,b\n3,c\n"
    lake.create_table("raw", [("id", "bigint"), ("v", "string")], prefix="raw", fmt="csv")
    lake.put_bytes("raw/f.csv", body)
    st = engine.query("SELECT count(*) FROM raw", database=DATABASE).statistics
    assert (st.data_scanned_bytes, st.files_opened, st.partitions_total) == (len(body), 1, 0)


def test_literal_queries_scan_nothing(engine):
    st = engine.query("SELECT 1", database=DATABASE).statistics
    assert (st.data_scanned_bytes, st.files_opened) == (0, 0)
