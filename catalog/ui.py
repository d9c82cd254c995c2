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

import base64
import hmac
import mimetypes
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from catalog.browse import BadSearchRequest, SearchRequest, parse_search_params, run_search
from catalog.charts import rule_failures, run_points, runs_chart_svg
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
templates.env.globals["rule_failures"] = rule_failures


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
              users: Callable[[], UserStore], secure_cookie: bool, rules: Callable[[], Any] | None = None,
              query: Callable[[str], Any] | None = None, fetch: Callable[[str, str], bytes] | None = None,
              database: str = "datalake", lake_bucket: str = "datalake-lake") -> APIRouter:
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
        from catalog import explore
        from catalog.api import dataset_overview_data

        ds, files = (s.get_dataset(dataset), s.list_objects(dataset)) if who[0].may_see(dataset) else (None, [])
        if ds is None and not files:
            return error(request, 404, "No such dataset", f"There is no dataset named {dataset!r}.", who)
        ds = ds or {}
        params = request.query_params
        overview = dataset_overview_data(dataset, ds, files, rules() if rules else _NoRules(), query, database,
                                         lake_bucket)
        rule = params.get("rule") or None
        rejected, rejected_error = None, None
        if query is not None and ds.get("validation"):
            try:
                rejected = explore.rejected_rows(query, dataset, ds, rule=rule, offset=_int(params.get("roffset"), 0),
                                                 limit=REJECTED_PER_PAGE)
            except explore.UnknownRuleError as e:
                rejected_error = str(e)
            except Exception:  # noqa: BLE001 - the rest of the page still helps
                rejected_error = "The rejected rows cannot be read right now (is the lake's query engine up?)."
        fpage = max(1, _int(params.get("fpage"), 1))
        files_sorted = sorted(files, key=lambda f: f.get("arrival_time") or "", reverse=True)
        shown = files_sorted[(fpage - 1) * FILES_PER_PAGE : fpage * FILES_PER_PAGE]

        def link(**changes: Any) -> str:
            merged = {"name": dataset, "rule": rule or "", "roffset": params.get("roffset", ""),
                      "fpage": params.get("fpage", ""), "ppage": params.get("ppage", "")}
            merged.update({k: str(v) for k, v in changes.items()})
            return "/ui/dataset?" + urlencode({k: v for k, v in merged.items() if v not in ("", "0", None)})

        audit = users().audit_log(dataset, 20) if who[0].can("editor") else []
        ppage = max(1, _int(params.get("ppage"), 1))
        parts = partitions_of(files, ds)
        runs = s.list_runs(dataset, RUNS_SHOWN)
        points = run_points(runs)
        return page(
            request, "dataset.html", who=who, dataset=dataset, ds=ds, files=shown, files_total=len(files), fpage=fpage,
            files_per_page=FILES_PER_PAGE, audit=audit, overview=overview, rejected=rejected,
            partitions=parts[(ppage - 1) * FILES_PER_PAGE : ppage * FILES_PER_PAGE], partitions_total=len(parts),
            ppage=ppage, partitions_page_url=lambda n: link(ppage=n),
            rejected_error=rejected_error, quarantined=sum(f.get("status") == "quarantined" for f in files),
            rejected_url=lambda m: link(rule=m, roffset="") + "#rejected",
            rejected_page_url=lambda o: link(roffset=o) + "#rejected",
            files_page_url=lambda n: link(fpage=n),
            rejected_csv_url="/ui/dataset/rejected.csv?" + urlencode({"name": dataset, **({"rule": rule} if rule else {})}),
            runs=runs, run_chart=runs_chart_svg(points) if points else None,
            artifact_url=lambda which: f"/ui/artifacts/{_b64(dataset)}/{_artifact_path(ds, which)}",
            **extra,
        )

    @router.get("/dataset/rejected.csv")
    def rejected_csv(request: Request, s: Store, who: Session, name: str, rule: str | None = None) -> Response:
        from catalog import explore

        ds = s.get_dataset(name) if who[0].may_see(name) else None
        if ds is None or query is None:
            return error(request, 404, "No such dataset", f"There is no validated dataset named {name!r}.", who)
        try:
            body = "".join(explore.rejected_csv(query, name, ds, rule=rule or None))
        except explore.UnknownRuleError as e:
            return error(request, 400, "Unknown rule", str(e), who)
        filename = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{name}-rejected{'-' + rule if rule else ''}") + ".csv"
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})

    @router.get("/artifacts/{dataset_b64}/{path:path}")
    def artifact(request: Request, dataset_b64: str, path: str, s: Store, who: Session) -> Response:
        """The validation result and Data Docs of the dataset's last run, read from the lake bucket."""
        try:
            dataset = base64.urlsafe_b64decode(dataset_b64.encode()).decode()
        except (ValueError, UnicodeDecodeError):
            return error(request, 404, "Not found", "No such report.", who)
        ds = s.get_dataset(dataset) if who[0].may_see(dataset) else None
        base = _report_base(ds or {})
        parts = path.split("/")
        if base is None or fetch is None or any(p in ("", ".", "..") for p in parts):
            return error(request, 404, "Not found", "No such report.", who)
        bucket, prefix = base
        try:
            body = fetch(bucket, f"{prefix}/{path}")
        except Exception:  # noqa: BLE001 - missing object or no access: the same answer
            return error(request, 404, "Not found", f"The report file {path!r} is not in the lake.", who)
        media = mimetypes.guess_type(path)[0] or "application/octet-stream"
        # Data Docs are generated HTML: shown as documents, never allowed to run scripts.
        return Response(body, media_type=media, headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                       "frame-ancestors 'none'; base-uri 'none'; sandbox"})

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

    @router.get("/{rest:path}", response_class=HTMLResponse)
    def not_found(request: Request, rest: str) -> Response:
        # Last route: any other /ui page is an HTML 404, not the API's JSON.
        return error(request, 404, "Page not found", f"There is no page /ui/{rest}.")

    return router


