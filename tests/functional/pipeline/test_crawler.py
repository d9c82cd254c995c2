"""The crawler writes what a Glue crawler would: SerDe by quoting, other tools' tables respected,
schema drift versioned and handled by the dataset's policy. Real moto endpoint, real ingestion."""

from __future__ import annotations

import pytest

from athena_queries.engine import run_query
from catalog import components as catalog_components
from datalake.local.provision import provision
from datalake_base import aws
from pipeline.steps import crawl_dataset
from tests.fixtures.arrivals import arrive as _arrive


@pytest.fixture
def lake(local_settings):
    provision(local_settings)
    return local_settings


def _table(settings, name: str) -> dict:
    return aws.client("glue", settings).get_table(DatabaseName=settings.glue_database, Name=name)["Table"]


def test_unquoted_csv_gets_lazy_simple_serde_with_types_and_empty_numbers_read_as_null(lake):
    _arrive(lake, "trips/a.csv", b"id,fare,note\n1,10,x\n2,,y\n3,7,z\n")
    r = crawl_dataset(lake, "trips")
    sd = _table(lake, "trips")["StorageDescriptor"]
    assert r.serde == "LazySimpleSerDe" and sd["SerdeInfo"]["Parameters"]["field.delim"] == ","
    assert {c["Name"]: c["Type"] for c in sd["Columns"]}["fare"] == "bigint"
    assert run_query(lake, "SELECT sum(fare), count(fare) FROM trips").rows == [(17, 2)]


def test_quoted_csv_gets_open_csv_serde_with_string_columns(lake):
    _arrive(lake, "people/a.csv", b'id,name,age\n1,"Doe, Jane",41\n2,"Roe, R",\n')
    r = crawl_dataset(lake, "people")
    sd = _table(lake, "people")["StorageDescriptor"]
    assert r.serde == "OpenCSVSerde" and sd["SerdeInfo"]["Parameters"]["quoteChar"] == '"'
    assert {c["Type"] for c in sd["Columns"]} == {"string"}  # what OpenCSVSerde can actually read
    assert run_query(lake, "SELECT name, age FROM people ORDER BY id").rows == [("Doe, Jane", "41"), ("Roe, R", "")]


