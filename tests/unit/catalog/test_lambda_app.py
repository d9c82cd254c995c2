"""The catalog app through its Lambda handler (Mangum) with API Gateway HTTP API (v2) events."""

from __future__ import annotations

import json

import pytest

from datalake_base.settings import reset_settings_cache

TOKEN = "L" * 32


def _event(path: str, headers: dict[str, str] | None = None) -> dict:
    return {
        "version": "2.0", "routeKey": "ANY /{proxy+}", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", **(headers or {})},
        "requestContext": {"http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9",
                                    "userAgent": "pytest"},
                           "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "stage": "$default",
                           "requestId": "r1", "accountId": "123456789012", "apiId": "abc123"},
        "isBase64Encoded": False,
    }


@pytest.fixture
def handler(monkeypatch, tmp_path):
    monkeypatch.setenv("DATALAKE_MODE", "local")
    monkeypatch.setenv("DATALAKE_API_TOKEN", TOKEN)
    monkeypatch.setenv("DATALAKE_STATE_DIR", str(tmp_path))
    reset_settings_cache()
    from catalog import lambda_app

    lambda_app._handler.cache_clear()
    yield lambda_app.handler
    lambda_app._handler.cache_clear()
    reset_settings_cache()


def test_sign_in_page_and_a_json_route_answer_through_the_lambda_handler(handler) -> None:
    page = handler(_event("/ui/login"), None)
    assert page["statusCode"] == 200 and "Sign in" in page["body"]
    assert "default-src 'none'" in page["headers"]["content-security-policy"]
    me = handler(_event("/me", {"authorization": f"Bearer {TOKEN}"}), None)
    assert me["statusCode"] == 200 and json.loads(me["body"]) == {"name": "service", "role": "admin", "datasets": None}
    assert handler(_event("/me"), None)["statusCode"] == 401
