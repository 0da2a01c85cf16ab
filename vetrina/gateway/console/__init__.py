"""The consultant console: pages, its JSON API (``/console/api/...``) and live socket.

Pages (:mod:`.pages`): ``GET/POST /console/login``, ``POST /console/logout``,
``GET /console`` and its static files, a store's day sheet
``GET /console/stores/{store}/bookings?date=YYYY-MM-DD``; the Insights page
``GET /console/insights`` with ``/console/api/insights/...`` (:mod:`.insights`); the
one-time password reset form ``/console/login/reset`` (:mod:`.password_reset`).
API (session cookie; every POST needs ``X-CSRF-Token``): people and conversations
(:mod:`.conversations`), tools (:mod:`.tools`: stock, slots, bookings), admin
(:mod:`.admin`: merges, login locks; :mod:`.admin_accounts`: consultants, password
resets, the audit log; :mod:`.admin_stores`: try-on switch, temporary closure,
consultant hours per store; the page ``GET /console/admin``), the day sheet's Arrived /
Completed / No-show / Undo buttons ``POST /console/api/bookings/{code}/outcome`` (:mod:`.outcomes`).
Live updates: ``GET /console/ws`` (:mod:`.socket`). Errors are the gateway's one JSON
shape (``vetrina.gateway.http``).

The browser side is ``static/``: ``console.html`` and ``console.js`` (vanilla JS, Italian
or English as the consultant chooses; the choice is saved on their account
(``PUT /console/api/me/language``) and, as the fallback before login, in localStorage
and the ``vetrina_console_lang`` cookie, which the login page reads), ``admin.html`` and
``admin.js`` for the administration page, and one
``console.css`` for the console, the login page and the day sheet, whose buttons
``daysheet.js`` drives (the Content-Security-Policy allows no inline script or style).
"""

