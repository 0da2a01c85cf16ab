"""Try-on bookings by conversation: the form, the booking, my bookings, cancel, reschedule.

``try_on_form`` (bot/domain/bookings.yml) collects three slots: ``try_on_sku`` (the variant),
``try_on_store`` and ``try_on_start`` (UTC ISO time of a free slot). One validation
action reads every message of the form: the item and the store through the same stock
check as "is it in stock?" (so the bot never offers to book what it just said is not
there), the moment through :mod:`vetrina.bookings.when` and :mod:`vetrina.bookings.planner`.
What to say next is decided there and kept in ``try_on_prompt``; the form's ``action_ask_*``
actions send it (or the plain question for the slot), so a question is asked once. Which
kind of step a message is (:func:`next_step`) is a pure function of what is known; the day
and time said in any message of the conversation (``try_on_when``) carry through every
re-prompt, and stores the conversation talked about are offered first.

Everything the business refuses (item below the safety stock, store with try-on switched
off, slot full, past time, impossible date) gets a reply that says why and offers what is
possible instead: other stores, the nearest free slots as buttons.
"""

from __future__ import annotations

import abc
import enum
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.replies import Reply, item, label, moment_text, stock_replies, weekday_names
from actions.runtime import get_runtime
from actions.stock import (
    CHOOSE_PRODUCT,
    CHOOSE_STORE,
    INFORM,
    PENDING,
    SHARE_LOCATION,
    TALKED_ABOUT,
    channel_of,
    entity,
    favourite_of,
    intent_of,
    language_of,
    metadata_of,
    page_product,
    remembered_location,
    send,
    shared_location,
    stock_slots,
    talked_about,
    typed_text,
)
from vetrina.bookings.calendar import CODE_ALPHABET, CODE_LENGTH, short_path
from vetrina.bookings.errors import (
    BookingError,
    BookingNotActive,
    BookingNotFound,
    InvalidDate,
    InvalidItems,
    ItemNotBookable,
    PastTime,
    SlotFull,
    StoreNotBookable,
)
from vetrina.bookings.planner import Fit, Proposal, propose
from vetrina.bookings.service import BookingView, Slot
from vetrina.bookings.when import WhenAsked, read_when, without_when
from vetrina.catalog.availability import Status
from vetrina.catalog.resolution import Resolver, pick
from vetrina.catalog.stock_check import CheckContext, Outcome, StockCheck
from vetrina.catalog.stores import Coordinates, StoreInfo, distance_km

log = logging.getLogger(__name__)

SKU, STORE, START = "try_on_sku", "try_on_store", "try_on_start"
PROMPT = "try_on_prompt"
OPTIONS = "slot_options"
CODE = "booking_code"
ADDING = "adding_item"  # what to add, kept while the shopper picks which booking
ADD_TO_BOOKING = "add_to_booking"
CLOSED = "temporarily_closed"  # StoreNotBookable.reason of a store a manager closed
# The latest message of the conversation that said a day or time ("sabato alle 11"): read
# again whenever the current message says none, so no re-prompt forgets it.
WHEN = "try_on_when"
WEB = "web"
CHOOSE_SLOT = "choose_slot"
# Messages that leave the form: the rules in bot/data/rules.yml take over.
LEAVING = {
    "deny", "goodbye", "request_consultant", "my_bookings", "cancel_booking",
    "reschedule_booking", "add_to_booking", "switch_language", "out_of_scope",
    "bot_challenge", "ask_capabilities", "link_channel", "give_code",
}  # fmt: skip

# "at the same appointment" / "nello stesso appuntamento": about the booking, not the item
# (the resolver would read "same"/"stesso" as a place or a product word).
_SAME_BOOKING = re.compile(
    r"\b(?:(?:at|in|during|for|to)\s+)?(?:the\s+|my\s+)?same\s+"
    r"(?:appointment|booking|try-?on|fitting|visit)\b"
    r"|\b(?:nell[oa']?|all[oa']?|per\s+l[oa']?|durante\s+l[oa']?)\s*stess[oa]\s+"
    r"(?:appuntamento|prenotazione|prova|visita)\b",
    re.IGNORECASE,
)


def without_booking_words(text: str) -> str:
    """The item part of "can I also try X at the same appointment"."""
    return " ".join(_SAME_BOOKING.sub(" ", text).split())


