"""The catalog's web UI: search and browse, server-rendered, behind the same token as the API.

Browsers cannot send a bearer header, so the login form exchanges a token for a session: a
random id in an HttpOnly, SameSite=Strict cookie, stored (hashed) server-side with its user and
CSRF token, and deleted on logout. Failed sign-ins are throttled per client address. Every form
carries the session's CSRF token. Every value from the catalog
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

from catalog.browse import BadSearchRequest, SearchRequest, parse_search_params, run_search
from catalog.formatting import exact_time, human_count, human_size, human_time
from catalog.search import SearchIndex, UnknownFilterError
from catalog.store import CatalogStore
from catalog.users import SERVICE_USER, SESSION_TTL_S, User, UserStore

COOKIE = "datalake_session"
SESSION_MAX_AGE_S = SESSION_TTL_S
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
              users: Callable[[], UserStore], secure_cookie: bool) -> APIRouter:
    """Pages behind a server-side session: logout deletes it, so a copied cookie stops working."""

    def session(request: Request) -> tuple[User, str]:
        found = users().session(request.cookies.get(COOKIE, ""))
        if found is None:
            raise LoginRequired()
        return found

    Session = Annotated[tuple[User, str], Depends(session)]
    Store = Annotated[CatalogStore, Depends(store)]
    Search = Annotated[SearchIndex, Depends(search)]
    router = APIRouter(prefix="/ui", include_in_schema=False)

    def page(request: Request, name: str, status_code: int = 200, who: tuple[User, str] | None = None,
             **context: Any) -> Response:
        if who:
            context.update(user=who[0], csrf=who[1])
        return templates.TemplateResponse(request, name, context, status_code=status_code)

    def error(request: Request, status_code: int, title: str, message: str, who: tuple[User, str] | None = None) -> Response:
        return page(request, "error.html", status_code=status_code, who=who, title=title, message=message)

    def csrf_ok(who: tuple[User, str], sent: str) -> bool:
        return hmac.compare_digest(sent.encode(), who[1].encode())

    @router.get("/static/swagger/{name}")
    def swagger_static(name: str) -> Response:
        from catalog.api import swagger_assets

        return _file(swagger_assets(), name)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        return _file(STATIC, name)

    @router.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return page(request, "login.html")

    @router.post("/login")
    def login(request: Request, token_in: Annotated[str, Form(alias="token")]) -> Response:
        u = users()
        client = request.client.host if request.client else "unknown"
        wait = u.login_blocked_for(client)
        if wait:
            resp = page(request, "login.html", status_code=429,
                        error=f"Too many failed sign-ins from this address; try again in {wait // 60 + 1} min.")
            resp.headers["Retry-After"] = str(wait)
            return resp
        if hmac.compare_digest(token_in.encode(), token.encode()):
            user: User | None = SERVICE_USER
        else:
            user = u.authenticate(token_in) if token_in.startswith("dlk_") else None
        if user is None:
            u.login_failed(client)
            return page(request, "login.html", status_code=401, error="That token is not valid.")
        sid, _ = u.open_session(user)
        resp = RedirectResponse("/ui", status_code=303)
        resp.set_cookie(COOKIE, sid, max_age=SESSION_MAX_AGE_S, httponly=True, samesite="strict", secure=secure_cookie)
        return resp

    @router.post("/logout")
    def logout(request: Request, who: Session, csrf: Annotated[str, Form()] = "") -> Response:
        if not csrf_ok(who, csrf):
            return error(request, 403, "Form expired", "Reload the page and try again.", who)
        users().close_session(request.cookies.get(COOKIE, ""))
        resp = RedirectResponse("/ui/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    @router.get("", response_class=HTMLResponse)
    def home(request: Request, idx: Search, who: Session) -> Response:
        try:
            req = parse_search_params(request.query_params.multi_items())
            result = run_search(idx, req, allowed_datasets=who[0].visible())
        except UnknownFilterError as e:
            return error(request, 400, "Unknown filter", str(e), who)
        except (BadSearchRequest, ValueError) as e:
            return error(request, 400, "Cannot search that", str(e), who)
        return page(request, "search.html", who=who, q=req.q, r=result, facet_labels=FACET_LABELS, **_search_links(req))

    @router.get("/datasets", response_class=HTMLResponse)
    def datasets_page(request: Request, s: Store, who: Session) -> Response:
        return page(request, "datasets.html", who=who, datasets=[d for d in s.list_datasets() if who[0].may_see(d["dataset"])])

    def show_dataset(request: Request, dataset: str, s: CatalogStore, who: tuple[User, str], **extra: Any) -> Response:
        ds, files = (s.get_dataset(dataset), s.list_objects(dataset)) if who[0].may_see(dataset) else (None, [])
        if ds is None and not files:
            return error(request, 404, "No such dataset", f"There is no dataset named {dataset!r}.", who)
        audit = users().audit_log(dataset, 20) if who[0].can("editor") else []
        return page(request, "dataset.html", who=who, dataset=dataset, ds=ds or {}, files=files, audit=audit, **extra)

    @router.get("/dataset", response_class=HTMLResponse)
    def dataset_by_name(request: Request, s: Store, who: Session, name: str = "") -> Response:
        return show_dataset(request, name, s, who)

    @router.get("/datasets/{dataset}", response_class=HTMLResponse)
    def dataset_page(request: Request, dataset: str, s: Store, who: Session) -> Response:
        return show_dataset(request, dataset, s, who)

    @router.post("/dataset/edit")
    def edit_dataset(request: Request, s: Store, who: Session, name: Annotated[str, Form()],
                     csrf: Annotated[str, Form()] = "", owner: Annotated[str, Form()] = "",
                     description: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "") -> Response:
        from catalog.api import apply_metadata

        if not csrf_ok(who, csrf):
            return error(request, 403, "Form expired", "Reload the page and try again.", who)
        if not who[0].may_see(name) or (s.get_dataset(name) is None and not s.list_objects(name)):
            return error(request, 404, "No such dataset", f"There is no dataset named {name!r}.", who)
        if not who[0].can("editor"):
            return error(request, 403, "Not allowed",
                         f"{who[0].name} is a {who[0].role}: only editors and admins change dataset metadata.", who)
        try:
            parsed = parse_tags(tags)
        except ValueError as e:
            return show_dataset(request, name, s, who, edit_error=str(e))
        apply_metadata(s, users, who[0], name, {"owner": owner.strip() or None,
                                                 "description": description.strip() or None, "tags": parsed})
        return RedirectResponse(dataset_url(name), status_code=303)

    return router


def parse_tags(text: str) -> dict[str, str]:
    """'team=finance, pii=false' -> {"team": "finance", "pii": "false"}."""
    tags: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.replace("\n", ",").split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"tag {part!r} is not key=value; write tags as team=finance, pii=false")
        tags[key.strip()[:100]] = value.strip()[:200]
    if len(tags) > 50:
        raise ValueError(f"{len(tags)} tags is too many; keep it to 50")
    return tags


def _file(folder: Path, name: str) -> Response:
    files = {p.name: p for p in folder.iterdir() if p.is_file()}
    if name not in files:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(files[name], headers={"Cache-Control": "public, max-age=3600"})
