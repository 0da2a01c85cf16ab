"""Linking another channel to this chat with a one-time code: tracker in, domain service,
events out.

``action_link_channel`` ("link my WhatsApp", "I also wrote to you on Instagram") shows a
code and, in the web chat, click-to-chat buttons (``wa.me`` with the code filled in,
``ig.me``): the shopper sends the code from the app being linked and the gateway links
the sender when it arrives (:mod:`vetrina.customers.link_proofs`). The code is limited
per chat, per client address (``client_key``, a keyed hash the web chat puts in the
message metadata) and overall per hour.

Only with ``VETRINA_LINK_OUTBOUND_CODES`` on, and a WhatsApp number in the message, the
old way: a 6-digit code is queued to that number through the outbox (at most 3 an hour
and 5 a day per number), and ``action_verify_link_code`` (the customer types the code
here) links the number — merging its history into this customer — and gives this
conversation the slots of the merged history (language, product, size, colour, store),
so "is it still available?" works across channels. The rules are in
:mod:`vetrina.customers.linking`; the sentences in ``bot/domain/identity.yml``.

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
from actions.stock import channel_of, entity, language_of, metadata_of, typed_text
from vetrina.customers.click_to_chat import instagram_link, whatsapp_link
from vetrina.customers.errors import LinkError
from vetrina.customers.link_proofs import ProofOptions, issue_proof_code
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
    parse_phone,
    request_link_code,
)
from vetrina.customers.profile import memory_slots
from vetrina.messages import message

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


def proof_options() -> ProofOptions:
    """The limits of shown codes, from the injected runtime's settings."""
    settings = get_runtime().settings
    return ProofOptions(
        ttl=get_runtime().link_code_ttl,
        per_customer_per_hour=settings.link_codes_per_session,
        per_client_per_hour=settings.link_codes_per_address,
        per_hour=settings.link_codes_per_hour,
    )


def wanted_channels(text: str) -> set[str]:
    """The apps the shopper named ("link my Instagram"); both when none or both."""
    lowered = text.lower()
    named = {
        channel for channel, words in (
            ("whatsapp", ("whatsapp", "whats app", "wapp")),
            ("instagram", ("instagram", "insta", " ig ")),
        ) if any(word in f" {lowered} " for word in words)
    }
    return named or {"whatsapp", "instagram"}


def link_buttons(code: str, language: str, wanted: set[str]) -> list[dict[str, str]]:
    """Click-to-chat buttons for the channels the retailer has, opened by the web widget."""
    settings = get_runtime().settings
    links = []
    if "whatsapp" in wanted:
        prefill = message("link_proof_prefill", language, code=code)
        links.append(("WhatsApp", whatsapp_link(settings.twilio.whatsapp_from, prefill)))
    if "instagram" in wanted:
        links.append(("Instagram", instagram_link(settings.meta.username)))
    return [
        {"title": title, "url": url, "payload": url, "type": "web_url"}
        for title, url in links if url
    ]


def client_key(tracker: Tracker) -> str | None:
    key = metadata_of(tracker).get("client_key")
    return key if isinstance(key, str) and 0 < len(key) <= 64 else None


class ActionLinkChannel(Action):
    def name(self) -> str:
        return "action_link_channel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        settings = get_runtime().settings
        phone = entity(tracker, "phone") or typed_text(tracker)
        if settings.link_outbound_codes and parse_phone(str(phone), settings.phone_region):
            return await self._send_code(dispatcher, tracker, str(phone))
        return await self._show_code(dispatcher, tracker)

    async def _show_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[EventType]:
        """The default: a code for the shopper to send from WhatsApp or Instagram."""
        language = language_of(tracker)
        options = proof_options()
        web = channel_of(tracker) in (None, "web")
        wanted = wanted_channels(typed_text(tracker))
        if web and not link_buttons("", language, wanted):
            wanted = {"whatsapp", "instagram"}  # the one named is not set up: offer the others
        try:
            async with get_runtime().db.transaction() as session:
                shown = await issue_proof_code(
                    session, tracker.sender_id, client_key=client_key(tracker), options=options
                )
        except LinkError as error:
            dispatcher.utter_message(response=REQUEST_REPLIES.get(error.code, "utter_link_failed"))
            return []
        except Exception:  # never leave the customer without an answer
            log.exception("could not issue a link code for %s", tracker.sender_id)
            dispatcher.utter_message(response="utter_link_failed")
            return []
        buttons = link_buttons(shown.code, language, wanted) if web else []
        dispatcher.utter_message(
            response="utter_link_send_code",
            code=shown.code,
            minutes=int(options.ttl.total_seconds() // 60),
            buttons=buttons,
        )
        return []

    async def _send_code(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, phone: str
    ) -> list[EventType]:
        """Optional (VETRINA_LINK_OUTBOUND_CODES): a code sent to the number typed."""
        language = language_of(tracker)
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
