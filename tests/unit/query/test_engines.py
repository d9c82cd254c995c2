"""Engine selection and the Athena adapter (awswrangler is replaced; no AWS calls)."""

from __future__ import annotations

import pandas as pd
import pytest

from athena_queries import AthenaEngine, LocalAthena, ReadOnlyQueryError, build_query_engine, s3_filesystem
from datalake_base.settings import Settings


def test_athena_engine_calls_awswrangler_with_database_workgroup_and_session(monkeypatch):
    import awswrangler as wr

    calls = {}

    def fake_read_sql_query(sql, **kwargs):
        calls.update(kwargs, sql=sql)
        return pd.DataFrame({"reason": ["a", "b"], "n": [2, 1]})

    monkeypatch.setattr(wr.athena, "read_sql_query", fake_read_sql_query)
    session = object()
    engine = AthenaEngine(boto3_session=session, workgroup="analytics")
    result = engine.query("SELECT reason, count(*) n FROM dq_rejected GROUP BY 1", database="lake")
    assert calls["database"] == "lake" and calls["workgroup"] == "analytics"
    assert calls["boto3_session"] is session and calls["ctas_approach"] is False
    assert (result.columns, result.rows, result.engine) == (["reason", "n"], [("a", 2), ("b", 1)], "athena")


def test_athena_engine_applies_the_same_read_only_guard(monkeypatch):
    import awswrangler as wr

    monkeypatch.setattr(wr.athena, "read_sql_query", lambda *a, **k: pytest.fail("must not reach Athena"))
    with pytest.raises(ReadOnlyQueryError):
        AthenaEngine(boto3_session=object()).query("DROP TABLE x", database="lake")


def test_build_query_engine_follows_settings():
    local = build_query_engine(Settings(mode="local", endpoint_url="http://127.0.0.1:1"))
    assert isinstance(local, LocalAthena)
    athena = build_query_engine(Settings(mode="aws", query_engine="athena", athena_workgroup="wg"))
    assert isinstance(athena, AthenaEngine) and athena._workgroup == "wg"


def test_s3_filesystem_targets_the_local_endpoint_over_http():
    fs = s3_filesystem(Settings(mode="local", endpoint_url="http://127.0.0.1:4599"))
    assert fs.region == "us-east-1"
    assert "127.0.0.1:4599" in repr(fs.__reduce__()) and "http" in repr(fs.__reduce__())