def _foreign_table(settings) -> None:
    aws.client("glue", settings).create_table(DatabaseName=settings.glue_database, TableInput={
        "Name": "sales", "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "csv", "owner": "wrangler"},
        "PartitionKeys": [{"Name": "year", "Type": "bigint"}],
        "StorageDescriptor": {"Columns": [{"Name": "id", "Type": "bigint"}], "Location": f"s3://{settings.landing_bucket}/sales/",
                              "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                                            "Parameters": {"field.delim": ","}}}})


def test_a_table_another_tool_created_is_left_alone_by_default(lake):
    _arrive(lake, "sales/year=2024/a.csv", b"id,amount\n1,5\n")
    _foreign_table(lake)
    r = crawl_dataset(lake, "sales")
    t = _table(lake, "sales")
    assert r.table_action == "left alone (LOG)" and r.schema_diff["table"] == {"added": ["amount"]}
    assert [c["Name"] for c in t["StorageDescriptor"]["Columns"]] == ["id"]
    assert t["PartitionKeys"] == [{"Name": "year", "Type": "bigint"}] and t["Parameters"]["owner"] == "wrangler"


def test_update_in_database_updates_it_but_keeps_its_key_types_and_parameters(lake):
    _arrive(lake, "sales/year=2024/a.csv", b"id,amount\n1,5\n")
    _foreign_table(lake)
    catalog_components.catalog_store(lake).update_dataset("sales", {"update_behavior": "UPDATE_IN_DATABASE"})
    r = crawl_dataset(lake, "sales")
    t = _table(lake, "sales")
    assert r.table_action == "updated" and [c["Name"] for c in t["StorageDescriptor"]["Columns"]] == ["id", "amount"]
    assert t["PartitionKeys"] == [{"Name": "year", "Type": "bigint"}] and t["Parameters"]["owner"] == "wrangler"


@pytest.mark.parametrize("policy", ["merge", "log", "quarantine"])
def test_schema_drift_gets_a_version_and_a_diff_and_the_policy_decides(lake, policy):
    _arrive(lake, "events/a.csv", b"id,kind\n1,x\n")
    first = crawl_dataset(lake, "events")
    assert first.schema_version == 1 and first.schema_diff == {}
    store = catalog_components.catalog_store(lake)
    store.update_dataset("events", {"schema_drift_policy": policy})
    _arrive(lake, "events/b.csv", b"id,kind,score\n2,y,3\n", when="2026-11-25T11:00:00Z")
    r = crawl_dataset(lake, "events")
    history = store.get_dataset("events")["schema_history"]
    assert r.schema_version == 2 and history[-1]["files"] == ["events/b.csv"]
    columns = [c["Name"] for c in _table(lake, "events")["StorageDescriptor"]["Columns"]]
    if policy == "merge":
        assert r.schema_diff == {"added": ["score"]} and columns == ["id", "kind", "score"]
    elif policy == "log":
        assert r.schema_diff == {"added": ["score"]} and columns == ["id", "kind"]
    else:
        assert r.quarantined == ["events/b.csv"] and columns == ["id", "kind"]
        rec = store.get_object("events", lake.landing_bucket, "events/b.csv", None)
        assert rec["status"] == "quarantined" and "schema drift" in rec["status_reason"]
    again = crawl_dataset(lake, "events")  # nothing new: no new version
    assert again.schema_version == 2


def test_csv_accepted_rows_are_typed_by_the_crawler_so_sums_work_in_athena_and_the_warehouse(lake):
    from pipeline.steps import load_dataset, validate_dataset
    from quality_rules.store import rules_store
    from warehouse import build_warehouse

    _arrive(lake, "flights/a.csv", b"carrier,arr_delay\nUA,5\nUA,7\nAA,\n")
    crawl_dataset(lake, "flights")  # arr_delay: bigint
    _arrive(lake, "flights/b.csv", b"carrier,arr_delay\nAA,x9\n")  # arrives after the crawl
    rules_store(lake).put_items([{"id": "flights-carrier", "dataset_name": "flights", "column_name": "carrier",
                                  "rules": [{"name": "expect_column_values_to_not_be_null", "kwargs": {},
                                             "reject_msg": "R:carrier"}]}])
    o = validate_dataset(lake, "flights", engine="pandas").outcome
    assert (o.accepted, o.rejected) == (3, 1) and o.typed_columns["arr_delay"] == "int64"
    cols = {c["Name"]: c["Type"] for c in _table(lake, "accepted_flights")["StorageDescriptor"]["Columns"]}
    assert cols["arr_delay"] == "bigint"
    assert run_query(lake, "SELECT sum(arr_delay) FROM accepted_flights").rows == [(12,)]
    assert run_query(lake, "SELECT comments FROM rejected_flights").rows == [("REJECT:type:arr_delay:int64",)]
    load_dataset(lake, "flights")
    assert build_warehouse(lake).query("SELECT sum(arr_delay) FROM dq_accepted.flights").rows == [(12,)]


def _flights(lake) -> None:
    from quality_rules.store import rules_store

    for m in (1, 2, 3):
        _arrive(lake, f"flights/year=2013/month={m}/f.csv", f"carrier,delay\nUA,{m}\n,{m + 10}\nAA,{m + 20}\n".encode())
    rules_store(lake).put_items([{"id": "flights-carrier", "dataset_name": "flights", "column_name": "carrier",
                                  "rules": [{"name": "expect_column_values_to_not_be_null", "kwargs": {},
                                             "reject_msg": "R:carrier"}]}])


def test_the_split_keeps_the_sources_hive_partitions_as_partition_columns_that_prune(lake):
    from pipeline.steps import validate_dataset

    _flights(lake)
    crawl_dataset(lake, "flights")
    validate_dataset(lake, "flights", engine="pandas")
    for side in ("accepted", "rejected"):
        keys = _table(lake, f"{side}_flights")["PartitionKeys"]
        assert [(k["Name"], k["Type"]) for k in keys] == [("ingest_date", "string"), ("year", "string"), ("month", "string")]
    res = run_query(lake, "SELECT carrier, delay FROM accepted_flights WHERE year = '2013' AND month = '2' ORDER BY carrier")
    assert res.rows == [("AA", 22), ("UA", 2)]
    assert (res.statistics.partitions_scanned, res.statistics.partitions_total) == (1, 3)
    assert run_query(lake, "SELECT month, delay FROM rejected_flights ORDER BY month").rows == [
        ("1", "11"), ("2", "12"), ("3", "13")]  # rejected rows keep their text


def test_partition_columns_keep_the_types_of_the_raw_tables_keys(lake):
    from pipeline.steps import validate_dataset

    _flights(lake)
    aws.client("glue", lake).create_table(DatabaseName=lake.glue_database, TableInput={  # e.g. made by awswrangler
        "Name": "flights", "TableType": "EXTERNAL_TABLE", "Parameters": {"classification": "csv"},
        "PartitionKeys": [{"Name": "year", "Type": "bigint"}, {"Name": "month", "Type": "int"}],
        "StorageDescriptor": {"Columns": [{"Name": "carrier", "Type": "string"}, {"Name": "delay", "Type": "bigint"}],
                              "Location": f"s3://{lake.landing_bucket}/flights/",
                              "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                                            "Parameters": {"field.delim": ","}}}})
    crawl_dataset(lake, "flights")  # left alone: its key types stay
    validate_dataset(lake, "flights", engine="pandas")
    keys = _table(lake, "accepted_flights")["PartitionKeys"]
    assert [(k["Name"], k["Type"]) for k in keys] == [("ingest_date", "string"), ("year", "bigint"), ("month", "int")]
    assert run_query(lake, "SELECT sum(delay) FROM accepted_flights WHERE year = 2013 AND month >= 2").rows == [(50,)]


def test_in_aws_a_schema_drift_event_is_published_to_the_topic(lake, monkeypatch):
    import json

    sns, sqs = aws.client("sns", lake), aws.client("sqs", lake)
    topic = sns.create_topic(Name="schema-events")["TopicArn"]
    queue = sqs.create_queue(QueueName="schema-events-sub")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    settings = lake.model_copy(update={"schema_events_topic_arn": topic})
    _arrive(settings, "events/a.csv", b"id,kind\n1,x\n")
    crawl_dataset(settings, "events")
    _arrive(settings, "events/b.csv", b"id,kind,score\n2,y,3\n", when="2026-11-25T11:00:00Z")
    crawl_dataset(settings, "events")
    msgs = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert [json.loads(m["Body"])["diff"] for m in msgs] == [{"added": ["score"]}]
