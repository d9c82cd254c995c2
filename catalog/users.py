"""Users, roles, dataset grants, UI sessions, login throttling and the audit log.

All of it lives in the catalog table (one more kind of item each, ignored by the search indexer),
behind this small adapter that takes an injected DynamoDB client, so local mode and AWS share it:

| item | pk | sk | holds |
|---|---|---|---|
| user | ``USER#<name>`` | ``USER`` | role, datasets (grant; absent = all), token id |
| token | ``TOKEN#<token id>`` | ``TOKEN`` | user name, SHA-256 of the token |
| session | ``SESSION#<sha256(session id)>`` | ``SESSION`` | user name, CSRF token, expiry (``ttl``) |
| throttle | ``THROTTLE#<client>`` | ``LOGIN`` | failed sign-ins in the current window |
| audit | ``AUDIT#<dataset>`` | ``<time>#<random>`` | who changed what (rules, metadata) |

Tokens look like ``dlk_<token id>_<secret>``: the id finds the record, the secret (256 bits from
``secrets``) is checked against its stored SHA-256 in constant time. A slow password hash buys
nothing for random 256-bit secrets; the token itself is shown once and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal, get_args

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from catalog.exceptions import CatalogError

Role = Literal["reader", "editor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_RANK = {r: i for i, r in enumerate(ROLES)}
SESSION_TTL_S = 8 * 3600
THROTTLE_WINDOW_S = 15 * 60
THROTTLE_MAX_FAILURES = 5
_SER, _DESER = TypeSerializer(), TypeDeserializer()


class UserError(CatalogError):
    """A user command cannot be carried out; the message says why and what to do."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    datasets: tuple[str, ...] | None = None  # None: every dataset

    def can(self, role: Role) -> bool:
        """Whether this user has at least ``role`` (reader < editor < admin)."""
        return _RANK[self.role] >= _RANK[role]

    def may_see(self, dataset: str) -> bool:
        return self.role == "admin" or self.datasets is None or dataset in self.datasets

    def visible(self) -> list[str] | None:
        """The datasets this user may see, or None for all."""
        return None if self.role == "admin" or self.datasets is None else list(self.datasets)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_name(name: str) -> str:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise UserError(f"user name {name!r} is not allowed; use 1-64 letters, digits and . _ - @")
    return name


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UserError(f"role {role!r} does not exist; use one of {', '.join(ROLES)}")
    return role  # type: ignore[return-value]


