"""Lambda entry point of the catalog web app (UI + JSON API) behind API Gateway (HTTP API).

The same FastAPI app as `datalake serve`, adapted by Mangum. It is built on the first request
(not at import), so a configuration error shows up in the response log, and reused while the
execution environment lives.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _handler() -> Any:
    from mangum import Mangum

    from catalog.api import app_from_settings

    # HTTP API payload v2; API Gateway has already checked Cognito JWTs on the JSON routes, the
    # app verifies every credential again (issuer, audience, JWKS) and owns the UI sessions.
    return Mangum(app_from_settings(), lifespan="off")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _handler()(event, context)
