"""``/console/login/reset``: a consultant sets a new password with the one-time code an
admin gave them (``vetrina.conversations.accounts``: single use, expiring, stored hashed).

The form is under ``/console/login`` so it shares the login form's double-submit CSRF
cookie; a wrong, used or expired code gets one message for all three. Using a code ends
every session of the account, and the page then sends the consultant to the login.
"""

from __future__ import annotations

from aiohttp import web

from vetrina.conversations.accounts import redeem_reset
from vetrina.conversations.consultants import AccountError
from vetrina.gateway.console.admin_accounts import ended
from vetrina.gateway.console.auth import LOGIN_CSRF_COOKIE, foreign_origin, new_csrf, same
from vetrina.gateway.console.pages import MAX_FIELD, language
from vetrina.gateway.console.responses import template
from vetrina.gateway.http import ApiError
from vetrina.gateway.keys import CONSOLE

WORDS = {
    "it": {
        "title": "Nuova password", "hint": "Scegli una nuova password (almeno 10 caratteri).",
        "code_label": "Codice", "password_label": "Nuova password",
        "again_label": "Ripeti la password", "save": "Salva la password",
        "back": "Torna all'accesso", "mismatch": "Le due password non coincidono.",
        "refused": "Codice non valido: sbagliato, già usato o scaduto. Chiedine uno nuovo "
                   "a un amministratore.",
        "short": "La password deve avere almeno 10 caratteri.",
    },
    "en": {
        "title": "New password", "hint": "Choose a new password (at least 10 characters).",
        "code_label": "Code", "password_label": "New password",
        "again_label": "Repeat the password", "save": "Save the password",
        "back": "Back to sign-in", "mismatch": "The two passwords differ.",
        "refused": "This code is not valid: wrong, already used or expired. Ask an "
                   "administrator for a new one.",
        "short": "The password must have at least 10 characters.",
    },
}


def _page(request: web.Request, code: str = "", message: str = "", status: int = 200
          ) -> web.Response:
    csrf = new_csrf()
    words = WORDS[language(request)]
    response = template(
        "reset.html", status, csrf=csrf, lang=language(request), code=code[:100],
        message=words[message] if message else "",
        **{k: v for k, v in words.items() if k not in ("mismatch", "refused", "short")},
    )
    request.app[CONSOLE].cookies.set_login_csrf(response, csrf)
    return response


async def form(request: web.Request) -> web.Response:
    return _page(request, request.query.get("code", "").strip())


async def submit(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    data = await request.post()
    if foreign_origin(request) or not same(
        str(data.get("csrf") or ""), request.cookies.get(LOGIN_CSRF_COOKIE)
    ):
        raise ApiError(403, "csrf", "missing or wrong CSRF token")
    code = str(data.get("code") or "").strip()
    password, again = str(data.get("password") or ""), str(data.get("password2") or "")
    if len(code) > MAX_FIELD or len(password) > MAX_FIELD:
        return _page(request, "", "refused", 400)
    if password != again:
        return _page(request, code, "mismatch", 400)
    try:
        consultant = await redeem_reset(console.db, code, password)
    except AccountError as error:
        message = "short" if "at least" in str(error) else "refused"
        return _page(request, code if message == "short" else "", message, 400)
    await ended(request, consultant)
    response = web.HTTPFound("/console/login?reset=1")
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    raise response
