"""Real-shaped event fixtures (every envelope an S3 arrival can come in), loaded by one helper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent


def load_event(name: str) -> dict[str, Any]:
    """The fixture ``tests/events/<name>`` (``.json`` optional), parsed."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())
