"""Stock checks, store hours and the favourite store: tracker in, domain service, events out.

The decisions are in :mod:`vetrina.catalog.stock_check`; the wording is in
``bot/domain/stock.yml`` (picked by :mod:`actions.replies`). These actions read the message
(text, entities, metadata: the product on screen, a shared location), the slots and the
customer's favourite store, call the service, send the replies, record the check on the
customer's profile, and set the slots the next turn needs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.replies import Reply, ask_location, hours_replies, stock_replies
from actions.runtime import get_runtime
from vetrina.catalog.availability import Status
from vetrina.catalog.errors import CatalogError
from vetrina.catalog.resolution import pick
from vetrina.catalog.stock_check import CheckContext, Outcome, StockCheck
from vetrina.catalog.stores import Coordinates
from vetrina.customers.interactions import (
    STOCK_CHECK,
    favourite_store,
    record_interaction,
    set_favourite_store,
)

log = logging.getLogger(__name__)

CHOOSE_PRODUCT = "choose_product"
CHOOSE_STORE = "choose_store"
SHARE_LOCATION = "share_location"
INFORM = "inform"
AFFIRM = "affirm"
DENY = "deny"

# Slots (bot/domain/stock.yml); none of them influences the dialogue: the rules do not branch.
PRODUCT = "product_code"
SIZE = "size"
COLOUR = "colour"
STORE = "store_code"
STATUS = "stock_status"
LOCATION = "location"
PAGE_PRODUCT = "page_product"
PENDING = "pending_question"
FAVOURITE_OFFER = "favourite_offer"
FAVOURITE_DECLINED = "favourite_declined"
PRODUCT_CANDIDATES = "product_candidates"
STORE_CANDIDATES = "store_candidates"
# The stores the answers named (asked about, or "also in the city"), latest first: a
# booking that cannot be held in one store offers these before any other.
TALKED_ABOUT = "stores_talked_about"
TALKED_ABOUT_MAX = 6

# Outcomes after which the next message completes the same question ("which one?",
# "where are you?", "we have no store there"): the question is kept and read again.
_KEEP_QUESTION = {
    Outcome.AMBIGUOUS_PRODUCT,
    Outcome.NEED_LOCATION,
    Outcome.UNKNOWN_STORE,
    Outcome.INVALID_LOCATION,
}


def language_of(tracker: Tracker) -> str:
    return "en" if tracker.get_slot("language") == "en" else "it"


def metadata_of(tracker: Tracker) -> dict[str, Any]:
    metadata = (tracker.latest_message or {}).get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def channel_of(tracker: Tracker) -> str | None:
    channel = tracker.get_latest_input_channel()
    return channel or metadata_of(tracker).get("channel")


def intent_of(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")


def entity(tracker: Tracker, name: str) -> Any:
    return next(tracker.get_latest_entity_values(name), None)


def typed_text(tracker: Tracker) -> str:
    """What the shopper wrote; a button payload ("/choose_store{…}") is no text."""
    text = (tracker.latest_message or {}).get("text") or ""
    return "" if text.startswith("/") else text


def page_product(metadata: Mapping[str, Any]) -> str | None:
    page = metadata.get("page")
    if isinstance(page, dict):
        value = page.get("product_sku") or page.get("product_code")
        if isinstance(value, (str, int)) and str(value).strip():
            return str(value).strip()[:64]
    return None


def shared_location(tracker: Tracker) -> tuple[object, object] | None:
    """Coordinates sent with this message: entities of ``/share_location{…}`` (web widget,
    WhatsApp), else the ``location`` metadata of a channel adapter."""
    latitude, longitude = entity(tracker, "latitude"), entity(tracker, "longitude")
    if latitude is not None or longitude is not None:
        return latitude, longitude
    location = metadata_of(tracker).get("location")
    if isinstance(location, dict):
        return location.get("lat", location.get("latitude")), location.get(
            "lon", location.get("longitude")
        )
    return None


def remembered_location(tracker: Tracker) -> Coordinates | None:
    value = tracker.get_slot(LOCATION)
    if isinstance(value, dict):
        try:
            return Coordinates.of(value.get("latitude"), value.get("longitude"))
        except CatalogError:
            return None
    return None


def send(dispatcher: CollectingDispatcher, replies: list[Reply]) -> None:
    for reply in replies:
        dispatcher.utter_message(response=reply.response, buttons=reply.buttons, **reply.variables)


async def favourite_of(tracker: Tracker) -> str | None:
    try:
        async with get_runtime().db.sessions() as session:
            return await favourite_store(session, tracker.sender_id)
    except Exception:  # the profile is a nicety: never fail the answer for it
        log.exception("could not read the favourite store of %s", tracker.sender_id)
        return None


def talked_about(tracker: Tracker) -> list[str]:
    """The store codes the conversation's answers named, latest first."""
    value = tracker.get_slot(TALKED_ABOUT)
    return [str(v) for v in value] if isinstance(value, list) else []


