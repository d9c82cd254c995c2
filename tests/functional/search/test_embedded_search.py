"""Behaviour specific to the SQLite backend: tokenizer choice, persistence, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from catalog.search import SearchUnavailableError
from catalog.search import embedded
from catalog.search.embedded import SqliteSearchIndex
from tests.functional.search.docs import object_doc

REPO = Path(__file__).resolve().parents[3]


def test_auto_uses_trigram_when_sqlite_has_it(tmp_path: Path) -> None:
    index = SqliteSearchIndex(tmp_path / "s.db")
    assert index.tokenizer == ("trigram" if embedded.trigram_available() else "unicode61")


def test_auto_falls_back_to_unicode61_without_trigram(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "trigram_available", lambda: False)
    index = SqliteSearchIndex(tmp_path / "s.db")
    index.upsert("a", object_doc("jobs", "raw/jobs/2024-03/part_0001.csv", description="Career postings"))
    assert index.tokenizer == "unicode61"
    assert [h.id for h in index.search("2024-03")] == ["a"]
    assert [h.id for h in index.search("post")] == ["a"]


def test_forcing_trigram_without_support_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "trigram_available", lambda: False)
    with pytest.raises(SearchUnavailableError, match="tokenizer='auto'"):
        SqliteSearchIndex(tmp_path / "s.db", tokenizer="trigram").ensure()


def test_index_file_persists_and_keeps_its_tokenizer(tmp_path: Path) -> None:
    path = tmp_path / "state" / "search.sqlite3"
    with SqliteSearchIndex(path, tokenizer="unicode61") as first:
        first.upsert("a", object_doc("jobs", "raw/jobs/a.csv"))
    with SqliteSearchIndex(path) as reopened:  # auto would pick trigram for a new file
        assert reopened.tokenizer == "unicode61"
        assert [h.id for h in reopened.search("jobs")] == ["a"]


def test_reader_can_search_before_anything_was_indexed(tmp_path: Path) -> None:
    assert SqliteSearchIndex(tmp_path / "fresh.db").search("anything") == []


def test_threads_share_one_index_object(tmp_path: Path) -> None:
    index = SqliteSearchIndex(tmp_path / "s.db")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                index.upsert(f"{n}-{i}", object_doc(f"ds{n}", f"raw/ds{n}/{i}.csv"))
                index.search(f"ds{n}")
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert index.count() == 200


_WRITER = """
import sys
from pathlib import Path
from catalog.search.embedded import SqliteSearchIndex
from tests.functional.search.docs import object_doc
import time
index = SqliteSearchIndex(Path(sys.argv[1]))
ready = Path(sys.argv[1] + ".reader-ready")
deadline = time.monotonic() + 60
while not ready.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
for batch in range(40):
    index.upsert_many((f"doc-{batch}-{i}", object_doc(f"ds{batch}", f"raw/ds{batch}/part_{i:04d}.csv"))
                      for i in range(50))
    time.sleep(0.005)  # let the reader interleave
index.upsert("last", object_doc("sentinel", "raw/sentinel/done.csv"))
"""

_READER = """
import json, sys, time
from pathlib import Path
from catalog.search.embedded import SqliteSearchIndex
index = SqliteSearchIndex(Path(sys.argv[1]))
counts, deadline = [index.count()], time.monotonic() + 60
Path(sys.argv[1] + ".reader-ready").touch()
while time.monotonic() < deadline:
    counts.append(index.count())
    index.search("part_00")
    if index.search("sentinel"):
        counts.append(index.count())
        break
    time.sleep(0.005)
print(json.dumps(counts))
"""


def test_one_process_writes_while_another_reads(tmp_path: Path) -> None:
    path = tmp_path / "search.sqlite3"
    SqliteSearchIndex(path).ensure()

    def spawn(code: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code), str(path)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    reader, writer = spawn(_READER), spawn(_WRITER)
    w_out, w_err = writer.communicate(timeout=120)
    r_out, r_err = reader.communicate(timeout=120)
    assert writer.returncode == 0, w_err
    assert reader.returncode == 0, r_err
    counts = json.loads(r_out)
    assert counts == sorted(counts), "a reader never sees the index shrink"
    assert counts[-1] == 40 * 50 + 1, "the reader saw the writer's last commit"
    assert len(set(counts)) > 2, "reads happened while writes were in progress"
