"""LocalAthena against the moto server: Glue tables over Parquet/CSV/JSON objects in S3."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pyarrow as pa
import pytest

from athena_queries import (
    LocalAthena,
    ReadOnlyQueryError,
    TableNotFoundError,
    load_named_query,
)
from athena_queries.engine import build_query_engine

from .conftest import DATABASE, Lake

DATES = ["2024-01-01", "2024-01-02", "2024-01-03"]
ACCEPTED_COLS = [("uniq_id", "string"), ("organization", "string"), ("salary", "double"), ("posted", "date"),
                 ("source_key", "string"), ("source_row", "bigint")]
REJECTED_COLS = ACCEPTED_COLS + [("comments", "string"), ("reject_reasons", "array<string>")]
PARTS = [("dataset", "string"), ("ingest_date", "string")]
REASONS = ["REJECT:null_values_found_in_organization", "REJECT:bad_job_type", "REJECT:location_length"]


def _accepted(day_index: int, n: int) -> pa.Table:
    return pa.table({
        "uniq_id": [f"a{day_index}-{i}" for i in range(n)],
        "organization": [f"org{i % 4}" for i in range(n)],
        "salary": [1000.0 * (i + 1) + day_index for i in range(n)],
        "posted": [dt.date(2024, 1, 1) + dt.timedelta(days=i % 10) for i in range(n)],
        "source_key": [f"landing/job_reqs/file{day_index}.csv"] * n,
        "source_row": pa.array(range(n), pa.int64()),
    })


def _rejected(day_index: int, n: int) -> pa.Table:
    reasons = [REASONS[: 1 + (i + day_index) % 3] for i in range(n)]
    return pa.table({
        "uniq_id": [f"r{day_index}-{i}" for i in range(n)],
        "organization": [None if i % 2 else f"org{i}" for i in range(n)],
        "salary": [float(i) for i in range(n)],
        "posted": [dt.date(2024, 2, 1)] * n,
        "source_key": [f"landing/job_reqs/file{day_index}.csv"] * n,
        "source_row": pa.array(range(100, 100 + n), pa.int64()),
        "comments": ["|".join(r) for r in reasons],
        "reject_reasons": pa.array(reasons, pa.list_(pa.string())),
    })


@pytest.fixture
def split_lake(lake: Lake) -> dict[str, pd.DataFrame]:
    """dq_accepted/dq_rejected with registered partitions; returns the frames written, for oracles."""
    frames: dict[str, list[pd.DataFrame]] = {"accepted": [], "rejected": []}
    lake.create_table("dq_accepted", ACCEPTED_COLS, prefix="accepted", partition_keys=PARTS)
    lake.create_table("dq_rejected", REJECTED_COLS, prefix="rejected", partition_keys=PARTS)
    for kind, build in (("accepted", _accepted), ("rejected", _rejected)):
        values = []
        for d, day in enumerate(DATES):
            for ds_name, n in (("job_reqs", 5 + d), ("other", 3)):
                t = build(d, n)
                lake.put_parquet(f"{kind}/dataset={ds_name}/ingest_date={day}/part-{d}.parquet", t)
                frames[kind].append(t.to_pandas().assign(dataset=ds_name, ingest_date=day))
                values.append([ds_name, day])
        lake.add_partitions(f"dq_{kind}", kind, values, ["dataset", "ingest_date"])
        # the per-dataset tables `datalake validate` registers over the same objects
        cols = ACCEPTED_COLS if kind == "accepted" else REJECTED_COLS
        lake.create_table(f"{kind}_job_reqs", cols, prefix=f"{kind}/dataset=job_reqs",
                          partition_keys=[("ingest_date", "string")])
        lake.add_partitions(f"{kind}_job_reqs", f"{kind}/dataset=job_reqs", [[d] for d in DATES], ["ingest_date"])
    return {k: pd.concat(v, ignore_index=True) for k, v in frames.items()}


def test_aggregate_answer_matches_pandas_over_the_same_objects(engine, split_lake):
    # given the accepted rows written to the lake
    acc = split_lake["accepted"]
    # when Athena SQL aggregates them per ingest date
    result = engine.query(
        "SELECT ingest_date, count(*) AS n, sum(salary) AS total, max(posted) AS last_posted "
        "FROM dq_accepted WHERE dataset = 'job_reqs' AND salary > 1500 GROUP BY ingest_date ORDER BY ingest_date",
        database=DATABASE,
    )
    # then the answer equals pandas' answer over the frames that were uploaded
    sel = acc[(acc.dataset == "job_reqs") & (acc.salary > 1500)]
    expected = sel.groupby("ingest_date").agg(n=("uniq_id", "size"), total=("salary", "sum"), last_posted=("posted", "max"))
    assert result.columns == ["ingest_date", "n", "total", "last_posted"]
    assert [(r[0], r[1], r[2], r[3]) for r in result.rows] == [
        (d, int(row.n), float(row.total), row.last_posted) for d, row in expected.iterrows()
    ]
    assert result.engine == "local" and result.elapsed_s > 0
    assert result.to_pandas().shape == (len(expected), 4)


def test_partition_filter_opens_only_the_matching_partition(engine, recorder, split_lake):
    # when the query filters on both partition columns
    result = engine.query(
        "SELECT count(*) FROM lakedb.dq_accepted a WHERE a.ingest_date = '2024-01-02' AND dataset = 'job_reqs'",
        database="ignored_default",
    )
    # then only that partition's file is opened and the count is that file's rows
    assert result.rows == [(6,)]
    assert recorder.opened and all("dataset=job_reqs/ingest_date=2024-01-02/" in p for p in recorder.opened)
    scan = engine.last_scans[0]
    assert (scan.partitions_total, scan.partitions_selected) == (6, 1)


def test_partition_range_and_in_predicates_prune_and_keep_answers(engine, recorder, split_lake):
    result = engine.query(
        "SELECT dataset, count(*) FROM dq_accepted WHERE ingest_date >= '2024-01-02' "
        "AND dataset IN ('other') GROUP BY 1",
        database=DATABASE,
    )
    assert result.rows == [("other", 6)]
    assert engine.last_scans[0].partitions_selected == 2
    assert all("dataset=other/" in p for p in recorder.opened)


def test_outer_join_side_is_not_pruned(engine, split_lake):
    # a filter on the null-supplying side must not remove rows before the join
    result = engine.query(
        "SELECT count(*) FROM dq_accepted a LEFT JOIN dq_rejected r ON a.source_key = r.source_key "
        "AND a.source_row = r.source_row WHERE r.ingest_date IS NULL AND a.dataset = 'other'",
        database=DATABASE,
    )
    assert result.rows == [(9,)]
    assert all(s.partitions_selected == s.partitions_total for s in engine.last_scans)


def test_partitions_are_discovered_from_hive_folders_when_none_are_registered(lake, engine):
    # given a partitioned table whose partitions were never registered
    lake.create_table("events", [("id", "bigint"), ("v", "string")], prefix="raw/events",
                      partition_keys=[("day", "date"), ("hour", "int")])
    for day, hour, ids in (("2024-03-01", 1, [1, 2]), ("2024-03-01", 2, [3]), ("2024-03-02", 1, [4, 5, 6])):
        lake.put_parquet(f"raw/events/day={day}/hour={hour}/f.parquet",
                         pa.table({"id": pa.array(ids, pa.int64()), "v": [str(i) for i in ids]}))
    lake.put_bytes("raw/events/day=2024-03-01/hour=1/_SUCCESS", b"")
    # when filtering on the typed partition columns
    result = engine.query(
        "SELECT day, hour, sum(id) FROM events WHERE day = DATE '2024-03-01' GROUP BY 1, 2 ORDER BY 2",
        database=DATABASE,
    )
    # then partition values come back typed per Glue, and only that day was read
    assert result.rows == [(dt.date(2024, 3, 1), 1, 3), (dt.date(2024, 3, 1), 2, 3)]
    assert (engine.last_scans[0].partitions_total, engine.last_scans[0].partitions_selected) == (3, 2)


def test_csv_raw_table_is_read_by_position_with_glue_types(lake, engine):
    # given a raw CSV whose header differs from the Glue names (Athena maps text by position)
    lake.create_table(
        "raw_jobs", [("uniq_id", "string"), ("salary", "int"), ("posted", "date"), ("note", "string")],
        prefix="landing/raw_jobs", fmt="csv",
        serde_params={"field.delim": ","}, table_params={"skip.header.line.count": "1"},
    )
    lake.put_bytes("landing/raw_jobs/a.csv", b"ID,Pay,Date,Note\nu1,10,2024-01-05,hello\nu2,,2024-01-06,\n")
    lake.put_bytes("landing/raw_jobs/b.csv", b"ID,Pay,Date,Note\nu3,32,2024-01-07,\"a, b\"\n")
    result = engine.query("SELECT * FROM raw_jobs ORDER BY uniq_id", database=DATABASE)
    assert result.columns == ["uniq_id", "salary", "posted", "note"]
    assert result.rows == [
        ("u1", 10, dt.date(2024, 1, 5), "hello"),
        ("u2", None, dt.date(2024, 1, 6), ""),
        ("u3", 32, dt.date(2024, 1, 7), '"a'),  # LazySimpleSerDe: quotes mean nothing, the comma splits
    ]
    assert result.to_arrow().schema.field("salary").type == pa.int32()


def test_lazy_simple_serde_reads_bad_numbers_as_null_and_short_lines_padded(lake, engine):
    lake.create_table("lazy", [("id", "string"), ("n", "bigint"), ("ts", "timestamp")], prefix="raw/lazy", fmt="csv",
                      serde_params={"field.delim": ","})
    lake.put_bytes("raw/lazy/a.csv", b"a,12,2024-01-02 03:04:05\nb,x1,\nc\n")
    rows = engine.query("SELECT id, n, ts FROM lazy ORDER BY id", database=DATABASE).rows
    assert rows == [("a", 12, dt.datetime(2024, 1, 2, 3, 4, 5)), ("b", None, None), ("c", None, None)]


def _open_csv_table(lake: Lake, name: str, columns: list[tuple[str, str]], body: bytes) -> None:
    lake.create_table(name, columns, prefix=f"raw/{name}", fmt="csv",
                      serde_params={"separatorChar": ",", "quoteChar": '"'})
    t = lake.glue.get_table(DatabaseName=DATABASE, Name=name)["Table"]
    sd = t["StorageDescriptor"]
    sd["SerdeInfo"]["SerializationLibrary"] = "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    lake.glue.update_table(DatabaseName=DATABASE, TableInput={k: t[k] for k in ("Name", "Parameters", "PartitionKeys",
                                                                             "TableType")} | {"StorageDescriptor": sd})
    lake.put_bytes(f"raw/{name}/a.csv", body)


def test_open_csv_serde_honours_quotes(lake, engine):
    _open_csv_table(lake, "quoted", [("id", "string"), ("note", "string")], b'"u1","a, b"\n"u2",""\n')
    assert engine.query("SELECT id, note FROM quoted ORDER BY id", database=DATABASE).rows == [("u1", "a, b"), ("u2", "")]


def test_open_csv_serde_fails_where_athena_fails(lake, engine):
    # AWS: OpenCSVSerde reads no empty numeric field and no text timestamp; local mode must fail too
    _open_csv_table(lake, "strict", [("id", "string"), ("n", "bigint")], b'"u1","1"\n"u2",""\n')
    with pytest.raises(Exception, match="HIVE_BAD_DATA: Error parsing field value '' for field 1"):
        engine.query("SELECT sum(n) FROM strict", database=DATABASE)
    _open_csv_table(lake, "stamps", [("id", "string"), ("ts", "timestamp")], b'"u1","2024-01-02 03:04:05"\n')
    with pytest.raises(Exception, match="UNIX milliseconds"):
        engine.query("SELECT ts FROM stamps", database=DATABASE)
    _open_csv_table(lake, "millis", [("id", "string"), ("ts", "timestamp")], b'"u1","1704164645000"\n')
    assert engine.query("SELECT ts FROM millis", database=DATABASE).rows == [(dt.datetime(2024, 1, 2, 3, 4, 5),)]


def test_json_lines_table_is_read_by_name(lake, engine):
    lake.create_table("raw_events", [("id", "bigint"), ("tags", "array<string>")], prefix="landing/events", fmt="json")
    body = "\n".join(json.dumps(r) for r in ({"tags": ["x"], "id": 1, "extra": 5}, {"id": 2, "tags": []}))
    lake.put_bytes("landing/events/e.json", body.encode())
    result = engine.query("SELECT id, cardinality(tags) FROM raw_events ORDER BY id", database=DATABASE)
    assert result.rows == [(1, 1), (2, 0)]


def test_missing_table_names_database_table_and_fix(lake, engine):
    with pytest.raises(TableNotFoundError) as err:
        engine.query("SELECT * FROM nope", database=DATABASE)
    assert "lakedb.nope" in str(err.value) and "datalake crawl" in str(err.value)
    assert "datalake validate" in str(err.value)


def test_missing_database_is_a_table_not_found_error(local_settings, engine):
    with pytest.raises(TableNotFoundError, match="nodb.t"):
        engine.query("SELECT * FROM nodb.t", database="nodb")


@pytest.mark.parametrize("sql", [
    "DROP TABLE dq_accepted",
    "INSERT INTO dq_accepted SELECT * FROM dq_accepted",
    "CREATE TABLE x AS SELECT 1",
    "DELETE FROM dq_accepted",
    "ALTER TABLE dq_accepted ADD COLUMNS (x int)",
    "MSCK REPAIR TABLE dq_accepted",
])
def test_ddl_and_dml_are_rejected_before_touching_anything(engine, sql):
    with pytest.raises(ReadOnlyQueryError, match="only SELECT, WITH, SHOW and DESCRIBE"):
        engine.query(sql, database=DATABASE)


def test_named_query_rejected_by_reason_matches_exploded_reasons(engine, split_lake):
    sql = load_named_query("rejected_by_reason", database=DATABASE, dataset="job_reqs")
    result = engine.query(sql, database=DATABASE).to_pandas()
    rej = split_lake["rejected"]
    exploded = rej[rej.dataset == "job_reqs"].explode("reject_reasons")
    expected = exploded.groupby("reject_reasons").size().sort_values(ascending=False)
    assert dict(zip(result.reason, result.rejected_rows)) == expected.to_dict()
    assert set(result.dataset) == {"job_reqs"}
    assert list(result.rejected_rows) == sorted(result.rejected_rows, reverse=True)


def test_named_query_accepted_vs_rejected_counts_per_ingest_date(engine, split_lake):
    sql = load_named_query("accepted_vs_rejected", database=DATABASE, dataset="job_reqs")
    result = engine.query(sql, database=DATABASE)
    acc, rej = split_lake["accepted"], split_lake["rejected"]
    for day, a_rows, r_rows, total, pct in result.rows:
        a = int(((acc.dataset == "job_reqs") & (acc.ingest_date == day)).sum())
        r = int(((rej.dataset == "job_reqs") & (rej.ingest_date == day)).sum())
        assert (a_rows, r_rows, total) == (a, r, a + r)
        assert pct == pytest.approx(round(100 * r / (a + r), 2))
    assert [r[0] for r in result.rows] == DATES
    assert [(s.table, s.partitions_selected) for s in engine.last_scans] == [("accepted_job_reqs", 3),
                                                                             ("rejected_job_reqs", 3)]


def test_named_query_rejected_by_source_runs(engine, split_lake):
    result = engine.query(load_named_query("rejected_by_source", database=DATABASE, dataset="job_reqs"),
                          database=DATABASE)
    assert sum(r[1] for r in result.rows) == int((split_lake["rejected"].dataset == "job_reqs").sum())


def test_show_and_describe_answer_from_the_glue_catalog(engine, split_lake):
    assert engine.query("SHOW TABLES LIKE 'dq_*'", database=DATABASE).rows == [("dq_accepted",), ("dq_rejected",)]
    assert len(engine.query("SHOW TABLES IN lakedb", database="other").rows) == 4
    assert ("lakedb",) in engine.query("SHOW DATABASES", database=DATABASE).rows
    parts = engine.query("SHOW PARTITIONS dq_accepted", database=DATABASE).rows
    assert ("dataset=job_reqs/ingest_date=2024-01-01",) in parts and len(parts) == 6
    desc = engine.query("DESCRIBE dq_rejected", database=DATABASE)
    assert desc.columns == ["col_name", "data_type", "comment"]
    assert desc.rows[-1] == ("ingest_date", "string", "partition key")


def test_cache_dir_keeps_local_copies_between_queries(glue, local_settings, split_lake, tmp_path):
    from athena_queries import s3_filesystem

    engine = LocalAthena(glue_client=glue, s3_filesystem=lambda: s3_filesystem(local_settings), cache_dir=tmp_path / "c")
    sql = "SELECT count(*) FROM dq_accepted WHERE dataset = 'other'"
    assert engine.query(sql, database=DATABASE).rows == [(9,)]
    cached = sorted((tmp_path / "c").iterdir())
    assert len(cached) == 3
    assert engine.query(sql, database=DATABASE).rows == [(9,)]
    assert sorted((tmp_path / "c").iterdir()) == cached


def test_build_query_engine_in_local_mode_queries_the_lake(local_settings, split_lake):
    engine = build_query_engine(local_settings)
    assert isinstance(engine, LocalAthena)
    assert engine.query("SELECT count(*) FROM dq_rejected", database=DATABASE).rows == [(27,)]