def stock_slots(
    check: StockCheck, text: str, on_screen: str | None = None, *, talked: Any = None
) -> list[EventType]:
    """The slots a stock check sets (the booking form reads the same ones); ``talked`` is
    the ``stores_talked_about`` slot before this check."""
    events: list[EventType] = [SlotSet(PAGE_PRODUCT, on_screen)]
    if check.product is not None:
        events += [
            SlotSet(PRODUCT, check.product.code),
            SlotSet(COLOUR, check.colour),
            SlotSet(SIZE, check.size if check.outcome is not Outcome.UNKNOWN_SIZE else None),
        ]
    if check.store is not None:
        events.append(SlotSet(STORE, check.store.store.code))
        named = [check.store.store.code] + [s.code for s in check.also_in_city]
        before = [str(c) for c in talked] if isinstance(talked, list) else []
        latest = list(dict.fromkeys(named + before))[:TALKED_ABOUT_MAX]
        events.append(SlotSet(TALKED_ABOUT, latest))
    events.append(SlotSet(STATUS, check.status.value if check.status else None))
    if check.location is not None:
        events.append(
            SlotSet(
                LOCATION,
                {"latitude": check.location.latitude, "longitude": check.location.longitude},
            )
        )
    events.append(SlotSet(PENDING, text[:500] if check.outcome in _KEEP_QUESTION else None))
    events.append(SlotSet(PRODUCT_CANDIDATES, [c.code for c in check.candidates] or None))
    offered = [a.store.code for a in check.alternatives] + [h.store.code for h in check.nearest]
    events.append(SlotSet(STORE_CANDIDATES, offered or None))
    return events


