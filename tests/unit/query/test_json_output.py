"""`datalake query --format json`: numbers stay numbers, and the output is valid JSON."""

from __future__ import annotations

import json

from athena_queries import LocalAthena
from athena_queries.jsonify import json_records


def test_sums_decimals_and_non_finite_doubles_are_valid_json_numbers_or_named():
    engine = LocalAthena(glue_client=None, s3_filesystem=lambda: None)
    res = engine.query("SELECT sum(x) AS s, CAST(2.50 AS decimal(4,2)) AS d, 1e0 / 0 AS inf, "
                       "TIMESTAMP '2024-01-02 03:04:05' AS ts, MAP(ARRAY['a'], ARRAY[1]) AS m "
                       "FROM (VALUES 1, 2) AS t(x)", database="db")
    text = json.dumps(json_records(res.columns, res.rows), allow_nan=False)
    assert json.loads(text) == [{"s": 3, "d": 2.5, "inf": "Infinity", "ts": "2024-01-02 03:04:05.000", "m": {"a": 1}}]
