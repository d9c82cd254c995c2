from datetime import datetime, timezone

import pytest

from catalog.formatting import exact_time, human_count, human_size, human_time

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(("n", "text"), [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KB"), (10 * 1024**2, "10 MB"),
                                          (3 * 1024**4, "3.0 TB"), (None, "–")])
def test_sizes_are_written_in_binary_units(n, text):
    assert human_size(n) == text


@pytest.mark.parametrize(("value", "text"), [
    ("2026-11-25T11:59:30Z", "just now"), ("2026-11-25T11:15:00Z", "45 min ago"),
    ("2026-11-25T09:00:00+00:00", "3 h ago"), ("2026-11-24T09:00:00Z", "yesterday"),
    ("2026-11-21T12:00:00Z", "4 days ago"), ("2026-03-12T08:00:00Z", "12 Mar"), ("2024-03-12T08:00:00Z", "12 Mar 2024"),
    (None, "–"), ("not a time", "not a time"),
])
def test_times_are_written_relative_to_now(value, text):
    assert human_time(value, now=NOW) == text


def test_exact_time_is_utc_and_counts_have_separators():
    assert exact_time("2026-11-25T13:00:00+01:00") == "2026-11-25 12:00:00 UTC"
    assert human_count(12160) == "12,160"


def test_partitions_group_files_and_carry_the_validation_of_their_date():
    from catalog.ui import partitions_of

    files = [{"partitions": {"ingest_date": "2026-01-02"}, "size": 10, "status": "validated"},
             {"partitions": {"ingest_date": "2026-01-02"}, "size": 5, "status": "quarantined"},
             {"partitions": {"ingest_date": "2026-01-01"}, "size": 1, "status": "ingested"},
             {"partitions": {}, "size": 2, "status": "ingested"}]
    ds = {"validation_partitions": {"2026-01-02": {"accepted": 7, "rejected": 3}}}
    rows = partitions_of(files, ds)
    assert [r["partition"] for r in rows] == ["ingest_date=2026-01-02", "ingest_date=2026-01-01", "(no partition folders)"]
    assert rows[0]["files"] == 2 and rows[0]["bytes"] == 15 and rows[0]["statuses"] == {"validated": 1, "quarantined": 1}
    assert rows[0]["validation"] == {"accepted": 7, "rejected": 3} and rows[1]["validation"] is None
