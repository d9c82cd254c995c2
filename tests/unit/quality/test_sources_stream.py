"""Streaming a CSV in small blocks gives exactly the rows a whole-file read gives (quoted newlines, gzip)."""

from __future__ import annotations

import csv
import gzip

import pyarrow as pa
import pytest

from quality_rules import sources
from quality_rules.sources import SourceFile, iter_batches, read_arrow


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_small_blocks_equal_a_whole_read(tmp_path, monkeypatch, compression):
    rows = [["id", "text", "note"]] + [[str(i), f"line {i}\nwith \"quotes\", commas" if i % 3 == 0 else f"plain {i}",
                                        "" if i % 5 == 0 else "é🙂"] for i in range(2000)]
    path = tmp_path / ("t.csv.gz" if compression == "gzip" else "t.csv")
    opener = gzip.open if compression == "gzip" else open
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    src = SourceFile("k/t.csv", path, "csv", compression, "2024-05-01")
    monkeypatch.setattr(sources, "_CSV_BLOCK_BYTES", 4096)  # many blocks, quoted newlines across their edges

    batches = list(iter_batches(src, tmp_path / "staging"))

    assert len(batches) > 5
    assert pa.Table.from_batches(batches).equals(read_arrow(src))
