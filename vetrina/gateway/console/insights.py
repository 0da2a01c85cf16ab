"""The console's Insights page: the KPIs of :mod:`vetrina.insights` for a signed-in consultant.

- ``GET /console/insights``: the page (``static/insights.html``; its script and styles are
  separate files, as the console's Content-Security-Policy allows no inline code).
- ``GET /console/api/insights/stores``: the stores the signed-in person may look at.
- ``GET /console/api/insights/kpis?from&to[&store][&channel][&group_by]`` and its
  ``.csv`` twin: the same query, checks and document as ``GET /api/insights/kpis``
  (:func:`vetrina.gateway.api.insights.kpi_query`), with the console session instead of
  the reporting token. An admin sees every store; a consultant only their own, checked
  here on the server (403 ``forbidden_store``); an unknown store is 404.
- ``GET /console/static/vendor/{lib}/{name}``: the vendored charting library, only files
  that are in ``static/vendor/`` when the gateway starts (no path from the URL reaches
  the disk).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from vetrina.catalog.models import Store
from vetrina.conversations.consultants import OpenSession
from vetrina.gateway.api.insights import KpiAccess, csv_response, kpi_query
from vetrina.gateway.console.auth import require_session
from vetrina.gateway.console.responses import STATIC, template
from vetrina.gateway.http import ApiError, json_response, store_code
from vetrina.gateway.keys import CONSOLE, INSIGHTS
from vetrina.insights.kpis import KpiQuery

VENDOR = STATIC / "vendor"
VENDOR_TYPES = frozenset({".js", ".css"})


def _vendor_files(root: Path) -> dict[tuple[str, str], Path]:
    """Every servable vendored file by (library, file name), read once at import."""
    if not root.is_dir():
        return {}
    return {
        (path.parent.name, path.name): path
        for path in sorted(root.glob("*/*"))
        if path.is_file() and path.suffix in VENDOR_TYPES
    }


VENDOR_FILES = _vendor_files(VENDOR)


async def page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await require_session(request, console.db, console.cookies, page=True)
    return template("insights.html", csrf=session.csrf_token)


async def vendor_file(request: web.Request) -> web.StreamResponse:
    path = VENDOR_FILES.get((request.match_info["lib"], request.match_info["name"]))
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)


def _access(session: OpenSession) -> KpiAccess:
    consultant = session.consultant
    return KpiAccess() if consultant.is_admin else KpiAccess(frozenset(consultant.stores))


async def _known_stores(request: web.Request) -> list[tuple[str, str]]:
    async with request.app[CONSOLE].db.sessions() as db_session:
        rows = await db_session.execute(select(Store.code, Store.name).order_by(Store.code))
        return [(code, name) for code, name in rows]


async def stores(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await require_session(request, console.db, console.cookies)
    access = _access(session)
    visible = [
        {"code": code, "name": name}
        for code, name in await _known_stores(request)
        if access.stores is None or code in access.stores
    ]
    return json_response({"all_stores": access.stores is None, "stores": visible})


async def _query(request: web.Request) -> KpiQuery:
    console = request.app[CONSOLE]
    session = await require_session(request, console.db, console.cookies)
    params = dict(request.query)
    raw_store = params.get("store", "")
    if raw_store:
        code = store_code(raw_store)
        if code is None or code not in {c for c, _ in await _known_stores(request)}:
            raise ApiError(404, "unknown_store", "no such store", {"store": raw_store[:64]})
        params["store"] = code
    return kpi_query(params, _access(session))


async def kpis(request: web.Request) -> web.Response:
    query = await _query(request)
    return json_response(await request.app[INSIGHTS].kpis(query))


async def kpis_csv(request: web.Request) -> web.Response:
    query = await _query(request)
    return csv_response(query, await request.app[INSIGHTS].kpis(query))
