"""Profile one object as the bucket holds it: the reads a profile needs, around ``ingestion.profile``.

``inspect_object`` is the whole parse of an arrival, the part that must be isolated (see
``ingestion.sandbox``): it reads a longer head when the first line does not fit the default one,
Parquet footers by ranged reads, and streams text objects within the byte budget to count rows.
"""

from __future__ import annotations

import io
from typing import Callable

from ingestion.exceptions import NeedMoreBytes, QuarantineError
from ingestion.objects import Observed, ObjectReader
from ingestion.profile import (
    HEAD_TEXT_LIMIT,
    PARQUET_MAGIC,
    Profile,
    TextBudgetExceeded,
    count_rows,
    profile_bytes,
    profile_parquet,
)

# Observed object -> its profile; raises QuarantineError for anything that is not readable data.
Profiler = Callable[[Observed], Profile]


def inspect_object(objects: ObjectReader, obs: Observed, *, budget: int, max_object_bytes: int) -> Profile:
    if obs.size > max_object_bytes:
        raise QuarantineError(
            f"object is {obs.size} bytes, over the {max_object_bytes}-byte limit "
            "(DATALAKE_MAX_OBJECT_BYTES); split it or raise the limit"
        )
    if obs.size == 0:
        raise QuarantineError("empty object (0 bytes): nothing to catalogue; upload the file again with content")
    if obs.head[:4] == PARQUET_MAGIC:
        return profile_parquet(objects.range_file(obs) if not obs.complete else io.BytesIO(obs.head))
    prof = _profile_head(objects, obs, budget)
    if prof.row_count is not None:
        return prof
    if obs.size > budget:
        prof.row_count_note = (
            f"unknown: the object is {obs.size} bytes, over the {budget}-byte row-count budget "
            "(DATALAKE_PROFILE_BYTE_BUDGET); schema is from its first bytes"
        )
        return prof
    body = objects.stream(obs.bucket, obs.key, obs.version_id)
    try:
        # The budget bounds the text too: a gzip that inflates past it (a bomb) is not read to the end.
        prof.row_count = count_rows(body, prof, max_text_bytes=max(budget, HEAD_TEXT_LIMIT))
    except TextBudgetExceeded as over:
        prof.row_count_note = (
            f"unknown: the {obs.size}-byte gzip inflates to more than {over.limit} bytes of text (the "
            "DATALAKE_PROFILE_BYTE_BUDGET); schema is from its first bytes"
        )
    finally:
        body.close()
    return prof


def _profile_head(objects: ObjectReader, obs: Observed, budget: int) -> Profile:
    """Profile the head; a first line longer than the head is read in longer heads, up to the budget."""
    head, complete = obs.head, obs.complete
    while True:
        try:
            return profile_bytes(head, complete=complete, key=obs.key, text_limit=max(HEAD_TEXT_LIMIT, 8 * len(head)))
        except NeedMoreBytes as more:
            if len(head) >= min(obs.size, budget):
                raise QuarantineError(
                    f"no complete {more.what} in the first {len(head)} bytes: a line longer than the "
                    f"{budget}-byte profile budget (DATALAKE_PROFILE_BYTE_BUDGET); split the line or raise the budget"
                ) from more
            n = min(obs.size, budget, len(head) * 8)
            head = objects.read_head(obs, n)
            complete = n >= obs.size