class ActionCheckStock(Action):
    def name(self) -> str:
        return "action_check_stock"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        metadata = metadata_of(tracker)
        intent = intent_of(tracker)
        channel = channel_of(tracker)
        text = typed_text(tracker)
        pending = tracker.get_slot(PENDING)
        if pending and intent in (CHOOSE_PRODUCT, SHARE_LOCATION, INFORM):
            text = f"{pending} {text}".strip()
        shared = shared_location(tracker)
        if intent == SHARE_LOCATION and shared is None:
            # "/share_location" with no coordinates: a WhatsApp button, a browser that
            # refused. Ask again, keeping the question.
            send(dispatcher, [ask_location(channel)])
            return [SlotSet(PENDING, pending)] if pending else []

        on_screen = page_product(metadata)
        favourite = await favourite_of(tracker)
        chosen_product = entity(tracker, "product_code") if intent == CHOOSE_PRODUCT else None
        if intent == CHOOSE_PRODUCT and not chosen_product:  # "il secondo", "the last one"
            chosen_product = pick(tracker.get_slot(PRODUCT_CANDIDATES) or [], typed_text(tracker))
        chosen_store = entity(tracker, "store_code")
        if not chosen_store and intent == CHOOSE_STORE:
            chosen_store = pick(tracker.get_slot(STORE_CANDIDATES) or [], typed_text(tracker))
        context = CheckContext(
            product_code=tracker.get_slot(PRODUCT),
            page_product=on_screen,
            last_page_product=tracker.get_slot(PAGE_PRODUCT),
            size=tracker.get_slot(SIZE),
            colour=tracker.get_slot(COLOUR),
            store_code=tracker.get_slot(STORE),
            favourite_store=favourite,
            location=remembered_location(tracker),
            shared_location=shared,
            chosen_product=chosen_product,
            chosen_store=chosen_store,
        )
        check = await get_runtime().checker.check(text, context)

        replies = stock_replies(check, language, domain, channel=channel)
        events = stock_slots(check, text, on_screen, talked=tracker.get_slot(TALKED_ABOUT))
        offer = self._offer_favourite(check, tracker, favourite)
        if offer:
            replies.append(Reply("utter_ask_favourite_store", {"store": offer[1]}))
            events.append(SlotSet(FAVOURITE_OFFER, offer[0]))
        send(dispatcher, replies)
        await self._record(tracker, check, channel)
        return events

    @staticmethod
    def _offer_favourite(
        check: StockCheck, tracker: Tracker, favourite: str | None
    ) -> tuple[str, str] | None:
        """Ask "is X your usual store?" once, when the shopper picked a store themselves and
        the item is there (they are about to go)."""
        if check.outcome is not Outcome.ANSWER or check.store is None:
            return None
        if check.status is Status.OUT_OF_STOCK:
            return None
        if check.store_source not in ("text", "chosen", "location", "place"):
            return None
        store = check.store.store
        if favourite == store.code or tracker.get_slot(FAVOURITE_DECLINED):
            return None
        if tracker.get_slot(FAVOURITE_OFFER) or favourite:
            return None
        return store.code, store.name

    @staticmethod
    async def _record(tracker: Tracker, check: StockCheck, channel: str | None) -> None:
        try:
            async with get_runtime().db.transaction() as session:
                await record_interaction(
                    session, tracker.sender_id, STOCK_CHECK, channel=channel, data=check.record()
                )
        except Exception:  # recording must never cost the shopper the answer
            log.exception("could not record a stock check for %s", tracker.sender_id)


class ActionStoreHours(Action):
    def name(self) -> str:
        return "action_store_hours"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        channel = channel_of(tracker)
        context = CheckContext(
            store_code=tracker.get_slot(STORE),
            favourite_store=await favourite_of(tracker),
            location=remembered_location(tracker),
            shared_location=shared_location(tracker),
            chosen_store=entity(tracker, "store_code"),
        )
        answer = await get_runtime().checker.hours(typed_text(tracker), context)
        send(dispatcher, hours_replies(answer, language, domain, channel=channel))
        events: list[EventType] = []
        if len(answer.stores) == 1:
            events.append(SlotSet(STORE, answer.stores[0].store.code))
        if answer.location is not None:
            events.append(
                SlotSet(
                    LOCATION,
                    {"latitude": answer.location.latitude, "longitude": answer.location.longitude},
                )
            )
        return events


class ActionRememberStore(Action):
    """The answer to "is X your usual store?": yes remembers it, no stops asking."""

    def name(self) -> str:
        return "action_remember_store"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        offered = tracker.get_slot(FAVOURITE_OFFER)
        intent = intent_of(tracker)
        if not offered:
            dispatcher.utter_message(response="utter_ok_anything_else")
            return []
        if intent == DENY:
            dispatcher.utter_message(response="utter_favourite_store_declined")
            return [SlotSet(FAVOURITE_OFFER, None), SlotSet(FAVOURITE_DECLINED, True)]
        runtime = get_runtime()
        directory = await runtime.inventory.stores()
        try:
            store = directory.get(offered)
        except CatalogError:
            dispatcher.utter_message(response="utter_ok_anything_else")
            return [SlotSet(FAVOURITE_OFFER, None)]
        async with runtime.db.transaction() as session:
            saved = await set_favourite_store(session, tracker.sender_id, store.code)
        if not saved:
            log.warning("no customer %s to remember a store for", tracker.sender_id)
        dispatcher.utter_message(response="utter_favourite_store_saved", store=store.name)
        return [SlotSet(FAVOURITE_OFFER, None), SlotSet(STORE, store.code)]