_CODE = re.compile(rf"\b[{CODE_ALPHABET}{CODE_ALPHABET.lower()}]{{{CODE_LENGTH}}}\b")
_STEP_FIT = {
    Fit.PAST: "utter_try_on_time_past",
    Fit.CLOSED: "utter_try_on_time_closed",
    Fit.FULL: "utter_try_on_time_full",
    Fit.TOO_FAR: "utter_try_on_time_too_far",
    Fit.CHOOSE: "utter_try_on_pick_time",
    Fit.NO_TIME: "utter_ask_try_on_time",
}


# --- small helpers ------------------------------------------------------------------------


def booking_code_in(tracker: Tracker) -> str | None:
    """A booking code from a button (entity) or typed: six letters/digits of the code
    alphabet, with a digit or in capitals, so that words like "sempre" are not codes."""
    given = entity(tracker, CODE)
    if given:
        return str(given).upper()
    for match in _CODE.finditer(typed_text(tracker)):
        word = match.group(0)
        if any(ch.isdigit() for ch in word) or word.isupper():
            return word.upper()
    return None


def when_of(moment: datetime, zone: ZoneInfo, language: str, domain: DomainDict) -> str:
    """"domani alle 17:00" / "sab 28/11 alle 17:00", against the runtime's clock."""
    return moment_text(moment, zone, language, domain, now=get_runtime().now())


def slot_button(slot: Slot, zone: ZoneInfo, language: str, domain: DomainDict) -> dict[str, str]:
    local = slot.starts_at.astimezone(zone)
    day = weekday_names(domain, language)[local.weekday()][:3]
    return {
        "title": f"{day} {local:%d/%m %H:%M}",
        "payload": "/" + CHOOSE_SLOT + json.dumps({"slot_start": slot.starts_at.isoformat()}),
    }


def store_choice_button(code: str, name: str) -> dict[str, str]:
    return {"title": name, "payload": "/" + CHOOSE_STORE + json.dumps({"store_code": code})}


def as_slot(reply: Reply) -> dict[str, Any]:
    return {"response": reply.response, "variables": reply.variables, "buttons": reply.buttons}


def from_slot(value: Any) -> list[Reply]:
    if not isinstance(value, list):
        return []
    return [
        Reply(v["response"], dict(v.get("variables") or {}), list(v.get("buttons") or []))
        for v in value
        if isinstance(v, dict) and v.get("response")
    ]


def asked_start(tracker: Tracker, zone: ZoneInfo, now: datetime) -> WhenAsked | None:
    """A slot button (``/choose_slot{"slot_start": …}``) or an ordinal ("il primo orario")
    among the offered slots, as an exact day and time; ``None`` if neither."""
    raw = entity(tracker, "slot_start")
    if raw is None:
        raw = pick(tracker.get_slot(OPTIONS) or [], typed_text(tracker))
        if raw is None:
            return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(zone)
    return WhenAsked(local.date(), local.time().replace(tzinfo=None))


def says_when(text: str, now: datetime) -> bool:
    """Whether ``text`` names a day, a time or a part of the day (even an impossible one)."""
    try:
        return not read_when(text, now.replace(tzinfo=None)).empty
    except InvalidDate:
        return True


def remembered_when(text: str, remembered: str | None, local_now: datetime) -> WhenAsked:
    """The moment of this message, completed by the one said earlier: "alle 11" keeps the
    day said before, and a message without any moment takes the earlier one whole."""
    asked = read_when(text, local_now)
    if not remembered or not (asked.empty or asked.day is None):
        return asked
    try:
        before = read_when(remembered, local_now)
    except InvalidDate:
        return asked
    if asked.empty:
        return before
    return WhenAsked(before.day, asked.at, asked.part) if before.day else asked


