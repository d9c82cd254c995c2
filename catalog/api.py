"""The catalog's JSON API (datasets, files, search, quality rules, metadata) and web UI.

Thin routers over the same adapters the CLI uses; dependencies come in through ``Annotated``
types so tests inject their own. Callers authenticate with a bearer token: a user's token
(``datalake users add``), the deployment's DATALAKE_API_TOKEN (the admin "service" user), or in
AWS a Cognito JWT. Roles: readers read what their dataset grants allow, editors also change
rules and dataset metadata (recorded in the audit log), admins see everything. Tokens are
compared in constant time and never logged.
"""

# No `from __future__ import annotations` here: FastAPI must see the Annotated dependency types
# defined inside create_app as objects, not as unresolvable strings.

import base64
import hashlib
import hmac
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from catalog import explore
from catalog.browse import parse_search_params, run_search
from catalog.exceptions import DatasetNotFound
from catalog.search import SearchIndex, UnknownFilterError
from catalog.store import CatalogStore
from catalog.ui import COOKIE, LoginRequired, ui_router
from catalog.users import SERVICE_USER, Role, User, UserStore

_bearer = HTTPBearer(auto_error=False)
HIDDEN = ("pk", "sk", "sequencer_sort")
# On every response (API, UI, errors): no scripts at all, only the app's own stylesheet.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in HIDDEN}


