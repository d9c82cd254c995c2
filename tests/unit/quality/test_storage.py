"""Store: one directory abstraction for a local path, file:// and s3:// (the scheme is the only difference)."""

from __future__ import annotations

import pytest

from quality_rules.exceptions import QualityRulesError
from quality_rules.storage import Store


def test_a_plain_path_and_a_file_uri_are_the_same_store(tmp_path):
    a, b = Store.at(tmp_path), Store.at(f"file://{tmp_path}")
    assert (a.fs.type_name, a.root, a.scheme) == (b.fs.type_name, b.root, b.scheme) == ("local", str(tmp_path), "file")
    assert a.uri("x/y.parquet") == f"file://{tmp_path}/x/y.parquet"


def test_write_list_move_and_delete(tmp_path):
    src, dest = Store.at(tmp_path / "stage"), Store.at(tmp_path / "out")
    src.write_bytes("spark/accepted/__fid=1/part-0.parquet", b"a")
    src.write_bytes("spark/accepted/__fid=1/_SUCCESS", b"")
    assert src.files("spark/accepted", ".parquet") == ["__fid=1/part-0.parquet"]
    assert src.files("missing") == []
    src.move("spark/accepted/__fid=1/part-0.parquet", dest, "accepted/ingest_date=d/run=r/f.parquet")
    assert dest.read_bytes("accepted/ingest_date=d/run=r/f.parquet") == b"a"
    assert not src.exists("spark/accepted/__fid=1/part-0.parquet")
    src.delete_tree()
    assert not (tmp_path / "stage").exists()


def test_s3_locations_keep_bucket_and_prefix(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # never contacted: nothing is read here
    s = Store.at("s3://lake/")
    assert (s.root, s.scheme, s.uri("accepted/a.parquet")) == ("lake", "s3", "s3://lake/accepted/a.parquet")
    assert s.child("_runs/x").uri() == "s3://lake/_runs/x"


def test_an_unknown_scheme_is_refused_with_the_supported_ones():
    with pytest.raises(QualityRulesError, match="use a local path, file:// or s3://"):
        Store.at("gs://bucket/x")