async def plan_time(
    tracker: Tracker, store_code: str, language: str, domain: DomainDict, now: datetime
) -> tuple[Proposal | None, list[Reply], list[str]]:
    """The moment the message asks for (or the one said earlier in the conversation): a
    proposal, or the replies that explain why not (with the nearest free slots as
    buttons) and those slots' ISO times."""
    bookings = get_runtime().bookings
    zone = await bookings.store_zone(store_code)
    asked = asked_start(tracker, zone, now)
    if asked is None:
        local_now = now.astimezone(zone).replace(tzinfo=None)
        try:
            asked = remembered_when(typed_text(tracker), tracker.get_slot(WHEN), local_now)
        except InvalidDate:
            options = await bookings.next_free_slots(store_code, after=now)
            invalid = _slots_reply("utter_try_on_date_invalid", options, zone, language, domain)
            return None, [invalid], [s.starts_at.isoformat() for s in options]
    proposal = await propose(bookings, store_code, asked, now)
    if proposal.fit is Fit.EXACT:
        return proposal, [], []
    reply = _slots_reply(_STEP_FIT[proposal.fit], list(proposal.options), zone, language, domain)
    if proposal.day is not None:
        reply.variables["day"] = (
            f"{weekday_names(domain, language)[proposal.day.weekday()]} {proposal.day:%d/%m}"
        )
    if proposal.at is not None:
        reply.variables["time"] = f"{proposal.at:%H:%M}"
    return proposal, [reply], [s.starts_at.isoformat() for s in proposal.options]


def _slots_reply(
    response: str, options: list[Slot], zone: ZoneInfo, language: str, domain: DomainDict
) -> Reply:
    if not options:
        return Reply("utter_try_on_no_slots", {"day": "", "time": ""})
    buttons = [slot_button(s, zone, language, domain) for s in options]
    return Reply(response, {"day": "", "time": ""}, buttons)


def product_name(resolver: Resolver | None, sku: str, stored: str, language: str) -> str:
    """The product's name in ``language`` (bookings store the Italian one)."""
    if resolver is None or language == "it":
        return stored
    found = resolver.index.exact(sku)
    info = resolver.index.info(found[0]) if found else None
    return info.name(language) if info is not None else stored


async def items_text(view: BookingView, language: str) -> str:
    """"Stivale Brera (nero, 41)" / "Brera boot (black, 41)", one per booked item."""
    resolver = await get_runtime().resolvers.get() if language != "it" else None
    return ", ".join(
        item(product_name(resolver, i.sku, i.product, language), i.colour, i.size, language)
        + (f" ×{i.quantity}" if i.quantity > 1 else "")
        for i in view.items
    )


def calendar_link(
    view: BookingView, channel: str | None, language: str, domain: DomainDict
) -> tuple[str, list[dict[str, str]]]:
    """The calendar file: a button in the web widget (the long private link stays out of
    the bubble), a short unguessable link in the text elsewhere (WhatsApp, Instagram)."""
    base = get_runtime().public_url.rstrip("/")
    if channel in (None, WEB):
        url = base + view.calendar_path
        title = label(domain, "utter_label_add_to_calendar", language)
        return "", [{"title": title, "url": url, "payload": url, "type": "web_url"}]
    url = base + short_path(view.code, view.calendar_token)
    return label(domain, "utter_label_calendar_line", language).format(url=url), []


async def confirmation(
    view: BookingView, language: str, domain: DomainDict, response: str, channel: str | None
) -> Reply:
    zone = ZoneInfo(view.store_timezone)
    calendar, buttons = calendar_link(view, channel, language, domain)
    return Reply(
        response,
        {
            "code": view.code,
            "store": view.store_name,
            "address": view.store_address,
            "when": when_of(view.starts_at, zone, language, domain),
            "items": await items_text(view, language),
            "calendar": calendar,
        },
        buttons if response != "utter_booking_cancelled" else [],
    )


# --- the form -------------------------------------------------------------------------------


class Step(str, enum.Enum):
    """What the form does with a message, decided by :func:`next_step`."""

    TIME_ONLY = "time_only"  # item and store known, the message is about the time
    ITEM_IN_STORE = "item_in_store"  # one variant in one store: bookable, or why not
    SHOW_SIZES = "show_sizes"  # product and store known, size or colour missing
    ASK_ITEM = "ask_item"  # nothing about the item yet
    KEEP = "keep"  # nothing new: keep what is known, plan the time
    NEAREST_STORE = "nearest_store"  # a place or location: its nearest store
    EXPLAIN = "explain"  # the stock check's own answer (unknown product, ask store…)


@dataclass(frozen=True)
class Known:
    """What the form knows before a message, and what the message's stock check found."""

    sku: bool  # try_on_sku is set
    store: bool  # try_on_store is set
    checked: bool  # the message was checked (False: it names no item or store)
    outcome: Outcome | None = None
    check_sku: bool = False  # the check found one variant
    check_store: bool = False  # the check found one store
    nearest: bool = False  # the check found stores near a place