class DatasetMetadata(BaseModel):
    """What an editor may change on a dataset. Omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")
    owner: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=5000)
    tags: dict[str, str] | None = Field(None, max_length=50)


def create_app(*, token: str, store: Callable[[], CatalogStore], search: Callable[[], SearchIndex],
               rules: Callable[[], Any], users: Callable[[], UserStore] | None = None,
               jwt_user: Callable[[str], User | None] | None = None, query: Callable[[str], Any] | None = None,
               fetch: Callable[[str, str], bytes] | None = None, database: str = "datalake",
               lake_bucket: str = "datalake-lake", secure_cookie: bool = True) -> FastAPI:
    """Build the app. ``token`` is required: there is no unauthenticated mode.

    ``users``: the user store (named users, UI sessions, audit log); without it only ``token``
    works and the UI is not served. ``jwt_user``: turns a verified Cognito JWT into a User.
    ``query``: runs Athena SQL in the lake's Glue ``database`` (rejected rows, samples).
    ``fetch``: reads (bucket, key) from S3: the validation result and Data Docs, served to the UI."""
    if not token or len(token) < 16:
        raise ValueError("the catalog API needs DATALAKE_API_TOKEN of at least 16 characters; "
                         "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")

    def current_user(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
        given = creds.credentials if creds else ""
        user: User | None = None
        if given and hmac.compare_digest(given.encode(), token.encode()):
            user = SERVICE_USER
        elif users is not None and given.startswith("dlk_"):
            user = users().authenticate(given)
        elif jwt_user is not None and given.count(".") == 2:
            user = jwt_user(given)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        return user

    def editor(user: Annotated[User, Depends(current_user)]) -> User:
        return _require(user, "editor")

    Me = Annotated[User, Depends(current_user)]
    Editor = Annotated[User, Depends(editor)]
    Store = Annotated[CatalogStore, Depends(store)]
    Search = Annotated[SearchIndex, Depends(search)]
    Rules = Annotated[Any, Depends(rules)]
    # The API docs are served by the app itself (no CDN) and only to signed-in users.
    app = FastAPI(title="datalake catalog", version="0.2.0", docs_url=None, redoc_url=None, openapi_url=None)
    api = APIRouter()

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Callable[[Request], Any]) -> Any:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.exception_handler(LookupError)
    async def _not_found(_: Request, exc: LookupError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UnknownFilterError)
    async def _unknown_filter(_: Request, exc: UnknownFilterError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "valid_filters": exc.valid}, status_code=400)

    @app.exception_handler(ValueError)
    async def _bad_request(_: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(LoginRequired)
    async def _login(_: Request, __: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/ui/login", status_code=303)

    def visible_dataset(dataset: str, user: User, s: CatalogStore) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        # A dataset the user may not see answers exactly like a missing one: no existence leak.
        ds, files = (s.get_dataset(dataset), s.list_objects(dataset)) if user.may_see(dataset) else (None, [])
        if ds is None and not files:
            raise HTTPException(404, str(DatasetNotFound(dataset)))
        return ds, files

    @api.get("/me")
    def me(user: Me) -> dict[str, Any]:
        return {"name": user.name, "role": user.role, "datasets": user.visible()}

    @api.get("/datasets")
    def list_datasets(s: Store, user: Me) -> list[dict[str, Any]]:
        return [_public(d) for d in s.list_datasets() if user.may_see(d["dataset"])]

    @api.get("/datasets/{dataset}")
    def get_dataset(dataset: str, s: Store, user: Me) -> dict[str, Any]:
        ds, files = visible_dataset(dataset, user, s)
        return {"dataset": _public(ds or {}), "files": [_public(f) for f in files]}

    @api.patch("/datasets/{dataset}")
    def edit_dataset(dataset: str, changes: DatasetMetadata, s: Store, user: Editor) -> dict[str, Any]:
        """Set owner, description and/or tags (editors). Every change goes to the audit log."""
        visible_dataset(dataset, user, s)
        return _public(apply_metadata(s, users, user, dataset, changes.model_dump(exclude_unset=True)))

    @api.get("/datasets/{dataset}/audit")
    def dataset_audit(dataset: str, s: Store, user: Me, limit: int = 50) -> list[dict[str, Any]]:
        visible_dataset(dataset, user, s)
        return users().audit_log(dataset, min(max(limit, 1), 500)) if users else []

    def sql() -> Callable[[str], Any]:
        if query is None:
            raise HTTPException(503, "this deployment has no query engine configured for row views")
        return query

    @api.get("/datasets/{dataset}/rejected")
    def dataset_rejected(dataset: str, s: Store, user: Me, rule: str | None = None, offset: int = 0,
                         limit: int = 50) -> dict[str, Any]:
        """Rejected rows in source order, optionally only those failing ``rule`` (a reject message)."""
        ds, _ = visible_dataset(dataset, user, s)
        return explore.rejected_rows(sql(), dataset, ds or {}, rule=rule, offset=offset, limit=limit)

    @api.get("/datasets/{dataset}/rejected.csv")
    def dataset_rejected_csv(dataset: str, s: Store, user: Me, rule: str | None = None) -> StreamingResponse:
        ds, _ = visible_dataset(dataset, user, s)
        chunks = explore.rejected_csv(sql(), dataset, ds or {}, rule=rule)
        first = next(chunks)  # errors (unknown rule) surface before the response starts
        name = f"{dataset}-rejected{'-' + re.sub(r'[^A-Za-z0-9_.-]+', '_', rule) if rule else ''}.csv"
        return StreamingResponse(itertools.chain([first], chunks), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @api.get("/datasets/{dataset}/overview")
    def dataset_overview(dataset: str, s: Store, r: Rules, user: Me) -> dict[str, Any]:
        """Rules in force, sample accepted rows, an Athena query to copy, lineage; ``runs`` is
        reserved for the run history (GET /datasets/{dataset}/runs)."""
        ds, files = visible_dataset(dataset, user, s)
        return dataset_overview_data(dataset, ds or {}, files, r, query, database, lake_bucket)

    @api.get("/datasets/{dataset}/runs")
    def list_runs(dataset: str, s: Store, user: Me, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict[str, Any]]:
        """The dataset's pipeline runs, newest first: trigger, status, each step's outcome, why one failed;
        a run that published has its rows and failed rows per rule in ``steps.publish.counts``."""
        visible_dataset(dataset, user, s)
        return [_public(r) for r in s.list_runs(dataset, limit)]

    @api.get("/search")
    def search_catalog(request: Request, idx: Search, user: Me, q: str = "") -> dict[str, Any]:
        """Ranked hits (datasets first), grouped by dataset, with totals and facet counts; ``page``, ``per_page``.

        Every other query parameter is a filter: ``kind dataset status format owner tag
        partition_key quality`` (repeat one for OR). Any other name is a 400 listing these.
        Results are trimmed to the datasets the caller may see."""
        return run_search(idx, parse_search_params(request.query_params.multi_items()),
                          allowed_datasets=user.visible())

    @api.get("/rules/{dataset}")
    def get_rules(dataset: str, r: Rules, user: Me, version: int | None = None) -> dict[str, Any]:
        _require_dataset(user, dataset)
        return r.get(dataset, version).to_dict()

    @api.get("/rules/{dataset}/history")
    def rules_history(dataset: str, r: Rules, user: Me) -> list[dict[str, Any]]:
        _require_dataset(user, dataset)
        return [{"version": rs.version, "digest": rs.digest} for rs in r.history(dataset)]

    @api.put("/rules")
    def put_rules(items: list[dict[str, Any]], r: Rules, user: Editor) -> dict[str, Any]:
        for ds in {str(i.get("dataset_name")) for i in items if isinstance(i, dict)}:
            _require_dataset(user, ds)
        rs = r.put_items(items)
        if users:
            users().audit(user, "rules.put", rs.dataset, {"version": rs.version, "digest": rs.digest,
                                                          "rule_ids": sorted(str(i.get("id")) for i in items)})
        return {"dataset": rs.dataset, "version": rs.version, "digest": rs.digest}

    @api.delete("/rules/{rule_id}")
    def delete_rule(rule_id: str, r: Rules, user: Editor) -> dict[str, Any]:
        granted = user.visible()
        # Rule ids are "<dataset>-<column>": a user limited to some datasets deletes only theirs.
        if granted is not None and not any(rule_id.startswith(f"{ds}-") for ds in granted):
            raise HTTPException(404, f"no rule {rule_id!r} in the datasets you may see")
        rs = r.delete(rule_id)
        if users:
            users().audit(user, "rules.delete", rs.dataset, {"rule_id": rule_id, "version": rs.version})
        return {"dataset": rs.dataset, "version": rs.version}

    app.include_router(api)

    if users is not None:
        app.include_router(ui_router(token=token, store=store, search=search, users=users, secure_cookie=secure_cookie,
                                     rules=rules, query=query, fetch=fetch, database=database, lake_bucket=lake_bucket))

        def session_user(request: Request) -> User:
            found = users().session(request.cookies.get(COOKIE, ""))
            if found is None:
                raise LoginRequired()
            return found[0]

        def docs_reader(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> User:
            return current_user(creds) if creds else session_user(request)

        @app.get("/openapi.json", include_in_schema=False)
        def openapi(_: Annotated[User, Depends(docs_reader)]) -> JSONResponse:
            return JSONResponse(app.openapi())

        @app.get("/docs", include_in_schema=False, response_class=HTMLResponse)
        def docs(_: Annotated[User, Depends(session_user)]) -> Response:
            return swagger_page()

    return app


def dataset_overview_data(dataset: str, ds: dict[str, Any], files: list[dict[str, Any]], rules: Any,
                          query: Callable[[str], Any] | None, database: str, lake_bucket: str) -> dict[str, Any]:
    """What the dataset page shows besides the record; each part degrades to None when missing."""
    try:
        rs = rules.get(dataset).to_dict()
    except LookupError:
        rs = None
    sample, profile = None, None
    if query is not None and ds.get("validation"):
        try:
            sample = explore.sample_accepted(query, dataset)
            profile = explore.column_profile(query, dataset, [c.get("name", "") for c in ds.get("columns") or []], sample)
        except Exception:  # noqa: BLE001 - a missing table must not break the page
            pass
    return {"rules": rs, "sample": sample, "profile": profile, "athena_sql": explore.athena_snippet(database, dataset),
            "lineage": explore.lineage(database, lake_bucket, dataset, ds, files),
            "known_rules": explore.known_rules(ds), "runs": None}


def _require(user: User, role: Role) -> User:
    if not user.can(role):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user.name!r} is a {user.role}; this needs the {role} role "
                            f"(an admin can change it: `datalake users add` / `datalake users grant`)")
    return user


def _require_dataset(user: User, dataset: str) -> None:
    if not user.may_see(dataset):
        raise HTTPException(404, str(DatasetNotFound(dataset)))


def apply_metadata(s: CatalogStore, users: Callable[[], UserStore] | None, user: User, dataset: str,
                   changes: dict[str, Any]) -> dict[str, Any]:
    """Write owner/description/tags on the dataset record and audit the change (shared by API and UI)."""
    _require(user, "editor")
    before = s.get_dataset(dataset) or {}
    changes = {k: v for k, v in changes.items() if v is not None or k != "tags"}
    if changes:
        s.update_dataset(dataset, changes)
        if users:
            users().audit(user, "dataset.metadata", dataset,
                          {k: {"from": before.get(k), "to": v} for k, v in changes.items()})
    return s.get_dataset(dataset) or {}


SWAGGER_STATIC = "/ui/static/swagger"


def swagger_page() -> Response:
    """Swagger UI from the app's own static files, its one inline script allowed by hash."""
    html = get_swagger_ui_html(openapi_url="/openapi.json", title="datalake catalog API",
                               swagger_js_url=f"{SWAGGER_STATIC}/swagger-ui-bundle.js",
                               swagger_css_url=f"{SWAGGER_STATIC}/swagger-ui.css",
                               swagger_favicon_url=f"{SWAGGER_STATIC}/favicon.png")
    body = bytes(html.body).decode()
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.encode()).digest()).decode() + "'"
        for m in re.findall(r"<script>(.*?)</script>", body, flags=re.S)
    )
    csp = (f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
           "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
    return HTMLResponse(body, headers={"Content-Security-Policy": csp})


def swagger_assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def app_from_settings() -> FastAPI:
    """The app wired to the configured adapters (used by `datalake serve` and in AWS behind API Gateway)."""
    from catalog.search import build_search_index
    from catalog import components as catalog_components
    from quality_rules.store import rules_store
    from datalake_base.settings import get_settings

    s = get_settings()
    jwt_user = None
    if s.cognito_issuer:
        from catalog.auth_jwt import CognitoVerifier

        jwt_user = CognitoVerifier(issuer=s.cognito_issuer, audience=s.cognito_audience or "").user
    from athena_queries.engine import run_query
    from datalake_base import aws

    def fetch(bucket: str, key: str) -> bytes:
        return aws.client("s3", s).get_object(Bucket=bucket, Key=key)["Body"].read()

    return create_app(token=s.api_token or "", store=lambda: catalog_components.catalog_store(s),
                      search=lambda: build_search_index(s), rules=lambda: rules_store(s),
                      users=lambda: catalog_components.user_store(s), jwt_user=jwt_user,
                      query=lambda sql: run_query(s, sql), fetch=fetch, database=s.glue_database,
                      lake_bucket=s.lake_bucket,
                      secure_cookie=s.mode != "local")  # local serves plain http on loopback
