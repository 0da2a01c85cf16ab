"""The day sheet's buttons: Arrived, Completed, No-show and Undo for a try-on.

``POST /console/api/bookings/{code}/outcome`` with ``{"action": "arrived" | "completed" |
"no_show" | "undo", "undoes": <what the clicker saw, for undo>}``. A consultant acts on
their own stores' bookings only (403; an admin on every store's); the move itself is the
conditional update of :class:`~vetrina.bookings.outcomes.BookingOutcomes`, so two
consultants clicking at once get one 200 and one 409, and each click is recorded with
who and when (the customer's timeline shows it).
"""

from __future__ import annotations

from aiohttp import web

from vetrina.bookings.outcomes import Action, OutcomeError, OutcomeView
from vetrina.gateway.api.insights import outcome_error, outcome_json
from vetrina.gateway.console.auth import require_session
from vetrina.gateway.http import ApiError, json_response, read_json
from vetrina.gateway.keys import BOOKING_OUTCOMES, CONSOLE

ACTIONS = {action.value for action in Action}


async def record(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    session = await require_session(request, console.db, console.cookies)
    body = await read_json(request)
    if not isinstance(body, dict) or body.get("action") not in ACTIONS:
        raise ApiError(
            400, "invalid", f"expected {{\"action\": one of {sorted(ACTIONS)}}}"
        )
    undoes = body.get("undoes")
    if undoes is not None and undoes not in ACTIONS - {Action.UNDO.value}:
        raise ApiError(400, "invalid", "undoes must be arrived, completed or no_show")
    code = request.match_info["code"][:32]
    outcomes = request.app[BOOKING_OUTCOMES]
    store = await outcomes.store_of(code)
    consultant = session.consultant
    if store is None:
        raise ApiError(404, "unknown_booking", f"no booking {code}")
    if not consultant.is_admin and store not in consultant.stores:
        raise ApiError(403, "forbidden", "this is another store's booking")
    actor = consultant.email
    view: OutcomeView
    try:
        match Action(body["action"]):
            case Action.ARRIVED:
                view = await outcomes.check_in(code, actor=actor, store=store)
            case Action.COMPLETED:
                view = await outcomes.complete(code, actor=actor, store=store)
            case Action.NO_SHOW:
                view = await outcomes.no_show(code, actor=actor, store=store)
            case Action.UNDO:
                view = await outcomes.undo(code, actor=actor, store=store, undoes=undoes)
    except OutcomeError as problem:
        raise outcome_error(problem) from None
    return json_response(outcome_json(view))
