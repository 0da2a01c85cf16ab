"""Asking for a store consultant: tracker in, handoff service, replies out.

- ``action_request_consultant``: the shopper asked for a person (intent
  ``request_consultant``).
- ``action_not_understood``: the ``nlu_fallback`` rule. It says it did not understand
  (``utter_default``); the second misunderstanding in a row asks for a consultant.
- :func:`ask_for_consultant`: for any action that decides a person is needed (e.g. a
  product question the bot cannot answer).

The request goes through :func:`vetrina.conversations.handoff.request_consultant`, which
routes it to the store that matters (the ``store_code`` slot, else the profile) and says
whether someone can answer now. The shopper is told what happens next and roughly when;
outside consultant hours or with nobody online the request stays queued and a try-on
booking is offered (button ``/book_try_on``). While a consultant owns the conversation
the gateway does not send messages here at all; when the consultant hands it back, the
gateway has Rasa send ``utter_handoff_back`` (see ``integrations/rasa_tracker.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.replies import label, weekday_names
from actions.runtime import get_runtime
from actions.stock import channel_of, language_of
from vetrina.catalog.errors import CatalogError
from vetrina.conversations.handoff import (
    ASSISTANT,
    CUSTOMER,
    WITH_CONSULTANT,
    Actor,
    HandoffOptions,
    Reason,
    RequestOutcome,
    request_consultant,
)

log = logging.getLogger(__name__)

NLU_FALLBACK = "nlu_fallback"
STORE_SLOT = "store_code"
BOOK_TRY_ON = "/book_try_on"
# Sent by the gateway (through Rasa) when a consultant hands the conversation back.
BACK_RESPONSE = "utter_handoff_back"

def misunderstood_in_a_row(tracker: Tracker) -> int:
    """How many of the latest user messages, back to the first understood one, fell back."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") in ("pause", "resume"):
            break  # what the shopper told a consultant is not a misunderstanding
        if event.get("event") != "user":
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if intent != NLU_FALLBACK:
            break
        count += 1
    return count


def when_text(
    at: datetime, now: datetime, zone: Any, domain: Mapping[str, Any], language: str
) -> str:
    """"oggi alle 09:00" / "domani alle 09:00" / "lun alle 09:00" in the consultants' zone."""
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    time = local.strftime("%H:%M")
    if local.date() == today:
        return label(domain, "utter_label_today", language).format(time=time)
    if local.date() == today + timedelta(days=1):
        return label(domain, "utter_label_tomorrow", language).format(time=time)
    day = weekday_names(domain, language)[local.weekday()]
    return label(domain, "utter_label_handoff_day", language).format(day=day, time=time)


def outcome_replies(
    outcome: RequestOutcome,
    options: HandoffOptions,
    domain: Mapping[str, Any],
    language: str,
    now: datetime,
    store_name: str | None,
) -> list[dict[str, Any]]:
    """The messages that tell the shopper what happens next (``utter_message`` kwargs)."""
    book = [{"title": label(domain, "utter_label_handoff_book", language), "payload": BOOK_TRY_ON}]
    # The timetable that answered: the queue's store's own consultant hours, if any.
    zone = ZoneInfo(outcome.timezone) if outcome.timezone else options.hours.zone
    if outcome.status == WITH_CONSULTANT:
        return [{"response": "utter_handoff_already_with_consultant"}]
    if outcome.already and outcome.available:
        return [{"response": "utter_handoff_already_waiting"}]
    if not outcome.open_now:
        if outcome.answer_from is None:
            return [{"response": "utter_handoff_unavailable", "buttons": book}]
        return [{
            "response": "utter_handoff_after_hours", "buttons": book,
            "when": when_text(outcome.answer_from, now, zone, domain, language),
        }]
    if not outcome.available:
        by = outcome.answer_by
        if by is None or by.astimezone(zone).strftime("%H:%M") >= "23:59":
            return [{"response": "utter_handoff_unavailable", "buttons": book}]
        return [{
            "response": "utter_handoff_nobody_online", "buttons": book,
            "until": by.astimezone(zone).strftime("%H:%M"),
        }]
    minutes = outcome.estimate_minutes or 2
    if store_name:
        return [{"response": "utter_handoff_queued_store", "store": store_name, "minutes": minutes}]
    return [{"response": "utter_handoff_queued", "minutes": minutes}]


async def _store_name(code: str | None) -> str | None:
    if not code:
        return None
    directory = await get_runtime().inventory.stores()
    try:
        return directory.get(code).name
    except CatalogError:  # a store that closed since: say nothing about it
        return None


async def ask_for_consultant(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: Mapping[str, Any],
    reason: Reason,
    *,
    actor: Actor = ASSISTANT,
    now: datetime | None = None,
) -> RequestOutcome | None:
    """Queue the conversation for a consultant and tell the shopper what happens next.

    For any action that decides a person is needed. ``None`` (and an apology, the
    shopper can ask again) when the request could not be stored.
    """
    runtime = get_runtime()
    language = language_of(tracker)
    options = runtime.handoff_options
    now = now or runtime.now()
    try:
        outcome = await request_consultant(
            runtime.db, tracker.sender_id, reason=reason, actor=actor, options=options,
            store_hint=tracker.get_slot(STORE_SLOT), channel=channel_of(tracker), now=now,
        )
    except Exception:
        log.exception("could not queue %s for a consultant", tracker.sender_id)
        dispatcher.utter_message(response="utter_handoff_failed")
        return None
    for reply in outcome_replies(
        outcome, options, domain, language, now, await _store_name(outcome.store_code)
    ):
        dispatcher.utter_message(**reply)
    return outcome


class ActionRequestConsultant(Action):
    def name(self) -> str:
        return "action_request_consultant"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        await ask_for_consultant(dispatcher, tracker, domain, Reason.CUSTOMER_ASKED, actor=CUSTOMER)
        return []


class ActionNotUnderstood(Action):
    """"Sorry, I didn't understand"; twice in a row: a consultant takes over."""

    def name(self) -> str:
        return "action_not_understood"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if misunderstood_in_a_row(tracker) < 2:
            dispatcher.utter_message(response="utter_default")
            return []
        dispatcher.utter_message(response="utter_handoff_not_understood")
        await ask_for_consultant(dispatcher, tracker, domain, Reason.NOT_UNDERSTOOD)
        return []
