"""The consultant console: pages, its JSON API (``/console/api/...``) and live socket.

Pages (:mod:`.pages`): ``GET/POST /console/login``, ``POST /console/logout``,
``GET /console`` and its static files, a store's day sheet
``GET /console/stores/{store}/bookings?date=YYYY-MM-DD``; the Insights page
``GET /console/insights`` with ``/console/api/insights/...`` (:mod:`.insights`).
API (session cookie; every POST needs ``X-CSRF-Token``): people and conversations
(:mod:`.conversations`), tools (:mod:`.tools`: stock, slots, bookings), admin
(:mod:`.admin`: merges, login locks), the day sheet's Arrived / Completed / No-show /
Undo buttons ``POST /console/api/bookings/{code}/outcome`` (:mod:`.outcomes`).
Live updates: ``GET /console/ws`` (:mod:`.socket`). Errors are the gateway's one JSON
shape (``vetrina.gateway.http``).

The browser side is ``static/``: ``console.html`` and ``console.js`` (vanilla JS, Italian
or English as the consultant chooses; the choice is kept in localStorage and in the
``vetrina_console_lang`` cookie, which the login page and the day sheet read), and one
``console.css`` for the console, the login page and the day sheet, whose buttons
``daysheet.js`` drives (the Content-Security-Policy allows no inline script or style).
"""

