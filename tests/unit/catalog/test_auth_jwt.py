"""Cognito JWT verification with keys minted here and a JWKS served on a loopback port."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from catalog.auth_jwt import CognitoVerifier
from catalog.users import User

AUDIENCE = "app-client-123"


def _key(kid: str):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    return private, {**public, "kid": kid, "alg": "RS256", "use": "sig"}


@pytest.fixture(scope="module")
def pool() -> Iterator[dict]:
    """A fake user pool: its JWKS on http://127.0.0.1:<port>/.well-known/jwks.json, counting fetches."""
    signing, jwk = _key("k1")
    state = {"keys": [jwk], "fetches": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state["fetches"] += 1
            body = json.dumps({"keys": state["keys"]}).encode()
            self.send_response(200 if self.path == "/.well-known/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    issuer = f"http://127.0.0.1:{server.server_address[1]}"
    from jwt import PyJWKClient

    verifier = CognitoVerifier(issuer=issuer, audience=AUDIENCE,
                               jwks_client=PyJWKClient(f"{issuer}/.well-known/jwks.json", cache_keys=True,
                                                           cooldown_duration=0))  # production: 30 s
    yield {"issuer": issuer, "key": signing, "verifier": verifier, "state": state}
    server.shutdown()


def _token(pool: dict, key=None, kid: str = "k1", **claims) -> str:
    now = int(time.time())
    body = {"sub": "u-1", "cognito:username": "maria", "iss": pool["issuer"], "aud": AUDIENCE, "token_use": "id",
            "iat": now, "exp": now + 600, **claims}
    return jwt.encode(body, key or pool["key"], algorithm="RS256", headers={"kid": kid})


def test_a_valid_id_token_becomes_a_user_with_the_groups_role_and_dataset_grant(pool) -> None:
    token = _token(pool, **{"cognito:groups": ["reader", "editor"], "custom:datalake-datasets": "jobs, sales"})
    assert pool["verifier"].user(token) == User("maria", "editor", ("jobs", "sales"))
    assert pool["verifier"].user(_token(pool)) == User("maria", "reader", None)  # no group: reader


def test_an_access_token_is_checked_against_its_client_id(pool) -> None:
    access = _token(pool, token_use="access", client_id=AUDIENCE, aud=None)
    assert pool["verifier"].user(access).name == "maria"
    assert pool["verifier"].user(_token(pool, token_use="access", client_id="someone-else", aud=None)) is None


@pytest.mark.parametrize("claims", [
    {"aud": "another-app"}, {"iss": "https://cognito-idp.example/other-pool"}, {"exp": int(time.time()) - 3600},
    {"token_use": "refresh"},
])
def test_wrong_audience_issuer_expiry_or_use_is_refused(pool, claims) -> None:
    assert pool["verifier"].user(_token(pool, **claims)) is None


def test_a_token_signed_with_another_key_or_unsigned_is_refused(pool) -> None:
    stranger, _ = _key("k1")
    assert pool["verifier"].user(_token(pool, key=stranger)) is None
    unsigned = jwt.encode({"iss": pool["issuer"], "aud": AUDIENCE, "token_use": "id", "exp": int(time.time()) + 60},
                          None, algorithm="none")
    assert pool["verifier"].user(unsigned) is None
    assert pool["verifier"].user("not.a.jwt") is None


def test_the_jwks_is_cached_and_refetched_for_a_rotated_key(pool) -> None:
    pool["verifier"].user(_token(pool))
    before = pool["state"]["fetches"]
    for _ in range(5):
        assert pool["verifier"].user(_token(pool)) is not None
    assert pool["state"]["fetches"] == before  # cached
    rotated, jwk2 = _key("k2")
    pool["state"]["keys"].append(jwk2)
    assert pool["verifier"].user(_token(pool, key=rotated, kid="k2")).name == "maria"
    assert pool["state"]["fetches"] == before + 1
