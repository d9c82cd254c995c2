from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for all quality tests (ui off, few shuffle partitions)."""
    from quality_rules.spark_session import get_spark

    session = get_spark("local[2]")
    yield session
    # left running on purpose: other modules in the same pytest session reuse it
