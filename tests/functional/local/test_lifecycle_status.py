"""`datalake up` polls daemon.json while the daemon writes it: a half-written file is not stale."""

from __future__ import annotations

import json

from datalake.local import lifecycle
from datalake_base.settings import Settings


def _settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("DATALAKE_MODE", "local")
    monkeypatch.setenv("DATALAKE_STATE_DIR", str(tmp_path))
    return Settings()


def test_a_daemon_file_being_written_is_left_for_its_writer(tmp_path, monkeypatch):
    s = _settings(tmp_path, monkeypatch)
    (tmp_path / "daemon.json").write_text('{"pid": 12')  # truncated by write_text, not yet complete

    assert lifecycle.status(s).running is False
    assert (tmp_path / "daemon.json").exists()


def test_a_daemon_file_naming_a_dead_process_is_removed(tmp_path, monkeypatch):
    s = _settings(tmp_path, monkeypatch)
    (tmp_path / "daemon.json").write_text(json.dumps({"pid": 2**22 + 12345, "endpoint": "http://x", "started_at": 0}))

    assert lifecycle.status(s).running is False
    assert not (tmp_path / "daemon.json").exists()
