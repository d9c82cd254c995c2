"""Redshift COPY manifests. Parquet manifests must give every file's ``meta.content_length``."""

from __future__ import annotations

import json
from collections.abc import Iterable


def build_manifest(files: Iterable[tuple[str, int]], *, mandatory: bool = True) -> dict:
    """``{"entries": [{"url", "mandatory", "meta": {"content_length"}}]}`` for (s3 uri, size) pairs."""
    entries = []
    for url, size in files:
        if not url.startswith("s3://"):
            raise ValueError(f"manifest url {url!r} is not an s3:// URI; pass s3://bucket/key")
        if int(size) <= 0:
            raise ValueError(f"content_length of {url} is {size}; a Parquet file is never empty (re-write it)")
        entries.append({"url": url, "mandatory": mandatory, "meta": {"content_length": int(size)}})
    return {"entries": entries}


def manifest_json(files: Iterable[tuple[str, int]], *, mandatory: bool = True) -> str:
    return json.dumps(build_manifest(files, mandatory=mandatory), indent=2, sort_keys=True)