def next_step(known: Known) -> Step:
    """The form's next move: a pure function of what is known (tested by a table)."""
    if not known.checked:
        return Step.TIME_ONLY
    if known.outcome is Outcome.ANSWER and known.check_store:
        return Step.ITEM_IN_STORE if known.check_sku else Step.SHOW_SIZES
    if known.outcome is Outcome.ASK_PRODUCT:
        return Step.KEEP if known.sku and known.store else Step.ASK_ITEM
    if known.outcome is Outcome.STORE_INFO and known.nearest:
        return Step.NEAREST_STORE
    return Step.EXPLAIN


def state_label(status: Status | None, domain: DomainDict, language: str) -> str:
    """Why an item cannot be held, exactly: last pieces, sold out, or held for others."""
    name = {
        Status.LAST_PIECES: "utter_label_state_last_pieces",
        Status.OUT_OF_STOCK: "utter_label_state_sold_out",
    }.get(status, "utter_label_state_held") if status is not None else "utter_label_state_held"
    return label(domain, name, language)


def nearest_first(
    stores: Sequence[StoreInfo], talked: Sequence[str], origin: Coordinates | None
) -> list[StoreInfo]:
    """Stores talked about in the conversation first (latest first), then the rest by
    distance from ``origin`` (the store or place talked about, else the shopper)."""
    rank = {code: n for n, code in enumerate(talked)}
    return sorted(
        stores,
        key=lambda s: (
            rank.get(s.code, len(rank)),
            distance_km(s.location, origin) if origin is not None else 0.0,
            s.code,
        ),
    )


