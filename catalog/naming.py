"""Names derived from S3 keys: dataset, partitions, Glue-safe identifiers."""

from __future__ import annotations

import re

_IDENT = re.compile(r"[^a-z0-9_]+")
DEFAULT_DATASET = "default"


def dataset_for_key(key: str) -> str:
    """The dataset is the key's first folder (`jobs/2026/a.csv` -> `jobs`)."""
    head, sep, _ = key.partition("/")
    return head if sep and head else DEFAULT_DATASET


def partitions_for_key(key: str) -> dict[str, str]:
    """Hive-style `k=v` folders between the dataset folder and the file name, in order."""
    parts: dict[str, str] = {}
    for segment in key.split("/")[1:-1]:
        k, eq, v = segment.partition("=")
        if eq and k:
            parts[k] = v
    return parts


def glue_identifier(name: str) -> str:
    """Glue and Athena lower-case names and allow only [a-z0-9_]; keep it readable and stable."""
    ident = _IDENT.sub("_", name.lower()).strip("_")
    if not ident:
        raise ValueError(f"cannot derive a table name from {name!r}: use letters or digits in the dataset folder")
    return ident if not ident[0].isdigit() else f"t_{ident}"


def pad_sequencer(seq: str | None) -> str | None:
    """S3 sequencers compare as hex strings after right-padding the shorter with zeros."""
    return seq.upper().ljust(64, "0") if seq else None
