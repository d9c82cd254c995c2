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