class ValidateTryOnForm(Action):
    """Reads every message of ``try_on_form``; see the module docstring."""

    def name(self) -> str:
        return "validate_try_on_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        if intent_of(tracker) in LEAVING:
            return []  # the form is rejected and the rules handle the message
        language = language_of(tracker)
        now = get_runtime().now()
        events: list[EventType] = []
        prompt: list[Reply] = []
        sku, store = tracker.get_slot(SKU), tracker.get_slot(STORE)
        text = typed_text(tracker)
        if says_when(text, now):
            events.append(SlotSet(WHEN, text[:500]))

        time_only = await self._about_time_only(tracker, sku, store)
        check = None if time_only else await self._check(tracker)
        step = next_step(
            Known(
                sku=bool(sku), store=bool(store), checked=check is not None,
                outcome=check.outcome if check else None,
                check_sku=bool(check and check.sku), check_store=bool(check and check.store),
                nearest=bool(check and check.nearest),
            )
        )
        channel = channel_of(tracker)
        if check is None or step in (Step.TIME_ONLY, Step.KEEP):
            pass
        elif step is Step.ITEM_IN_STORE:
            sku, store, prompt = await self._item_in_store(check, language, domain, tracker)
        elif step is Step.SHOW_SIZES:
            assert check.store is not None
            sku, store = None, check.store.store.code
            prompt = stock_replies(check, language, domain, channel=channel)
            prompt.append(self._ask_variant(check, language))
        elif step is Step.ASK_ITEM:
            prompt = [Reply("utter_ask_try_on_item")]
        elif step is Step.NEAREST_STORE:
            store = check.nearest[0].store.code
            events.append(SlotSet("store_code", store))
            prompt = [] if sku else [Reply("utter_ask_try_on_item")]
        else:
            sku = None if check.outcome is not Outcome.ASK_STORE else sku
            prompt = stock_replies(check, language, domain, channel=channel)
            if check.outcome is Outcome.ASK_STORE:
                prompt = [Reply("utter_ask_try_on_store", prompt[0].variables, prompt[0].buttons)]

        if check is not None:
            events += stock_slots(
                check, without_when(text), page_product(metadata_of(tracker)),
                talked=tracker.get_slot(TALKED_ABOUT),
            )
        start = tracker.get_slot(START)
        options: list[str] | None = None
        if sku and store and not prompt:
            try:
                proposal, prompt, options = await plan_time(tracker, store, language, domain, now)
            except StoreNotBookable as refused:
                prompt = await self._other_stores(sku, store, tracker, refused.reason)
                store, proposal = None, None
            if proposal is not None and proposal.fit is Fit.EXACT and proposal.slot is not None:
                start = proposal.slot.starts_at.isoformat()
            elif prompt:
                start = None
        events += [
            SlotSet(SKU, sku),
            SlotSet(STORE, store),
            SlotSet(START, start if sku and store else None),
            SlotSet(PROMPT, [as_slot(r) for r in prompt] or None),
        ]
        if options is not None:
            events.append(SlotSet(OPTIONS, options))
        return events

    @staticmethod
    async def _about_time_only(tracker: Tracker, sku: str | None, store: str | None) -> bool:
        """Item and store are known and the message names no other product, size,
        colour or store ("sabato alle 11", "il secondo orario", a slot button)."""
        if not (sku and store):
            return False
        if intent_of(tracker) == CHOOSE_SLOT:
            return True
        if intent_of(tracker) in (CHOOSE_PRODUCT, CHOOSE_STORE, SHARE_LOCATION):
            return False
        resolver = await get_runtime().resolvers.get()
        query = resolver.parse(without_when(typed_text(tracker)))
        return not (
            query.code or query.product_words or query.colour or query.size or query.store
            or query.near_me
        )

    async def _check(self, tracker: Tracker) -> StockCheck:
        intent = intent_of(tracker)
        text = without_when(typed_text(tracker))
        pending = tracker.get_slot(PENDING)
        if pending and intent in (CHOOSE_PRODUCT, SHARE_LOCATION, INFORM):
            text = f"{pending} {text}".strip()
        chosen_product = entity(tracker, "product_code") if intent == CHOOSE_PRODUCT else None
        chosen_store = entity(tracker, "store_code") if intent == CHOOSE_STORE else None
        context = CheckContext(
            product_code=tracker.get_slot("product_code"),
            page_product=page_product(metadata_of(tracker)),
            last_page_product=tracker.get_slot("page_product"),
            size=tracker.get_slot("size"),
            colour=tracker.get_slot("colour"),
            store_code=tracker.get_slot(STORE) or tracker.get_slot("store_code"),
            favourite_store=await favourite_of(tracker),
            location=remembered_location(tracker),
            shared_location=shared_location(tracker),
            chosen_product=chosen_product,
            chosen_store=chosen_store,
        )
        return await get_runtime().checker.check(text, context)

    @staticmethod
    def _ask_variant(check: StockCheck, language: str) -> Reply:
        assert check.product is not None
        name = check.product.name(language)
        if check.colour is None and len(check.product.colours) > 1:
            return Reply("utter_ask_try_on_colour", {"product": name})
        return Reply("utter_ask_try_on_size", {"product": item(name, check.colour, None, language)})

    async def _item_in_store(
        self, check: StockCheck, language: str, domain: DomainDict, tracker: Tracker
    ) -> tuple[str | None, str | None, list[Reply]]:
        """The variant in the chosen store: bookable, or why not and where else."""
        assert check.sku is not None and check.store is not None
        assert check.product is not None
        sku, store = check.sku, check.store.store
        try:
            await get_runtime().bookings.store_zone(store.code)
        except StoreNotBookable as refused:
            return sku, None, await self._other_stores(sku, store.code, tracker, refused.reason)
        if check.bookable:
            return sku, store.code, []
        name = item(check.product.name(language), check.colour, check.size, language)
        others = await self._other_store_buttons(sku, store.code, tracker)
        response = (
            "utter_try_on_item_unavailable_elsewhere" if others else "utter_try_on_item_unavailable"
        )
        state = state_label(check.status, domain, language)
        values = {"item": name, "store": store.name, "state": state}
        return sku, None, [Reply(response, values, others)]

    async def _other_stores(
        self, sku: str, store_code: str, tracker: Tracker, reason: str = ""
    ) -> list[Reply]:
        """Why the store takes no booking (a temporary closure is said as such), and the
        other stores that could hold the item."""
        directory = await get_runtime().inventory.stores()
        name = next((s.name for s in directory if s.code == store_code), store_code)
        others = await self._other_store_buttons(sku, store_code, tracker)
        if reason == CLOSED:
            response = (
                "utter_try_on_store_closed_elsewhere" if others else "utter_try_on_store_closed"
            )
        else:
            response = "utter_try_on_store_off_elsewhere" if others else "utter_try_on_store_off"
        return [Reply(response, {"store": name}, others)]

    @staticmethod
    async def _other_store_buttons(
        sku: str, store_code: str, tracker: Tracker, limit: int = 3
    ) -> list[dict[str, str]]:
        """Stores that take bookings and could hold the item: those talked about first,
        then the nearest to the store asked about (else the shopper's location)."""
        runtime = get_runtime()
        codes = set(await runtime.bookings.bookable_stores([(sku, 1)])) - {store_code}
        stores = {s.code: s for s in await runtime.inventory.stores()}
        asked = stores.get(store_code)
        origin = asked.location if asked is not None else remembered_location(tracker)
        ordered = nearest_first(
            [stores[c] for c in codes if c in stores], talked_about(tracker), origin
        )
        return [store_choice_button(s.code, s.name) for s in ordered[:limit]]


