from __future__ import annotations

from datalake.samples import COLUMNS, generate_jobs_csv, generate_jobs_frame


def test_generator_is_seeded_and_has_the_reference_columns(tmp_path):
    a, b = generate_jobs_frame(500, seed=3), generate_jobs_frame(500, seed=3)
    assert list(a.columns) == COLUMNS
    assert a.equals(b)
    assert not a.equals(generate_jobs_frame(500, seed=4))
    p = generate_jobs_csv(tmp_path / "j.csv", rows=50)
    assert p.read_text().splitlines()[0] == ",".join(COLUMNS)
