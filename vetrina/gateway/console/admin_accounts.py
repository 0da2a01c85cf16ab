"""The console's administration of consultant accounts (admin role, checked here on the
server for every request; CSRF as for every change):

- ``GET  /console/api/admin/consultants``: every account, inactive ones included;
- ``POST /console/api/admin/consultants`` ``{email, name, role, stores[, password]}``:
  create; without a password the answer carries a one-time link for them to choose one;
- ``PUT  /console/api/admin/consultants/{id}`` ``{name?, role?, stores?}``;
- ``POST /console/api/admin/consultants/{id}/deactivate`` (its sessions end at once: the
  next request is refused and its open console is told over the websocket) and
  ``/reactivate``;
- ``POST /console/api/admin/consultants/{id}/password-reset``: a one-time code and link,
  shown once, valid for a day;
- ``GET  /console/api/admin/audit``: who changed what, newest first.

Bad input is a 400 naming the field; an unknown id a 404; a change that would leave no
active admin (or an admin deactivating or demoting themselves) a 409. Every change is
recorded with who and when (:mod:`vetrina.storage.audit`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from vetrina.catalog.models import Store
from vetrina.conversations.accounts import (
    AccountConflict,
    AccountNotFound,
    AccountView,
    ResetCode,
    create_account,
    get_account,
    issue_reset,
    list_accounts,
    set_active,
    update_account,
)
from vetrina.conversations.consultants import AccountError, ConsultantView, Role
from vetrina.gateway.console.admin import actor_of, require_admin
from vetrina.gateway.console.desk import PRESENCE
from vetrina.gateway.http import ApiError, json_response, parse_id, read_object, store_code
from vetrina.gateway.keys import CONSOLE
from vetrina.storage.audit import recent

RESET_PATH = "/console/login/reset"
CREATE_FIELDS = frozenset({"email", "name", "role", "stores", "password"})
UPDATE_FIELDS = frozenset({"name", "role", "stores"})


def account_json(account: AccountView) -> dict[str, Any]:
    c = account.consultant
    return {
        "id": c.id, "email": c.email, "name": c.name, "role": c.role, "stores": list(c.stores),
        "active": account.active, "language": c.language,
        "created_at": account.created_at.isoformat(),
    }


def reset_json(reset: ResetCode) -> dict[str, Any]:
    return {
        "code": reset.code, "link": f"{RESET_PATH}?code={reset.code}",
        "expires_at": reset.expires_at.isoformat(),
    }


def _only(body: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "invalid", f"unknown field(s): {', '.join(unknown)}",
                       {"unknown": unknown, "allowed": sorted(allowed)})


def _string(body: dict[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise ApiError(400, "invalid", f"{name} must be non-empty text", {"field": name})
    if len(value.strip()) > limit:
        raise ApiError(400, "invalid", f"{name} is longer than {limit} characters",
                       {"field": name})
    return value.strip()


def _role(body: dict[str, Any], *, required: bool) -> Role | None:
    value = body.get("role")
    if value is None and not required:
        return None
    if value not in (Role.ADMIN.value, Role.CONSULTANT.value):
        raise ApiError(400, "invalid", "role must be 'admin' or 'consultant'", {"field": "role"})
    return Role(value)


async def _stores(request: web.Request, body: dict[str, Any]) -> list[str] | None:
    """The store codes given, each an existing store (else 400 naming the unknown ones)."""
    value = body.get("stores")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 100:
        raise ApiError(400, "invalid", "stores must be a list of store codes",
                       {"field": "stores"})
    codes = [store_code(v) for v in value]
    if any(c is None for c in codes):
        raise ApiError(400, "invalid", "stores must be a list of store codes",
                       {"field": "stores"})
    wanted = sorted({c for c in codes if c is not None})
    async with request.app[CONSOLE].db.sessions() as session:
        known = set((await session.scalars(select(Store.code).where(Store.code.in_(wanted)))).all())
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ApiError(400, "unknown_store", f"unknown store(s): {', '.join(unknown)}",
                       {"field": "stores", "unknown": unknown})
    return wanted


def _account_error(error: AccountError) -> ApiError:
    if isinstance(error, AccountNotFound):
        return ApiError(404, "not_found", "no such consultant")
    if isinstance(error, AccountConflict):
        return ApiError(409, "conflict", str(error))
    if "already exists" in str(error):
        return ApiError(409, "exists", str(error))
    return ApiError(400, "invalid", str(error))


async def listing(request: web.Request) -> web.Response:
    await require_admin(request)
    accounts = await list_accounts(request.app[CONSOLE].db)
    return json_response({"consultants": [account_json(a) for a in accounts]})


async def create(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    admin = await require_admin(request)
    body = await read_object(request)
    _only(body, CREATE_FIELDS)
    email = _string(body, "email", 254, required=True) or ""
    name = _string(body, "name", 200, required=True) or ""
    role = _role(body, required=False) or Role.CONSULTANT
    stores = await _stores(request, body) or []
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise ApiError(400, "invalid", "password must be text", {"field": "password"})
    try:
        view, reset = await create_account(
            console.db, email, name, actor=actor_of(admin), stores=stores, role=role,
            password=password or None,
        )
    except AccountError as error:
        raise _account_error(error) from None
    answer: dict[str, Any] = {"consultant": account_json(await get_account(console.db, view.id))}
    if reset is not None:
        answer["reset"] = reset_json(reset)
    return json_response(answer, status=201)


async def edit(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    admin = await require_admin(request)
    consultant_id = parse_id(request.match_info["id"], "consultant")
    body = await read_object(request)
    _only(body, UPDATE_FIELDS)
    name = _string(body, "name", 200, required=False)
    role = _role(body, required=False)
    stores = await _stores(request, body)
    try:
        await update_account(
            console.db, consultant_id, actor=actor_of(admin), acting_id=admin.id, name=name,
            role=role, stores=stores,
        )
        account = await get_account(console.db, consultant_id)
    except AccountError as error:
        raise _account_error(error) from None
    return json_response({"consultant": account_json(account)})


async def _activation(request: web.Request, active: bool) -> web.Response:
    console = request.app[CONSOLE]
    admin = await require_admin(request)
    consultant_id = parse_id(request.match_info["id"], "consultant")
    try:
        await set_active(
            console.db, consultant_id, active, actor=actor_of(admin), acting_id=admin.id
        )
        account = await get_account(console.db, consultant_id)
    except AccountError as error:
        raise _account_error(error) from None
    if not active:
        await ended(request, account.consultant)
    return json_response({"consultant": account_json(account)})


async def ended(request: web.Request, consultant: ConsultantView) -> None:
    """Tell every open console of the account that its sessions are over (the socket
    closes and the browser goes to the login page), and colleagues that it is offline."""
    await request.app[CONSOLE].bus.publish(
        PRESENCE, {"type": "account_ended", "consultant_id": consultant.id,
                   "presence": "offline"},
    )


async def deactivate(request: web.Request) -> web.Response:
    return await _activation(request, False)


async def reactivate(request: web.Request) -> web.Response:
    return await _activation(request, True)


async def password_reset(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    admin = await require_admin(request)
    consultant_id = parse_id(request.match_info["id"], "consultant")
    try:
        reset = await issue_reset(console.db, consultant_id, actor=actor_of(admin))
    except AccountError as error:
        raise _account_error(error) from None
    return json_response({"reset": reset_json(reset)}, status=201)


async def audit(request: web.Request) -> web.Response:
    await require_admin(request)
    raw = request.query.get("limit", "100")
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw[:6]) <= 500:
        raise ApiError(400, "invalid", "limit must be a number from 1 to 500", {"field": "limit"})
    entries = await recent(request.app[CONSOLE].db, limit=int(raw))
    return json_response({"entries": [
        {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
         "target": e.target, "details": e.details}
        for e in entries
    ]})