class AskTryOnSlot(Action, abc.ABC):
    """``action_ask_try_on_*``: what the validation decided to say, or the plain question."""

    @property
    @abc.abstractmethod
    def slot(self) -> str: ...

    @property
    @abc.abstractmethod
    def question(self) -> str: ...

    def name(self) -> str:
        return f"action_ask_{self.slot}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        replies = from_slot(tracker.get_slot(PROMPT))
        if not replies and self.slot == START:
            store = tracker.get_slot(STORE)
            _, replies, options = await plan_time(
                tracker, store, language_of(tracker), domain, get_runtime().now()
            )
            send(dispatcher, replies or [Reply(self.question)])
            return [SlotSet(PROMPT, None), SlotSet(OPTIONS, options)]
        send(dispatcher, replies or [Reply(self.question)])
        return [SlotSet(PROMPT, None)]


class AskTryOnSku(AskTryOnSlot):
    slot = SKU
    question = "utter_ask_try_on_item"


class AskTryOnStore(AskTryOnSlot):
    slot = STORE
    question = "utter_ask_try_on_store_plain"


class AskTryOnStart(AskTryOnSlot):
    slot = START
    question = "utter_ask_try_on_time"


class ActionBookTryOn(Action):
    """The form is complete: book, hold the item, confirm with code, address and .ics."""

    def name(self) -> str:
        return "action_book_try_on"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        sku, store, start = (tracker.get_slot(s) for s in (SKU, STORE, START))
        clear = [
            SlotSet(SKU, None), SlotSet(START, None), SlotSet(OPTIONS, None), SlotSet(WHEN, None)
        ]
        bookings = get_runtime().bookings
        try:
            zone = await bookings.store_zone(store)
            local = datetime.fromisoformat(start).astimezone(zone)
            view = await bookings.book(
                tracker.sender_id, store, local.date(), local.time().replace(tzinfo=None),
                [(sku, 1)], channel=channel_of(tracker),
            )
        except (SlotFull, PastTime):
            # Someone took the last place since it was offered: offer the next ones.
            options = await bookings.next_free_slots(store)
            zone = await bookings.store_zone(store)
            taken = _slots_reply("utter_try_on_slot_taken", options, zone, language, domain)
            send(dispatcher, [taken])
            return [*clear, SlotSet(OPTIONS, [s.starts_at.isoformat() for s in options])]
        except (ItemNotBookable, StoreNotBookable):
            send(dispatcher, [Reply("utter_try_on_item_gone")])
            return [*clear, SlotSet(STORE, None)]
        except (BookingError, TypeError, ValueError):
            log.exception("booking failed for %s", tracker.sender_id)
            send(dispatcher, [Reply("utter_try_on_failed")])
            return clear
        booked = await confirmation(
            view, language, domain, "utter_try_on_booked", channel_of(tracker)
        )
        send(dispatcher, [booked])
        return [*clear, SlotSet(STORE, None), SlotSet(CODE, None)]


# --- my bookings, cancel, reschedule ----------------------------------------------------


async def booking_lines(views: list[BookingView], language: str, domain: DomainDict) -> str:
    """One line per booking: code, store, when, and the items in the shopper's language."""
    lines = []
    for view in views:
        zone = ZoneInfo(view.store_timezone)
        items = await items_text(view, language)
        when = when_of(view.starts_at, zone, language, domain)
        lines.append(f"• {view.code} — {view.store_name}, {when}: {items}")
    return "\n".join(lines)


