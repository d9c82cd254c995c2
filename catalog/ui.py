"""The catalog's web UI: search and browse, server-rendered, behind the same token as the API.

Browsers cannot send a bearer header, so the login form exchanges the token for a signed,
HttpOnly, SameSite=Strict session cookie (itsdangerous, expiring). Every value from the catalog
is untrusted (keys, column names, tags come from whoever uploads files): Jinja2 autoescapes all of
it, and the page forbids inline scripts with a Content-Security-Policy.
"""

# No `from __future__ import annotations`: FastAPI reads the Annotated types at import.

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from catalog.search import SearchIndex
from catalog.store import CatalogStore

COOKIE = "datalake_session"
SESSION_MAX_AGE_S = 8 * 3600
CSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class LoginRequired(Exception):
    """Raised by the UI's session check; the app turns it into a redirect to the login page."""


def ui_router(*, token: str, store: Callable[[], CatalogStore], search: Callable[[], SearchIndex],
              secure_cookie: bool) -> APIRouter:
    signer = TimestampSigner(token, salt="datalake-ui-session")

    def session(request: Request) -> None:
        value = request.cookies.get(COOKIE, "")
        try:
            signer.unsign(value, max_age=SESSION_MAX_AGE_S)
        except (BadSignature, SignatureExpired):
            raise LoginRequired() from None

    Store = Annotated[CatalogStore, Depends(store)]
    Search = Annotated[SearchIndex, Depends(search)]
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
        resp = templates.TemplateResponse(request, name, context, status_code=status_code)
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        return resp

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return page(request, "login.html")

    @router.post("/login")
    def login(request: Request, token_in: Annotated[str, Form(alias="token")]) -> Response:
        if not hmac.compare_digest(token_in.encode(), token.encode()):
            return page(request, "login.html", status_code=401, error="wrong token")
        resp = RedirectResponse("/ui", status_code=303)
        resp.set_cookie(COOKIE, signer.sign(b"ui").decode(), max_age=SESSION_MAX_AGE_S, httponly=True,
                        samesite="strict", secure=secure_cookie)
        return resp

    @router.post("/logout")
    def logout() -> Response:
        resp = RedirectResponse("/ui/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    @router.get("", response_class=HTMLResponse, dependencies=[Depends(session)])
    def home(request: Request, idx: Search, s: Store, q: str = "",
             status: Annotated[str | None, Query()] = None) -> Response:
        hits = idx.search(q, status=status or None, limit=50) if (q or status) else []
        return page(request, "search.html", q=q, status=status or "", hits=hits, datasets=s.list_datasets())

    @router.get("/datasets/{dataset}", response_class=HTMLResponse, dependencies=[Depends(session)])
    def dataset_page(request: Request, dataset: str, s: Store) -> Response:
        ds, files = s.get_dataset(dataset), s.list_objects(dataset)
        if ds is None and not files:
            raise HTTPException(404, f"no dataset {dataset!r}")
        return page(request, "dataset.html", dataset=dataset, ds=ds or {}, files=files, runs=s.list_runs(dataset, 20))

    return router
