"""The catalog's web UI: search and browse, server-rendered, behind the same token as the API.

Browsers cannot send a bearer header, so the login form exchanges the token for a signed,
HttpOnly, SameSite=Strict session cookie (itsdangerous, expiring). Every value from the catalog
is untrusted (keys, column names, tags come from whoever uploads files): Jinja2 autoescapes all of
it (search highlights are escaped by the index before <em> is added), and the app's
Content-Security-Policy allows no scripts and only the app's own stylesheet (``static/``).
"""

# No `from __future__ import annotations`: FastAPI reads the Annotated types at import.

import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

from catalog.browse import BadSearchRequest, SearchRequest, parse_search_params, run_search
from catalog.formatting import exact_time, human_count, human_size, human_time
from catalog.search import SearchIndex, UnknownFilterError
from catalog.store import CatalogStore

COOKIE = "datalake_session"
SESSION_MAX_AGE_S = 8 * 3600
STATIC = Path(__file__).parent / "static"
FACET_LABELS = {"format": "Format", "status": "Status", "quality": "Quality", "owner": "Owner", "tag": "Tags",
                "partition_key": "Partition keys", "kind": "Kind", "dataset": "Dataset"}
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters.update(size=human_size, count=human_count, ago=human_time, exact=exact_time)


def dataset_url(name: str) -> str:
    # A query parameter, not a path segment: a dataset named ".." or "a/b" must still open.
    return "/ui/dataset?" + urlencode({"name": name})


templates.env.globals["dataset_url"] = dataset_url


def _search_links(req: SearchRequest) -> dict[str, Any]:
    def url(filters: dict[str, list[str]], page: int = 1) -> str:
        params: list[tuple[str, str]] = [("q", req.q)] if req.q else []
        params += [(f, v) for f, vs in filters.items() for v in vs]
        if page > 1:
            params.append(("page", str(page)))
        if req.per_page != 20:
            params.append(("per_page", str(req.per_page)))
        return "/ui" + ("?" + urlencode(params) if params else "")

    def toggle(field: str, value: str) -> str:
        filters = {f: list(vs) for f, vs in req.filters.items()}
        values = filters.setdefault(field, [])
        if value in values:
            values.remove(value)
        else:
            values.append(value)
        return url({f: vs for f, vs in filters.items() if vs})

    return {"toggle": toggle, "page_url": lambda n: url(req.filters, n), "clear_url": url({})}


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
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def error(request: Request, status_code: int, title: str, message: str) -> Response:
        return page(request, "error.html", status_code=status_code, title=title, message=message)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
        if name not in files:
            return Response("not found", status_code=404, media_type="text/plain")
        return FileResponse(files[name], headers={"Cache-Control": "public, max-age=3600"})

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
    def home(request: Request, idx: Search) -> Response:
        try:
            req = parse_search_params(request.query_params.multi_items())
            result = run_search(idx, req)
        except UnknownFilterError as e:
            return error(request, 400, "Unknown filter", str(e))
        except (BadSearchRequest, ValueError) as e:
            return error(request, 400, "Cannot search that", str(e))
        return page(request, "search.html", q=req.q, r=result, facet_labels=FACET_LABELS, **_search_links(req))

    @router.get("/datasets", response_class=HTMLResponse, dependencies=[Depends(session)])
    def datasets_page(request: Request, s: Store) -> Response:
        return page(request, "datasets.html", datasets=s.list_datasets())

    def show_dataset(request: Request, dataset: str, s: CatalogStore) -> Response:
        ds, files = s.get_dataset(dataset), s.list_objects(dataset)
        if ds is None and not files:
            return error(request, 404, "No such dataset", f"There is no dataset named {dataset!r}.")
        return page(request, "dataset.html", dataset=dataset, ds=ds or {}, files=files)

    @router.get("/dataset", response_class=HTMLResponse, dependencies=[Depends(session)])
    def dataset_by_name(request: Request, s: Store, name: str = "") -> Response:
        return show_dataset(request, name, s)

    @router.get("/datasets/{dataset}", response_class=HTMLResponse, dependencies=[Depends(session)])
    def dataset_page(request: Request, dataset: str, s: Store) -> Response:
        return show_dataset(request, dataset, s)

    return router
