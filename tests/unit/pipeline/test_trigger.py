"""Which catalog-stream records count as a change of a dataset's data (and which are the pipeline's own)."""

from __future__ import annotations

from boto3.dynamodb.types import TypeSerializer

from pipeline.trigger import changed_dataset

_s = TypeSerializer()


def image(**attrs):
    return {k: _s.serialize(v) for k, v in attrs.items()}


def record(name, new=None, old=None):
    ddb = {"SequenceNumber": "100", "Keys": image(pk="DS#jobs", sk="OBJ#b#k#null")}
    if new is not None:
        ddb["NewImage"] = new
    if old is not None:
        ddb["OldImage"] = old
    return {"eventName": name, "dynamodb": ddb}


OBJ = {"pk": "DS#jobs", "sk": "OBJ#b#jobs/a.csv#null", "kind": "object", "dataset": "jobs"}


def test_a_catalogued_arrival_or_overwrite_counts():
    assert changed_dataset(record("INSERT", new=image(**OBJ, rev=1, status="ingested"))) == "jobs"
    assert changed_dataset(record("MODIFY", new=image(**OBJ, rev=2, status="ingested"),
                                  old=image(**OBJ, rev=1, status="loaded"))) == "jobs"
    assert changed_dataset(record("MODIFY", new=image(**OBJ, rev=3, status="deleted"),
                                  old=image(**OBJ, rev=2, status="loaded"))) == "jobs"


def test_a_removed_object_item_counts():
    assert changed_dataset(record("REMOVE", old=image(**OBJ, rev=4))) == "jobs"


def test_the_pipelines_own_status_writes_do_not_count():
    for status in ("validated", "loaded"):
        assert changed_dataset(record("MODIFY", new=image(**OBJ, rev=2, status=status),
                                      old=image(**OBJ, rev=2, status="ingested"))) is None


def test_dataset_run_pipeline_and_schema_items_do_not_count():
    for kind, sk in (("dataset", "#DATASET"), ("run", "RUN#r1"), ("schema", "SCHEMA#x")):
        assert changed_dataset(record("INSERT", new=image(pk="DS#jobs", sk=sk, kind=kind, dataset="jobs"))) is None
    assert changed_dataset(record("MODIFY", new=image(pk="PIPELINE", sk="DS#jobs", kind="pipeline", dataset="jobs"))) is None


def test_a_keys_only_image_does_not_count():
    # moto emits an INSERT with only the keys before an UpdateItem's real image
    assert changed_dataset(record("INSERT", new=image(pk="DS#jobs", sk="#DATASET"))) is None
