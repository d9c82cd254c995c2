"""The Arrow engine streamed in small batches over several sources equals Great Expectations row for row."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datalake.samples import generate_jobs_frame, reference_rules
from quality_rules.model import RuleSet
from quality_rules.oracle import ROW_ID, validate_ruleset
from quality_rules.runner import SourceFile, run_validation
from tests.functional.quality.test_equivalence_spark import EDGE_ROWS, EXTRA_RULES


def _rejected(out) -> dict[tuple[str, int], str]:
    t = pa.concat_tables([pq.read_table(f, columns=["source_key", "source_row", "comments"])
                          for f in sorted((out / "rejected").rglob("*.parquet"))])
    return {(k, r): c for k, r, c in zip(t.column("source_key").to_pylist(), t.column("source_row").to_pylist(),
                                         t.column("comments").to_pylist())}


def test_batches_across_sources_equal_ge(tmp_path):
    frame = generate_jobs_frame(1500, seed=3)
    edge = pd.DataFrame([dict(zip(["organization", "job_type", "uniq_id", "location"], r)) for r in EDGE_ROWS])
    for col in frame.columns:
        if col not in edge:
            edge[col] = frame[col].iloc[: len(edge)].to_numpy()
    frame = pd.concat([frame, edge[frame.columns]], ignore_index=True)
    frame.loc[1400, "page_url"] = frame.loc[3, "page_url"]  # duplicate across the two sources: unique is global
    frame.loc[1401, "date_added"] = "2024-02-30"
    halves = [frame.iloc[:700], frame.iloc[700:]]
    sources = []
    for i, part in enumerate(halves):
        path = tmp_path / f"part{i}.parquet"
        pq.write_table(pa.Table.from_pandas(part.reset_index(drop=True), preserve_index=False), path)
        sources.append(SourceFile(f"landing/jobs/part{i}.parquet", path, "parquet", "none", "2024-05-01"))
    rs = RuleSet.from_items("jobs", reference_rules("jobs") + EXTRA_RULES)

    o = run_validation(dataset="jobs", sources=sources, ruleset=rs, output_dir=tmp_path / "out", engine="pandas",
                       run_id="b", batch_rows=97)

    assert o.engine == "arrow"  # 'pandas' is the old name, kept as an alias
    assert o.oracle_agrees is True
    ge_frame = frame.reset_index(drop=True).copy()
    ge_frame[ROW_ID] = np.arange(len(ge_frame))
    ge = validate_ruleset(ge_frame, rs, engine="pandas", row_ids=True)
    assert {r["rule_id"]: r["failed_rows"] for r in o.per_rule} == {k: len(v) for k, v in ge.unexpected_index.items()}
    expected = {}
    for row in sorted(set().union(*(ge.unexpected_index[c.rule_id] for c in rs.checks if c.rule.severity == "reject"))):
        key, pos = (sources[0].key, row) if row < 700 else (sources[1].key, row - 700)
        expected[(key, pos)] = "|".join(c.rule.reject_msg for c in rs.checks
                                        if c.rule.severity == "reject" and row in set(ge.unexpected_index[c.rule_id]))
    assert _rejected(tmp_path / "out") == expected
    assert o.per_source[sources[0].key]["rows"] == 700 and o.rows_in == len(frame)