def booking_buttons(views: list[BookingView], language: str, intent: str) -> list[dict[str, str]]:
    verbs = {
        "cancel_booking": ("Annulla", "Cancel"),
        "reschedule_booking": ("Sposta", "Move"),
        ADD_TO_BOOKING: ("Aggiungi a", "Add to"),
    }
    verb = verbs[intent][1 if language == "en" else 0]
    return [
        {"title": f"{verb} {v.code}", "payload": "/" + intent + json.dumps({CODE: v.code})}
        for v in views
    ]


class ActionMyBookings(Action):
    def name(self) -> str:
        return "action_my_bookings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        views = await get_runtime().bookings.my_bookings(tracker.sender_id)
        if not views:
            send(dispatcher, [Reply("utter_no_bookings")])
            return []
        shown = views[:3]
        buttons = booking_buttons(shown, language, "reschedule_booking") + booking_buttons(
            shown, language, "cancel_booking"
        )
        send(
            dispatcher,
            [
                Reply(
                    "utter_my_bookings",
                    {"bookings": await booking_lines(views, language, domain)},
                    buttons,
                )
            ],
        )
        return []


async def which_booking(
    tracker: Tracker, dispatcher: CollectingDispatcher, domain: DomainDict, intent: str
) -> str | None:
    """The booking meant: a code given, the one being moved, or the only upcoming one;
    otherwise asks (with a button per booking) and returns ``None``."""
    code = booking_code_in(tracker) or (
        tracker.get_slot(CODE) if intent == "reschedule_booking" else None
    )
    if code:
        return code
    language = language_of(tracker)
    views = await get_runtime().bookings.my_bookings(tracker.sender_id)
    if not views:
        send(dispatcher, [Reply("utter_no_bookings")])
        return None
    if len(views) == 1:
        return views[0].code
    send(
        dispatcher,
        [
            Reply(
                "utter_which_booking",
                {"bookings": await booking_lines(views, language, domain)},
                booking_buttons(views[:5], language, intent),
            )
        ],
    )
    return None


def refusal(error: BookingError, code: str) -> Reply:
    """The same words for an unknown code and someone else's: nothing leaks."""
    if isinstance(error, BookingNotFound):
        return Reply("utter_booking_not_found", {"code": code})
    if isinstance(error, BookingNotActive):
        if error.status == "cancelled":
            return Reply("utter_booking_already_cancelled", {"code": code})
        return Reply("utter_booking_not_active", {"code": code})
    if isinstance(error, PastTime):
        return Reply("utter_booking_started", {"code": code})
    return Reply("utter_try_on_failed")


class ActionCancelBooking(Action):
    def name(self) -> str:
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        code = await which_booking(tracker, dispatcher, domain, "cancel_booking")
        if code is None:
            return []
        try:
            view = await get_runtime().bookings.cancel(
                tracker.sender_id, code, channel=channel_of(tracker)
            )
        except BookingError as error:
            send(dispatcher, [refusal(error, code)])
            return []
        done = await confirmation(
            view, language_of(tracker), domain, "utter_booking_cancelled", channel_of(tracker)
        )
        send(dispatcher, [done])
        return [SlotSet(CODE, None)]


class ActionRescheduleBooking(Action):
    """Asks for the booking and the new moment as needed; moves it when both are known."""

    def name(self) -> str:
        return "action_reschedule_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        code = await which_booking(tracker, dispatcher, domain, "reschedule_booking")
        if code is None:
            return []
        bookings = get_runtime().bookings
        try:
            view = await bookings.get(tracker.sender_id, code)
            if view.status != "confirmed":
                raise BookingNotActive(view.code, view.status)
            proposal, prompt, options = await plan_time(
                tracker, view.store_code, language, domain, get_runtime().now()
            )
        except BookingError as error:
            send(dispatcher, [refusal(error, code)])
            return [SlotSet(CODE, None)]
        if proposal is None or proposal.fit is not Fit.EXACT or proposal.slot is None:
            if proposal is not None and proposal.fit is Fit.NO_TIME:
                prompt = [
                    Reply(
                        "utter_ask_reschedule_time",
                        {"code": view.code, "when": when_of(
                            view.starts_at, ZoneInfo(view.store_timezone), language, domain
                        )},
                        prompt[0].buttons if prompt else [],
                    )
                ]
            send(dispatcher, prompt)
            return [SlotSet(CODE, view.code), SlotSet(OPTIONS, options)]
        local = proposal.slot.starts_at.astimezone(ZoneInfo(view.store_timezone))
        try:
            moved = await bookings.reschedule(
                tracker.sender_id, view.code, local.date(), local.time().replace(tzinfo=None),
                channel=channel_of(tracker),
            )
        except BookingError as error:
            if isinstance(error, SlotFull):
                options_left = await bookings.next_free_slots(
                    view.store_code, after=proposal.slot.starts_at
                )
                zone = ZoneInfo(view.store_timezone)
                taken = _slots_reply(
                    "utter_try_on_slot_taken", options_left, zone, language, domain
                )
                send(dispatcher, [taken])
                return [SlotSet(CODE, view.code)]
            send(dispatcher, [refusal(error, view.code)])
            return [SlotSet(CODE, None)]
        done = await confirmation(
            moved, language, domain, "utter_booking_rescheduled", channel_of(tracker)
        )
        send(dispatcher, [done])
        return [SlotSet(CODE, None), SlotSet(OPTIONS, None)]


