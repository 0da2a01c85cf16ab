"""The console's routes (see the package docstring for what each does)."""

from __future__ import annotations

from aiohttp import web

from vetrina.gateway.console import (
    admin,
    admin_accounts,
    admin_stores,
    canned_replies,
    conversations,
    insights,
    outcomes,
    pages,
    password_reset,
    search,
    socket,
    tools,
)


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/console/login", pages.login_form)
    r.add_post("/console/login", pages.login)
    r.add_post("/console/logout", pages.logout)
    r.add_get("/console/login/reset", password_reset.form)
    r.add_post("/console/login/reset", password_reset.submit)
    r.add_get("/console/admin", pages.admin_page)
    r.add_get("/console", pages.console_page)
    r.add_get("/console/", pages.console_page)
    r.add_get("/console/static/{name}", pages.static_file)
    r.add_get("/console/stores/{store}/bookings", pages.store_bookings)
    r.add_post("/console/api/bookings/{code}/outcome", outcomes.record)
    r.add_get("/console/ws", socket.websocket)
    r.add_get("/console/api/me", conversations.me)
    r.add_put("/console/api/me/language", conversations.my_language)
    r.add_get("/console/api/queue", conversations.queue)
    r.add_get("/console/api/consultants", conversations.consultants)
    r.add_post("/console/api/presence", conversations.presence)
    r.add_get("/console/api/search", search.search)
    r.add_get("/console/api/conversations/{id}", conversations.conversation)
    r.add_post("/console/api/conversations/{id}/claim", conversations.claim)
    r.add_post("/console/api/conversations/{id}/reopen", conversations.reopen)
    r.add_post("/console/api/conversations/{id}/messages", conversations.send_message)
    r.add_post("/console/api/conversations/{id}/hand-back", conversations.hand_back)
    r.add_post("/console/api/conversations/{id}/close", conversations.close)
    r.add_post("/console/api/conversations/{id}/transfer", conversations.transfer)
    r.add_post("/console/api/conversations/{id}/notes", conversations.add_private_note)
    r.add_get("/console/api/stock", tools.stock)
    r.add_get("/console/api/conversations/{id}/slots", tools.slots)
    r.add_post("/console/api/conversations/{id}/bookings", tools.book)
    r.add_post("/console/api/admin/merge", admin.merge)
    r.add_post("/console/api/admin/merges/{id}/undo", admin.undo)
    r.add_get("/console/api/admin/login-locks", admin.login_locks)
    r.add_post("/console/api/admin/login-locks/unlock", admin.unlock)
    r.add_get("/console/api/admin/consultants", admin_accounts.listing)
    r.add_post("/console/api/admin/consultants", admin_accounts.create)
    r.add_put("/console/api/admin/consultants/{id}", admin_accounts.edit)
    r.add_post("/console/api/admin/consultants/{id}/deactivate", admin_accounts.deactivate)
    r.add_post("/console/api/admin/consultants/{id}/reactivate", admin_accounts.reactivate)
    r.add_post("/console/api/admin/consultants/{id}/password-reset", admin_accounts.password_reset)
    r.add_get("/console/api/admin/audit", admin_accounts.audit)
    r.add_get("/console/api/admin/stores", admin_stores.listing)
    r.add_put("/console/api/admin/stores/{code}", admin_stores.edit)
    r.add_get("/console/api/canned-replies", canned_replies.listing)
    r.add_post("/console/api/admin/canned-replies", canned_replies.create)
    r.add_put("/console/api/admin/canned-replies/{id}", canned_replies.edit)
    r.add_delete("/console/api/admin/canned-replies/{id}", canned_replies.remove)
    r.add_get("/console/insights", insights.page)
    r.add_get("/console/static/vendor/{lib}/{name}", insights.vendor_file)
    r.add_get("/console/api/insights/stores", insights.stores)
    r.add_get("/console/api/insights/kpis", insights.kpis)
    r.add_get("/console/api/insights/kpis.csv", insights.kpis_csv)