class UserStore:
    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    # --- items ---------------------------------------------------------------------------------
    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                    ConsistentRead=True).get("Item")
        return {k: _DESER.deserialize(v) for k, v in item.items()} if item else None

    def _put(self, item: dict[str, Any], **kwargs: Any) -> None:
        self.client.put_item(TableName=self.table, Item={k: _SER.serialize(v) for k, v in item.items() if v is not None},
                             **kwargs)

    def _delete(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}})

    # --- users ---------------------------------------------------------------------------------
    def add(self, name: str, role: str, datasets: list[str] | None = None) -> str:
        """Create a user; returns the token (show it once: only its hash is kept)."""
        name, role = check_name(name), check_role(role)
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        try:
            self._put({"pk": f"USER#{name}", "sk": "USER", "kind": "user", "name": name, "role": role,
                       "datasets": sorted(set(datasets)) if datasets is not None else None, "token_id": token_id,
                       "created_at": _now()}, ConditionExpression="attribute_not_exists(pk)")
        except self.client.exceptions.ConditionalCheckFailedException:
            raise UserError(f"user {name!r} exists; pick another name or `datalake users rotate {name}`") from None
        self._put({"pk": f"TOKEN#{token_id}", "sk": "TOKEN", "kind": "token", "name": name, "hash": _hash(secret)})
        return f"dlk_{token_id}_{secret}"

    def get(self, name: str) -> User | None:
        item = self._get(f"USER#{name}", "USER")
        if item is None:
            return None
        ds = item.get("datasets")
        return User(item["name"], item["role"], tuple(sorted(ds)) if ds is not None else None)

    def list(self) -> list[User]:
        pages = self.client.get_paginator("scan").paginate(
            TableName=self.table, FilterExpression="sk = :u", ExpressionAttributeValues={":u": {"S": "USER"}})
        names = sorted(_DESER.deserialize(i["name"]) for p in pages for i in p["Items"])
        return [u for n in names if (u := self.get(n))]

    def grant(self, name: str, datasets: list[str] | None) -> User:
        """Limit ``name`` to ``datasets`` (None: all datasets)."""
        if self.get(name) is None:
            raise UserError(f"no user {name!r}; create it with `datalake users add {name} --role reader`")
        if datasets is None:
            self.client.update_item(TableName=self.table, Key={"pk": {"S": f"USER#{name}"}, "sk": {"S": "USER"}},
                                    UpdateExpression="REMOVE datasets")
        else:
            self.client.update_item(TableName=self.table, Key={"pk": {"S": f"USER#{name}"}, "sk": {"S": "USER"}},
                                    UpdateExpression="SET datasets = :d",
                                    ExpressionAttributeValues={":d": _SER.serialize(sorted(set(datasets)))})
        user = self.get(name)
        assert user is not None
        return user

    def remove(self, name: str) -> None:
        item = self._get(f"USER#{name}", "USER")
        if item is None:
            raise UserError(f"no user {name!r}; `datalake users list` shows who exists")
        self._delete(f"TOKEN#{item['token_id']}", "TOKEN")
        self._delete(f"USER#{name}", "USER")

    def authenticate(self, token: str) -> User | None:
        """The user a token belongs to, or None (unknown, removed or wrong secret)."""
        parts = token.split("_", 2) if token.startswith("dlk_") else []
        if len(parts) != 3 or not parts[1] or not parts[2]:
            return None
        record = self._get(f"TOKEN#{parts[1]}", "TOKEN")
        if record is None or not hmac.compare_digest(record["hash"], _hash(parts[2])):
            return None
        return self.get(record["name"])

    # --- sessions ------------------------------------------------------------------------------
    def open_session(self, user: User) -> tuple[str, str]:
        """A new UI session: (session id for the cookie, CSRF token for its forms)."""
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        # The table holds only a hash of the id: reading the table does not let anyone sign in.
        self._put({"pk": f"SESSION#{_hash(sid)}", "sk": "SESSION", "kind": "session", "name": user.name,
                   "role": user.role, "csrf": csrf, "ttl": int(time.time()) + SESSION_TTL_S})
        return sid, csrf

    def session(self, sid: str) -> tuple[User, str] | None:
        """(user, CSRF token) of a live session, else None. A removed user's sessions die with it."""
        if not sid:
            return None
        item = self._get(f"SESSION#{_hash(sid)}", "SESSION")
        if item is None or int(item["ttl"]) < time.time():
            return None
        if item["name"] == SERVICE_USER.name:
            return SERVICE_USER, item["csrf"]
        user = self.get(item["name"])
        return (user, item["csrf"]) if user else None

    def close_session(self, sid: str) -> None:
        if sid:
            self._delete(f"SESSION#{_hash(sid)}", "SESSION")

    # --- throttling ----------------------------------------------------------------------------
    def login_blocked_for(self, client: str) -> int:
        """Seconds until ``client`` may try to sign in again (0: now)."""
        item = self._get(f"THROTTLE#{client}", "LOGIN")
        if not item or int(item["window_start"]) + THROTTLE_WINDOW_S < time.time():
            return 0
        if int(item["failures"]) < THROTTLE_MAX_FAILURES:
            return 0
        return max(1, int(item["window_start"]) + THROTTLE_WINDOW_S - int(time.time()))

    def login_failed(self, client: str) -> None:
        item = self._get(f"THROTTLE#{client}", "LOGIN")
        now = int(time.time())
        if not item or int(item["window_start"]) + THROTTLE_WINDOW_S < now:
            self._put({"pk": f"THROTTLE#{client}", "sk": "LOGIN", "kind": "throttle", "failures": 1,
                       "window_start": now, "ttl": now + THROTTLE_WINDOW_S})
        else:
            self.client.update_item(TableName=self.table, Key={"pk": {"S": f"THROTTLE#{client}"}, "sk": {"S": "LOGIN"}},
                                    UpdateExpression="ADD failures :one", ExpressionAttributeValues={":one": {"N": "1"}})

    # --- audit ---------------------------------------------------------------------------------
    def audit(self, actor: User, action: str, dataset: str, detail: dict[str, Any]) -> None:
        """Record who changed what. Entries are never updated or deleted by the app."""
        self._put({"pk": f"AUDIT#{dataset}", "sk": f"{_now()}#{secrets.token_hex(4)}", "kind": "audit",
                   "actor": actor.name, "role": actor.role, "action": action, "dataset": dataset,
                   "detail": json.dumps(detail, sort_keys=True, default=str), "at": _now()})

    def audit_log(self, dataset: str, limit: int = 50) -> list[dict[str, Any]]:
        resp = self.client.query(TableName=self.table, KeyConditionExpression="pk = :pk",
                                 ExpressionAttributeValues={":pk": {"S": f"AUDIT#{dataset}"}},
                                 ScanIndexForward=False, Limit=limit)
        out = []
        for i in resp["Items"]:
            entry = {k: _DESER.deserialize(v) for k, v in i.items() if k not in ("pk", "sk", "kind")}
            out.append({**entry, "detail": json.loads(entry.get("detail") or "{}")})
        return out


# The holder of DATALAKE_API_TOKEN (the deployment's own token): an admin named "service".
SERVICE_USER = User("service", "admin", None)
