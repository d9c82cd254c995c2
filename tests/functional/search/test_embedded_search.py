"""Behaviour specific to the embedded (tantivy) backend: persistence, schema checks, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from catalog.search import SchemaMismatchError
from catalog.search.embedded import TantivySearchIndex
from tests.functional.search.docs import object_doc

REPO = Path(__file__).resolve().parents[3]


def test_index_directory_persists_across_instances(tmp_path: Path) -> None:
    with TantivySearchIndex(tmp_path / "idx") as first:
        first.upsert("a", object_doc("orders", "raw/orders/a.csv"))
    again = TantivySearchIndex(tmp_path / "idx")
    assert [h.id for h in again.search("orders")] == ["a"]


def test_an_index_of_another_schema_version_is_refused_with_the_fix(tmp_path: Path) -> None:
    TantivySearchIndex(tmp_path / "idx").ensure()
    (tmp_path / "idx" / "datalake-search.json").write_text(json.dumps({"schema_version": "1"}))
    with pytest.raises(SchemaMismatchError, match="datalake reindex"):
        TantivySearchIndex(tmp_path / "idx").ensure()


def test_a_directory_of_unrelated_files_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "notes.txt").write_text("mine")
    with pytest.raises(SchemaMismatchError, match="not a datalake search index"):
        TantivySearchIndex(tmp_path / "idx").ensure()


def test_clear_removes_every_document(tmp_path: Path) -> None:
    index = TantivySearchIndex(tmp_path / "idx")
    index.upsert_many([(str(i), object_doc("d", f"{i}.csv")) for i in range(5)])
    index.clear()
    assert index.count() == 0 and index.search("") == []


def test_reader_can_search_before_anything_was_indexed(tmp_path: Path) -> None:
    assert TantivySearchIndex(tmp_path / "fresh").search("anything") == []


def test_threads_share_one_index_object(tmp_path: Path) -> None:
    index = TantivySearchIndex(tmp_path / "s")
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
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
    assert index.count() == 80


_WRITER = """
import sys
from pathlib import Path
from catalog.search.embedded import TantivySearchIndex
from tests.functional.search.docs import object_doc
import time
index = TantivySearchIndex(Path(sys.argv[1]))
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
from catalog.search.embedded import TantivySearchIndex
index = TantivySearchIndex(Path(sys.argv[1]))
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
    path = tmp_path / "search.tantivy"
    TantivySearchIndex(path).ensure()

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


def test_two_processes_writing_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "search.tantivy"
    TantivySearchIndex(path).ensure()
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from catalog.search.embedded import TantivySearchIndex
        from tests.functional.search.docs import object_doc
        index, tag = TantivySearchIndex(Path(sys.argv[1])), sys.argv[2]
        for i in range(30):
            index.upsert(f"{tag}-{i}", object_doc(tag, f"raw/{tag}/{i}.csv"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), tag], cwd=REPO, stderr=subprocess.PIPE, text=True)
             for tag in ("left", "right")]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    assert TantivySearchIndex(path).count() == 60


def test_processes_creating_the_index_at_the_same_moment_all_succeed(tmp_path: Path) -> None:
    path = tmp_path / "fresh.tantivy"  # nobody has created it yet
    code = textwrap.dedent("""
        import sys
        from pathlib import Path
        from catalog.search.embedded import TantivySearchIndex
        from tests.functional.search.docs import object_doc
        TantivySearchIndex(Path(sys.argv[1])).upsert(sys.argv[2], object_doc(sys.argv[2], "k.csv"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), f"d{i}"], cwd=REPO, stderr=subprocess.PIPE,
                              text=True) for i in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read() if p.stderr else ""
    assert TantivySearchIndex(path).count() == 4
