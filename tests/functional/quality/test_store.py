"""RulesStore against the moto server: reference items stay as-is, every change is a new version."""

from __future__ import annotations

import pytest

from datalake.samples import reference_rules
from quality_rules.exceptions import RuleDefinitionError, RuleSetNotFoundError
from quality_rules.store import RulesStore, ensure_table

TABLE = "dq-rules-test"


@pytest.fixture
def store(dynamodb):
    ensure_table(dynamodb, TABLE)
    ensure_table(dynamodb, TABLE)  # idempotent
    return RulesStore(TABLE, dynamodb)


def test_table_is_on_demand_with_sse(dynamodb, store):
    desc = dynamodb.describe_table(TableName=TABLE)["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert desc.get("SSEDescription", {}).get("Status") in ("ENABLED", "ENABLING")


def test_put_get_versions_and_history(dynamodb, store):
    items = reference_rules("jobs")
    v1 = store.put_items(items[:2])
    assert (v1.version, [i.id for i in v1.items]) == (1, ["jobs-organization", "jobs-job_type"])
    v2 = store.put_items(items[2:])
    assert v2.version == 2 and len(v2.checks) == 4
    changed = dict(items[0], rules=[dict(items[0]["rules"][0], reject_msg="REJECT:org")])
    v3 = store.put_items([changed])
    assert [i.id for i in v3.items][0] == "jobs-organization"  # replaced in place, order kept
    assert v3.items[0].rules[0].reject_msg == "REJECT:org"
    v4 = store.delete("jobs-uniq_id")
    assert v4.version == 4 and "jobs-uniq_id" not in [i.id for i in v4.items]
    # any past version is still readable, exactly
    assert store.get("jobs", 2).digest == v2.digest
    assert store.get("jobs").digest == v4.digest
    assert [r.version for r in store.history("jobs")] == [1, 2, 3, 4]
    with pytest.raises(RuleSetNotFoundError, match="version 9"):
        store.get("jobs", 9)


def test_live_items_stay_in_the_reference_shape(dynamodb, store):
    store.put_items(reference_rules("jobs")[:1])
    item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "jobs-organization"}})["Item"]
    assert set(item) == {"id", "dataset_name", "column_name", "rules"}
    assert item["rules"]["L"][0]["M"]["name"]["S"] == "expect_column_values_to_not_be_null"


def test_rules_written_by_other_tools_are_read_as_version_0(dynamodb, store):
    from quality_rules.store import _to_ddb

    for item in reference_rules("legacy"):
        dynamodb.put_item(TableName=TABLE, Item=_to_ddb(item))
    rs = store.get("legacy")
    assert rs.version == 0 and len(rs.checks) == 4
    assert store.put_items(reference_rules("legacy")[:1]).version == 1
    assert store.list_datasets() == ["legacy"]


def test_errors_are_explicit(store):
    with pytest.raises(RuleSetNotFoundError, match="no rules stored"):
        store.get("nothing")
    with pytest.raises(RuleSetNotFoundError):
        store.delete("no-such-id")
    with pytest.raises(RuleDefinitionError, match="several datasets"):
        store.put_items(reference_rules("a")[:1] + reference_rules("b")[:1])
    with pytest.raises(Exception, match="unknown expectation"):
        store.put_items([dict(reference_rules("a")[0], rules=[{"name": "expect_nothing", "reject_msg": "x"}])])


def test_list_datasets(store):
    store.put_items(reference_rules("b")[:1])
    store.put_items(reference_rules("a")[:2])
    assert store.list_datasets() == ["a", "b"]