class ActionAddToBooking(Action):
    """"Aggiungi anche il trench nero in M": one more item for a booking, held in its store.

    The booking is the one named by code or button, or the only upcoming one (otherwise
    the shopper picks it, and what to add is kept in ``adding_item`` meanwhile). The item
    is read by the same stock check as everywhere, against the booking's store; a message
    naming no product, size or colour asks what to add rather than adding the item talked
    about before. The booking service decides whether it can be held.
    """

    def name(self) -> str:
        return "action_add_to_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        language = language_of(tracker)
        text = without_booking_words(_CODE.sub(" ", without_when(typed_text(tracker)))) or (
            tracker.get_slot(ADDING) or ""
        )
        code = await which_booking(tracker, dispatcher, domain, ADD_TO_BOOKING)
        if code is None:
            return [SlotSet(ADDING, text[:500] or None)]
        bookings = get_runtime().bookings
        try:
            view = await bookings.get(tracker.sender_id, code)
            if view.status != "confirmed":
                raise BookingNotActive(view.code, view.status)
        except BookingError as error:
            send(dispatcher, [refusal(error, code)])
            return [SlotSet(ADDING, None)]
        resolver = await get_runtime().resolvers.get()
        query = resolver.parse(text)
        if not (query.code or query.product_words or query.colour or query.size):
            send(dispatcher, [Reply("utter_add_to_booking_what", {"code": view.code})])
            return [SlotSet(ADDING, None)]
        names_product = bool(query.code or query.product_words)
        context = CheckContext(
            product_code=None if names_product else tracker.get_slot("product_code"),
            size=None if names_product else tracker.get_slot("size"),
            colour=None if names_product else tracker.get_slot("colour"),
            store_code=view.store_code,
        )
        check = await get_runtime().checker.check(text, context)
        events = [SlotSet(ADDING, None), *stock_slots(check, text, talked=talked_about(tracker))]
        if check.outcome is Outcome.ANSWER and check.sku and check.product is not None:
            name = item(check.product.name(language), check.colour, check.size, language)
            send(dispatcher, [await self._add(tracker, view, check, name, language, domain)])
        elif check.outcome is Outcome.ANSWER and check.product is not None:
            name = check.product.name(language)
            send(dispatcher, [Reply("utter_add_to_booking_which_size", {"product": name})])
        else:
            send(dispatcher, stock_replies(check, language, domain, channel=channel_of(tracker)))
        return events

    @staticmethod
    async def _add(
        tracker: Tracker,
        view: BookingView,
        check: StockCheck,
        name: str,
        language: str,
        domain: DomainDict,
    ) -> Reply:
        assert check.sku is not None
        try:
            added = await get_runtime().bookings.add_items(
                tracker.sender_id, view.code, [(check.sku, 1)], channel=channel_of(tracker)
            )
        except ItemNotBookable:
            state = state_label(check.status, domain, language)
            return Reply(
                "utter_add_to_booking_unavailable",
                {"item": name, "store": view.store_name, "state": state},
            )
        except InvalidItems:
            return Reply("utter_add_to_booking_too_many", {"code": view.code})
        except BookingError as error:
            return refusal(error, view.code)
        return await confirmation(
            added, language, domain, "utter_booking_items_added", channel_of(tracker)
        )
