"""Cognito JWT verification for the catalog app in AWS (API Gateway passes the bearer token on).

The signature is checked against the user pool's JWKS (fetched once, cached, re-fetched when an
unknown key id appears: Cognito rotates keys), then issuer, audience (``aud`` of ID tokens or
``client_id`` of access tokens), expiry and ``token_use``. The role comes from the user's Cognito
groups (``admin``/``editor``/``reader``; none: reader); a ``datalake-datasets`` custom attribute,
comma separated, limits the datasets a non-admin sees.
"""

from __future__ import annotations

from typing import Any

import jwt
from jwt import PyJWKClient

from catalog.users import ROLES, User

_ROLE_ORDER = list(ROLES)


class CognitoVerifier:
    def __init__(self, *, issuer: str, audience: str, jwks_client: PyJWKClient | None = None, leeway_s: int = 30) -> None:
        if not issuer.startswith("https://") and jwks_client is None:
            raise ValueError(f"DATALAKE_COGNITO_ISSUER={issuer!r} must be the pool's https:// issuer URL")
        if not audience:
            raise ValueError("DATALAKE_COGNITO_AUDIENCE must be the user pool app client id")
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.leeway_s = leeway_s
        self.jwks = jwks_client or PyJWKClient(f"{self.issuer}/.well-known/jwks.json", cache_keys=True, lifespan=3600)

    def claims(self, token: str) -> dict[str, Any] | None:
        """Verified claims, or None for any invalid token (bad signature, issuer, audience, expired...)."""
        try:
            key = self.jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=self.issuer, leeway=self.leeway_s,
                                options={"verify_aud": False, "require": ["exp", "iss", "token_use"]})
        except (jwt.PyJWTError, ValueError):
            return None
        use = claims.get("token_use")
        audience = claims.get("aud") if use == "id" else claims.get("client_id") if use == "access" else None
        return claims if audience == self.audience else None

    def user(self, token: str) -> User | None:
        claims = self.claims(token)
        if claims is None:
            return None
        groups = [g for g in claims.get("cognito:groups") or [] if g in ROLES]
        role = max(groups, key=_ROLE_ORDER.index) if groups else "reader"
        raw = claims.get("custom:datalake-datasets")
        datasets = tuple(sorted(d.strip() for d in raw.split(",") if d.strip())) if raw else None
        name = claims.get("cognito:username") or claims.get("username") or claims["sub"]
        return User(str(name), role, datasets)
