"""The domain side of provider channels: windows, offered buttons, delivery reports, holds."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from tests.fakes import RecordingSender
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.delivery import (
    DeliveryReport,
    Outcome,
    Reported,
    apply_report,
    enqueue_notice,
    join_provider_ids,
)
from vetrina.conversations.inbox import InboundMessage, Inbox
from vetrina.conversations.models import Message
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.ports import DeliveryError, DeliveryHeld
from vetrina.conversations.reach import (
    HUMAN_AGENT_WINDOW,
    STANDARD_WINDOW,
    display_name_known,
    must_send,
    offered_buttons,
    recipient,
    remember_display_name,
)
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

FAST = Backoff(0.01, 0.02)


async def inbound(db: Database, text: str = "ciao", sid: str = "SM1", number: str = "+39333") -> int:
    received = await Inbox(db).receive(InboundMessage("whatsapp", number, text, sid))
    return received.message_id


async def outbound(db: Database, customer_id: str, status: str = "pending", **values) -> int:
    async with db.transaction() as session:
        conversation_id = (await session.get_one(Message, 1)).conversation_id
        message = Message(
            conversation_id=conversation_id, customer_id=customer_id, direction="out",
            author="bot", channel="whatsapp", text=values.pop("text", "risposta"),
            payload=values.pop("payload", {}), status=status, **values,
        )
        session.add(message)
        await session.flush()
        return message.id


async def row(db: Database, message_id: int) -> Message:
    async with db.sessions() as session:
        return await session.get_one(Message, message_id)


async def test_recipient_knows_the_number_and_the_last_inbound_time(db: Database) -> None:
    first = await inbound(db)
    customer = (await row(db, first)).customer_id
    async with db.transaction() as session:
        await session.execute(update(Message).values(created_at=utcnow() - timedelta(hours=30)))
    reach = await recipient(db, customer, "whatsapp")
    assert reach is not None and reach.external_id == "+39333"
    assert not reach.within(STANDARD_WINDOW) and reach.within(HUMAN_AGENT_WINDOW)
    await inbound(db, "ancora", "SM2")
    reach = await recipient(db, customer, "whatsapp")
    assert reach is not None and reach.within(STANDARD_WINDOW)
    assert await recipient(db, customer, "instagram") is None


async def test_offered_buttons_are_those_seen_since_the_customer_last_wrote(db: Database) -> None:
    first = await inbound(db)
    customer = (await row(db, first)).customer_id
    buttons = [{"title": "Sì", "payload": "/affirm"}]
    await outbound(db, customer, "pending", payload={"buttons": [{"title": "No", "payload": "/deny"}]})
    assert await offered_buttons(db, "whatsapp", "+39333") == []  # not delivered yet
    await outbound(db, customer, "delivered", payload={"buttons": buttons})
    await outbound(db, customer, "sent", text="E poi…")  # a later plain message keeps the offer
    assert await offered_buttons(db, "whatsapp", "+39333") == buttons
    await inbound(db, "sì", "SM2")
    assert await offered_buttons(db, "whatsapp", "+39333") == []
    assert await offered_buttons(db, "whatsapp", "+00000") == []


async def test_display_names(db: Database) -> None:
    await inbound(db)
    assert not await display_name_known(db, "whatsapp", "+39333")
    await remember_display_name(db, "whatsapp", "+39333", "  Giulia ")
    assert await display_name_known(db, "whatsapp", "+39333")


def test_must_send_spec() -> None:
    assert must_send({}) is None
    assert must_send({"must_send": {"template": 3}}) is None
    assert must_send({"must_send": {"template": "booking_reminder", "variables": {1: 2}}}) == {
        "template": "booking_reminder", "variables": {"1": "2"},
    }


def test_provider_ids_are_joined_within_the_column() -> None:
    sids = [f"SM{i:032d}" for i in range(8)]
    joined = join_provider_ids(sids)
    assert joined is not None and len(joined) <= 200 and joined.split(",") == sids[:5]
    assert join_provider_ids([]) is None


async def test_reports_move_status_forward_only(db: Database) -> None:
    customer = (await row(db, await inbound(db))).customer_id
    message_id = await outbound(db, customer, "sent", provider_message_id="SMa,SMb")
    delivered = DeliveryReport("whatsapp", "SMb", Reported.DELIVERED)
    assert await apply_report(db, delivered) is Outcome.UPDATED
    assert await apply_report(db, DeliveryReport("whatsapp", "SMa", Reported.SENT)) is Outcome.STALE
    assert await apply_report(db, DeliveryReport("whatsapp", "SMa", Reported.READ, message_id=message_id)) is Outcome.UPDATED
    assert (await row(db, message_id)).status == "read"
    assert await apply_report(db, DeliveryReport("whatsapp", "SMzzz", Reported.READ)) is Outcome.UNKNOWN
    assert await apply_report(db, DeliveryReport("whatsapp", "SMzzz", Reported.READ, message_id=message_id)) is Outcome.STALE


async def test_report_about_a_send_in_flight_is_early(db: Database) -> None:
    customer = (await row(db, await inbound(db))).customer_id
    message_id = await outbound(db, customer, "pending")
    report = DeliveryReport("whatsapp", "SMnew", Reported.SENT, message_id=message_id)
    assert await apply_report(db, report) is Outcome.EARLY


async def test_transient_failure_requeues_final_fails_window_holds(db: Database) -> None:
    customer = (await row(db, await inbound(db))).customer_id
    retry = await outbound(db, customer, "sent", provider_message_id="SM1x", attempts=1)
    final = await outbound(db, customer, "delivered", provider_message_id="SM2x", attempts=1)
    held = await outbound(db, customer, "sent", provider_message_id="SM3x", attempts=1)
    exhausted = await outbound(db, customer, "sent", provider_message_id="SM4x", attempts=8)
    assert await apply_report(db, DeliveryReport("whatsapp", "SM1x", Reported.FAILED, "30008", transient=True), FAST) is Outcome.REQUEUED
    assert await apply_report(db, DeliveryReport("whatsapp", "SM2x", Reported.FAILED, "30003")) is Outcome.FAILED
    assert await apply_report(db, DeliveryReport("whatsapp", "SM3x", Reported.HELD, "63016")) is Outcome.HELD
    assert await apply_report(db, DeliveryReport("whatsapp", "SM4x", Reported.FAILED, "30008", transient=True)) is Outcome.FAILED
    assert [(await row(db, i)).status for i in (retry, final, held, exhausted)] == ["pending", "failed", "held", "failed"]
    assert (await row(db, final)).last_error == "30003"
    # the same failure reported again changes nothing
    assert await apply_report(db, DeliveryReport("whatsapp", "SM1x", Reported.FAILED, "30008", transient=True)) is Outcome.STALE


async def test_outbox_holds_and_honours_retry_after(db: Database) -> None:
    customer = (await row(db, await inbound(db))).customer_id
    held_id = await outbound(db, customer)
    later_id = await outbound(db, customer)
    sender = RecordingSender(failures=[DeliveryHeld("outside the window")])
    outbox = Outbox(db, {"whatsapp": sender}, backoff=FAST)
    await outbox.deliver_due()
    held = await row(db, held_id)
    assert (held.status, held.last_error) == ("held", "outside the window")
    assert (await row(db, later_id)).status == "sent"  # not blocked by the held one

    waiting_id = await outbound(db, customer)
    sender.failures.append(DeliveryError("429", transient=True, retry_after=120))
    await outbox.deliver_due()
    waiting = await row(db, waiting_id)
    assert waiting.status == "pending"
    assert waiting.next_attempt_at - utcnow() > timedelta(seconds=100)


async def test_notice_is_queued_for_the_outbox(db: Database) -> None:
    customer = (await row(db, await inbound(db))).customer_id
    notice_id = await enqueue_notice(db, customer, "whatsapp", "Ti rispondiamo a breve.")
    assert notice_id is not None
    notice = await row(db, notice_id)
    assert (notice.author, notice.status, notice.channel) == ("system", "pending", "whatsapp")
    assert await enqueue_notice(db, "nobody", "whatsapp", "x") is None
