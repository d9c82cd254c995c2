"""The catalog's JSON API (datasets, files, search, quality rules) and web UI, behind one token.

Thin routers over the same adapters the CLI uses; dependencies come in through ``Annotated``
types so tests inject their own. The token is compared in constant time and never logged.
"""

# No `from __future__ import annotations` here: FastAPI must see the Annotated dependency types
# defined inside create_app as objects, not as unresolvable strings.

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from catalog.browse import parse_search_params, run_search
from catalog.exceptions import DatasetNotFound
from catalog.search import SearchIndex, UnknownFilterError
from catalog.store import CatalogStore
from catalog.ui import LoginRequired, ui_router

_bearer = HTTPBearer(auto_error=False)
# On every response (API, UI, errors): no scripts at all, only the app's own stylesheet.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
HIDDEN = ("pk", "sk", "sequencer_sort")


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in HIDDEN}


def create_app(*, token: str, store: Callable[[], CatalogStore], search: Callable[[], SearchIndex],
               rules: Callable[[], Any], secure_cookie: bool = True) -> FastAPI:
    """Build the app. ``token`` is required: there is no unauthenticated mode."""
    if not token or len(token) < 16:
        raise ValueError("the catalog API needs DATALAKE_API_TOKEN of at least 16 characters; "
                         "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")

    def authorised(creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
        if creds is None or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    Store = Annotated[CatalogStore, Depends(store)]
    Search = Annotated[SearchIndex, Depends(search)]
    Rules = Annotated[Any, Depends(rules)]
    app = FastAPI(title="datalake catalog", version="0.1.0")

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Callable[[Request], Any]) -> Any:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
    api = APIRouter(dependencies=[Depends(authorised)])

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

    @api.get("/datasets")
    def list_datasets(s: Store) -> list[dict[str, Any]]:
        return [_public(d) for d in s.list_datasets()]

    @api.get("/datasets/{dataset}")
    def get_dataset(dataset: str, s: Store) -> dict[str, Any]:
        ds, files = s.get_dataset(dataset), s.list_objects(dataset)
        if ds is None and not files:
            raise HTTPException(404, str(DatasetNotFound(dataset)))
        return {"dataset": _public(ds or {}), "files": [_public(f) for f in files]}

    @api.get("/search")
    def search_catalog(request: Request, idx: Search, q: str = "") -> dict[str, Any]:
        """Ranked hits (datasets first), grouped by dataset, with totals and facet counts; ``page``, ``per_page``.

        Every other query parameter is a filter: ``kind dataset status format owner tag
        partition_key quality`` (repeat one for OR). Any other name is a 400 listing these."""
        return run_search(idx, parse_search_params(request.query_params.multi_items()))

    @api.get("/rules/{dataset}")
    def get_rules(dataset: str, r: Rules, version: int | None = None) -> dict[str, Any]:
        return r.get(dataset, version).to_dict()

    @api.get("/rules/{dataset}/history")
    def rules_history(dataset: str, r: Rules) -> list[dict[str, Any]]:
        return [{"version": rs.version, "digest": rs.digest} for rs in r.history(dataset)]

    @api.put("/rules")
    def put_rules(items: list[dict[str, Any]], r: Rules) -> dict[str, Any]:
        rs = r.put_items(items)
        return {"dataset": rs.dataset, "version": rs.version, "digest": rs.digest}

    @api.delete("/rules/{rule_id}")
    def delete_rule(rule_id: str, r: Rules) -> dict[str, Any]:
        rs = r.delete(rule_id)
        return {"dataset": rs.dataset, "version": rs.version}

    app.include_router(api)
    app.include_router(ui_router(token=token, store=store, search=search, secure_cookie=secure_cookie))
    return app


def app_from_settings() -> FastAPI:
    """The app wired to the configured adapters (used by `datalake serve` and in AWS behind API Gateway)."""
    from catalog.search import build_search_index
    from catalog import components as catalog_components
    from quality_rules.store import rules_store
    from datalake_base.settings import get_settings

    s = get_settings()
    return create_app(token=s.api_token or "", store=lambda: catalog_components.catalog_store(s),
                      search=lambda: build_search_index(s), rules=lambda: rules_store(s),
                      secure_cookie=s.mode != "local")  # local serves plain http on loopback