FILES_PER_PAGE = 50
REJECTED_PER_PAGE = 25
RUNS_SHOWN = 30  # the runs table and the chart: the latest runs, newest first in the table


class _NoRules:
    def get(self, dataset: str) -> Any:
        raise LookupError(dataset)


def partitions_of(files: list[dict[str, Any]], ds: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per partition (k=v folders of the keys), newest first: files, bytes, statuses and,
    for ingest dates the validation covered, its accepted/rejected counts."""
    by: dict[str, dict[str, Any]] = {}
    validated = ds.get("validation_partitions") or {}
    for f in files:
        values = f.get("partitions") or {}
        name = "/".join(f"{k}={v}" for k, v in values.items()) or "(no partition folders)"
        p = by.setdefault(name, {"partition": name, "files": 0, "bytes": 0, "statuses": {}, "validation": None})
        p["files"] += 1
        p["bytes"] += int(f.get("size") or 0)
        p["statuses"][f.get("status") or "?"] = p["statuses"].get(f.get("status") or "?", 0) + 1
        date = values.get("ingest_date")
        if date in validated:
            p["validation"] = validated[date]
    return sorted(by.values(), key=lambda p: p["partition"], reverse=True)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def _report_base(ds: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, key prefix) of the last run's report folder, from the validation record."""
    report = ((ds.get("validation") or {}).get("report") or "")
    if not report.startswith("s3://"):
        return None
    bucket, _, key = report.removeprefix("s3://").partition("/")
    return bucket, key.rsplit("/", 1)[0]


def _artifact_path(ds: dict[str, Any], which: str) -> str:
    v = ds.get("validation") or {}
    base = _report_base(ds)
    target = v.get(which) or ""
    if base is None or not target.startswith(f"s3://{base[0]}/{base[1]}/"):
        return ""
    return target.removeprefix(f"s3://{base[0]}/{base[1]}/")


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
