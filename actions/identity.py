"""Linking another channel to this chat with a one-time code: tracker in, domain service,
events out.

``action_link_channel`` ("I also wrote to you on WhatsApp, my number is …") queues a
6-digit code to that WhatsApp number through the outbox; ``action_verify_link_code``
(the customer types the code here) links the number — merging its history into this
customer — and gives this conversation the slots of the merged history (language,
product, size, colour, store), so "is it still available?" works across channels. The
rules are in :mod:`vetrina.customers.linking`; the sentences in ``bot/domain/identity.yml``.

The slots are returned as events rather than posted to Rasa's HTTP API: this
conversation is the one being processed (Rasa holds its lock).
"""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.runtime import get_runtime
from actions.stock import entity, language_of, typed_text
from vetrina.customers.errors import LinkError
from vetrina.customers.linking import (
    ALREADY_LINKED,
    CODE_EXPIRED,
    CODE_USED,
    INVALID_PHONE,
    NO_CODE,
    NO_PHONE,
    NOT_A_CODE,
    TOO_MANY_ATTEMPTS,
    TOO_MANY_CODES,
    WRONG_CODE,
    LinkOptions,
    check_link_code,
    mask,
    request_link_code,
)
from vetrina.customers.profile import memory_slots

log = logging.getLogger(__name__)

# LinkError code → response (every one in bot/domain/identity.yml, Italian and English).
REQUEST_REPLIES = {
    NO_PHONE: "utter_link_ask_phone",
    INVALID_PHONE: "utter_link_invalid_phone",
    ALREADY_LINKED: "utter_link_already_linked",
    TOO_MANY_CODES: "utter_link_too_many_codes",
}
VERIFY_REPLIES = {
    NOT_A_CODE: "utter_link_not_a_code",
    NO_CODE: "utter_link_no_code",
    WRONG_CODE: "utter_link_code_wrong",
    CODE_USED: "utter_link_code_used",
    CODE_EXPIRED: "utter_link_code_expired",
    TOO_MANY_ATTEMPTS: "utter_link_code_locked",
}


def link_options() -> LinkOptions:
    """How long a code lives and the phone region, from the injected runtime's settings."""
    runtime = get_runtime()
    return LinkOptions(ttl=runtime.link_code_ttl, phone_region=runtime.settings.phone_region)


class ActionLinkChannel(Action):
    def name(self) -> str:
        return "action_link_channel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        phone = entity(tracker, "phone") or typed_text(tracker)
        options = link_options()
        try:
            async with get_runtime().db.transaction() as session:
                sent = await request_link_code(
                    session, tracker.sender_id, str(phone), language=language, options=options
                )
        except LinkError as error:
            number = error.facts.get("number")
            dispatcher.utter_message(
                response=REQUEST_REPLIES.get(error.code, "utter_link_failed"),
                number=mask(str(number)) if number else "",
            )
            return []
        except Exception:  # never leave the customer without an answer
            log.exception("could not send a link code for %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_link_failed")
            return []
        dispatcher.utter_message(
            response="utter_link_code_sent",
            number=mask(sent.external_id),
            minutes=int(options.ttl.total_seconds() // 60),
        )
        return []


class ActionVerifyLinkCode(Action):
    def name(self) -> str:
        return "action_verify_link_code"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        typed = entity(tracker, "link_code") or typed_text(tracker)
        db = get_runtime().db
        try:
            linked = await check_link_code(
                db, tracker.sender_id, str(typed), options=link_options()
            )
        except LinkError as error:
            dispatcher.utter_message(
                response=VERIFY_REPLIES.get(error.code, "utter_link_failed"),
                remaining=error.facts.get("remaining", 0),
            )
            return []
        except Exception:
            log.exception("could not check a link code for %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_link_failed")
            return []
        async with db.sessions() as session:
            remembered = await memory_slots(session, tracker.sender_id)
        dispatcher.utter_message(response="utter_link_done", number=mask(linked.external_id))
        # The merged history's slots, unless the language was chosen here explicitly.
        if tracker.get_slot("language_chosen"):
            remembered.pop("language", None)
        return [SlotSet(name, value) for name, value in remembered.items()]
