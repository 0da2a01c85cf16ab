"""The consultant console: pages, its JSON API (``/console/api/...``) and live socket.

Pages (:mod:`.pages`): ``GET/POST /console/login``, ``POST /console/logout``,
``GET /console`` and its static files, a store's day sheet
``GET /console/stores/{store}/bookings?date=YYYY-MM-DD``; the Insights page
``GET /console/insights`` with ``/console/api/insights/...`` (:mod:`.insights`).
API (session cookie; every POST needs ``X-CSRF-Token``): people and conversations
(:mod:`.conversations`), tools (:mod:`.tools`: stock, slots, bookings), admin
(:mod:`.admin`: merges, login locks).
Live updates: ``GET /console/ws`` (:mod:`.socket`). Errors are the gateway's one JSON
shape (``vetrina.gateway.http``).
"""

