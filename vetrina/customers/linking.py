"""Linking channel identities to a customer, never on an unverified claim.

Two ways in:

- **Signed identity token** (logged-in shopper on the retailer's site, see
  :mod:`vetrina.customers.tokens`): :func:`join_shop_account` attaches the web session to
  the shop account's customer, merging an anonymous visitor into it.
- **A code sent from the channel being linked** (the default):
  :mod:`vetrina.customers.link_proofs`.
- **One-time code sent out** (optional, off unless ``VETRINA_LINK_OUTBOUND_CODES``; a
  customer in one chat says "I also wrote to you on WhatsApp, my number is …"):
  :func:`request_link_code` queues a 6-digit code to that number through the outbox
  (conversations registers it with :mod:`vetrina.customers.registry`; the ``link_code``
  template outside WhatsApp's 24-hour window), and :func:`verify_link_code`, given the
  code typed in the first chat, links the number — merging the number's customer into
  the one who asked. Codes expire (``LinkOptions.ttl``), are single-use, allow
  ``max_attempts`` tries; a customer may ask for at most ``max_codes_per_hour``, and a
  number receives at most ``per_target_per_hour`` / ``per_target_per_day`` codes
  whoever asks (each is a paid message to someone who may not have asked). Only a hash
  of the code is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.errors import LinkError
from vetrina.customers.interactions import record_interaction
from vetrina.customers.merge_sync import sync_memory
from vetrina.customers.merging import MergeRecord, merge_in
from vetrina.customers.models import ChannelIdentity, Customer, LinkCode
from vetrina.customers.phones import DEFAULT_REGION, find_mobile
from vetrina.customers.ports import AssistantMemory
from vetrina.customers.registry import outbox
from vetrina.customers.tokens import ShopIdentity, verify_identity_token
from vetrina.language import SUPPORTED
from vetrina.messages import message
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

WHATSAPP = "whatsapp"
OUTBOUND = "out"  # LinkCode.direction of these codes
LINK_TEMPLATE = "link_code"  # TWILIO_TEMPLATE_LINK_CODE, variable 1 = the code
CHANNEL_LINKED = "channel_linked"
LINK_REQUESTED = "link_requested"

# LinkError codes
NO_PHONE = "no_phone"
INVALID_PHONE = "invalid_phone"
ALREADY_LINKED = "already_linked"
TOO_MANY_CODES = "too_many_codes"
NO_CODE = "no_code"
WRONG_CODE = "wrong_code"
CODE_USED = "code_used"
CODE_EXPIRED = "code_expired"
TOO_MANY_ATTEMPTS = "too_many_attempts"
NOT_A_CODE = "not_a_code"

@dataclass(frozen=True)
class LinkOptions:
    ttl: timedelta = timedelta(minutes=10)
    max_attempts: int = 5
    max_codes_per_hour: int = 3
    # Codes sent to one number, whoever asks for them.
    per_target_per_hour: int = 3
    per_target_per_day: int = 5
    # Region of numbers typed without a country code (settings: VETRINA_PHONE_REGION).
    phone_region: str = DEFAULT_REGION


@dataclass(frozen=True)
class CodeSent:
    channel: str
    external_id: str
    expires_at: datetime
    code: str  # for the caller's logs/tests only: it is never stored in clear


@dataclass(frozen=True)
class Linked:
    channel: str
    external_id: str
    merge: MergeRecord | None  # the number's customer, merged into the one who asked


_CODE = re.compile(r"(?<!\d)(\d{3})[ .-]?(\d{3})(?!\d)")


def parse_phone(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The WhatsApp (mobile) number in what a customer typed, as E.164, if there is one.

    "+39 333 1234567", "0039 333-1234567", "333 1234567" (region IT), "+41 79 123 45 67";
    see :mod:`vetrina.customers.phones`.
    """
    return find_mobile(text, region)


def parse_code(text: str | None) -> str | None:
    """A 6-digit code in ``text`` ("123456", "123 456")."""
    if not text:
        return None
    match = _CODE.search(text)
    return match.group(1) + match.group(2) if match else None


def mask(external_id: str) -> str:
    """``+39•••••4567``: enough for the customer to recognise their number."""
    return external_id[:3] + "•" * max(0, len(external_id) - 7) + external_id[-4:]


def _hash(customer_id: str, code: str) -> str:
    return hashlib.sha256(f"{customer_id}:{code}".encode()).hexdigest()


def code_hash(customer_id: str, code: str) -> str:
    """What a ``link_codes`` row keeps of a code: erasure finds the queued code with it."""
    return _hash(customer_id, code)


async def _identity(
    session: AsyncSession, channel: str, external_id: str
) -> ChannelIdentity | None:
    identity: ChannelIdentity | None = await session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    return identity


async def codes_since(
    session: AsyncSession, direction: str, since: datetime, *where: ColumnElement[bool]
) -> int:
    """Link codes of ``direction`` created since ``since`` matching ``where`` (the limits
    of both proofs count them)."""
    count = await session.scalar(
        select(func.count()).select_from(LinkCode).where(
            LinkCode.direction == direction, LinkCode.created_at > since, *where
        )
    )
    return int(count or 0)


async def request_link_code(
    session: AsyncSession,
    customer_id: str,
    phone_text: str | None,
    *,
    language: str = "it",
    options: LinkOptions = LinkOptions(),
    now: datetime | None = None,
) -> CodeSent:
    """Queue a one-time code to the WhatsApp number in ``phone_text``.

    The number gets a customer of its own if it has none yet (that is who the message is
    for); nothing is linked until the code comes back. Errors (:class:`LinkError`):
    ``no_phone``, ``invalid_phone``, ``already_linked``, ``too_many_codes``.
    """
    now = now or utcnow()
    if not phone_text or not re.search(r"\d", phone_text):
        raise LinkError(NO_PHONE, "no phone number given")
    number = parse_phone(phone_text, options.phone_region)
    if number is None:
        raise LinkError(INVALID_PHONE, f"not a phone number: {phone_text[:40]!r}")
    requester = await session.get(Customer, customer_id)
    if requester is None or requester.merged_into_id or requester.erased_at:
        raise LinkError(NO_CODE, f"no active customer {customer_id!r}")
    identity = await _identity(session, WHATSAPP, number)
    if identity is not None and identity.customer_id == customer_id:
        raise LinkError(ALREADY_LINKED, "this number is already linked", number=number)
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
    recent = await codes_since(session, OUTBOUND, hour_ago, LinkCode.customer_id == customer_id)
    if recent >= options.max_codes_per_hour:
        raise LinkError(TOO_MANY_CODES, "too many codes asked for in the last hour")
    to_number = (LinkCode.channel == WHATSAPP, LinkCode.external_id == number)
    if (
        await codes_since(session, OUTBOUND, hour_ago, *to_number) >= options.per_target_per_hour
        or await codes_since(session, OUTBOUND, day_ago, *to_number) >= options.per_target_per_day
    ):
        raise LinkError(TOO_MANY_CODES, "this number got too many codes lately", number=number)
    if identity is None:  # the number's own customer, so the outbox can reach it
        owner = Customer(language=requester.language)
        session.add(owner)
        await session.flush()
        identity = ChannelIdentity(
            customer_id=owner.id, channel=WHATSAPP, external_id=number, linked_via="code_request"
        )
        session.add(identity)
        await session.flush()
    # A new code replaces any earlier one of this customer.
    await session.execute(
        update(LinkCode)
        .where(
            LinkCode.customer_id == customer_id,
            LinkCode.direction == OUTBOUND,
            LinkCode.used_at.is_(None),
        )
        .values(expires_at=now)
    )
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(
        LinkCode(
            customer_id=customer_id,
            direction=OUTBOUND,
            channel=WHATSAPP,
            external_id=number,
            code_hash=_hash(customer_id, code),
            created_at=now,
            expires_at=now + options.ttl,
        )
    )
    minutes = int(options.ttl.total_seconds() // 60)
    queue = outbox()  # conversations' outbox, registered with customers
    await queue(
        session,
        customer_id=identity.customer_id,
        channel=WHATSAPP,
        text=message("link_code", language, code=code, minutes=minutes),
        payload={"must_send": {"template": LINK_TEMPLATE, "variables": {"1": code}}},
        now=now,
    )
    await record_interaction(
        session, customer_id, LINK_REQUESTED, channel=requester.last_channel,
        data={"channel": WHATSAPP, "to": mask(number)}, at=now,
    )
    await session.flush()
    return CodeSent(WHATSAPP, number, now + options.ttl, code)


async def verify_link_code(
    session: AsyncSession,
    customer_id: str,
    typed: str | None,
    *,
    options: LinkOptions = LinkOptions(),
    now: datetime | None = None,
) -> Linked:
    """Link the identity the customer's latest code was sent to, if ``typed`` is that code.

    A wrong code counts as an attempt and is **kept** even though an error is raised: the
    caller must commit the session in either case (see :func:`verify_and_commit`).
    Errors (:class:`LinkError`): ``not_a_code``, ``no_code``, ``code_used``,
    ``code_expired``, ``too_many_attempts``, ``wrong_code`` (with ``remaining``).
    """
    now = now or utcnow()
    row = await session.scalar(
        select(LinkCode)
        .where(LinkCode.customer_id == customer_id, LinkCode.direction == OUTBOUND)
        .order_by(LinkCode.created_at.desc(), LinkCode.id.desc())
        .limit(1)
        .with_for_update()
    )
    code = parse_code(typed)
    if row is None:
        raise LinkError(NO_CODE, "no code was asked for")
    if row.used_at is not None:
        raise LinkError(CODE_USED, "this code was already used")
    if row.attempts >= options.max_attempts:
        raise LinkError(TOO_MANY_ATTEMPTS, "too many wrong attempts; ask for a new code")
    if row.expires_at <= now:
        raise LinkError(CODE_EXPIRED, "the code has expired; ask for a new one")
    if code is None:
        raise LinkError(NOT_A_CODE, "that is not a 6-digit code")
    row.attempts += 1
    if not hmac.compare_digest(row.code_hash, _hash(customer_id, code)):
        remaining = options.max_attempts - row.attempts
        if remaining <= 0:
            raise LinkError(TOO_MANY_ATTEMPTS, "too many wrong attempts; ask for a new code")
        raise LinkError(WRONG_CODE, "wrong code", remaining=remaining)
    row.used_at = now
    identity = await _identity(session, row.channel, row.external_id)
    merge = None
    if identity is None:
        session.add(
            ChannelIdentity(
                customer_id=customer_id, channel=row.channel, external_id=row.external_id,
                linked_via="code",
            )
        )
    elif identity.customer_id != customer_id:
        owner = await session.get(Customer, identity.customer_id)
        target = owner.merged_into_id if owner is not None and owner.merged_into_id else None
        if target == customer_id:
            identity.customer_id = customer_id
        else:
            record = await merge_in(
                session, customer_id, identity.customer_id,
                actor="customer:one-time-code",
                reason=f"proved {row.channel} {mask(row.external_id)} with a one-time code",
                now=now,
            )
            merge = MergeRecord.of(record)
        identity.linked_via = "code"
    customer = await session.get_one(Customer, customer_id)
    await record_interaction(
        session, customer_id, CHANNEL_LINKED, channel=customer.last_channel,
        data={"channel": row.channel, "identity": mask(row.external_id), "via": "code"}, at=now,
    )
    await session.flush()
    return Linked(row.channel, row.external_id, merge)


# --- signed identity token -------------------------------------------------------------

SHOP = "shop"
WEB = "web"
EMAIL = "email"


@dataclass(frozen=True)
class Joined:
    customer_id: str
    merge: MergeRecord | None


async def join_shop_account(
    session: AsyncSession,
    web_session_id: str,
    shop: ShopIdentity,
    *,
    now: datetime | None = None,
) -> Joined:
    """Make the web session part of the shop account's customer (verified by a token).

    An anonymous visitor's history (the session's own customer) is merged into the shop
    account's customer; a session that belonged to *another* shop account (a shared
    computer) only moves, nothing is merged.
    """
    now = now or utcnow()
    shop_identity = await _identity(session, SHOP, shop.account_id)
    web_identity = await _identity(session, WEB, web_session_id)
    merge = None
    if shop_identity is None:
        if web_identity is not None and not await _has_shop_account(
            session, web_identity.customer_id
        ):
            customer_id = web_identity.customer_id  # the visitor becomes the account
        else:
            customer = Customer(display_name=shop.name, language=shop.language)
            session.add(customer)
            await session.flush()
            customer_id = customer.id
        session.add(
            ChannelIdentity(
                customer_id=customer_id, channel=SHOP, external_id=shop.account_id,
                display_name=shop.name, linked_via="token",
            )
        )
    else:
        customer_id = shop_identity.customer_id
        shop_identity.last_seen_at = now
    if web_identity is None:
        session.add(
            ChannelIdentity(
                customer_id=customer_id, channel=WEB, external_id=web_session_id,
                linked_via="token",
            )
        )
    elif web_identity.customer_id != customer_id:
        if await _has_shop_account(session, web_identity.customer_id):
            web_identity.customer_id = customer_id
            web_identity.linked_via = "token"
        else:
            record = await merge_in(
                session, customer_id, web_identity.customer_id,
                actor="system:identity-token",
                reason=f"signed in on the website as shop account {shop.account_id}",
                now=now,
            )
            merge = MergeRecord.of(record)
            web_identity.linked_via = "token"
    await session.flush()
    customer = await session.get_one(Customer, customer_id)
    if shop.name and not customer.display_name:
        customer.display_name = shop.name
    if shop.language in SUPPORTED and not customer.language:
        customer.language = shop.language
    if shop.email and await _identity(session, EMAIL, shop.email.lower()) is None:
        session.add(
            ChannelIdentity(
                customer_id=customer_id, channel=EMAIL, external_id=shop.email.lower(),
                linked_via="token",
            )
        )
    await session.flush()
    return Joined(customer_id, merge)


async def _has_shop_account(session: AsyncSession, customer_id: str) -> bool:
    return (
        await session.scalar(
            select(ChannelIdentity.id).where(
                ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == SHOP
            ).limit(1)
        )
    ) is not None


async def check_link_code(
    db: Database,
    customer_id: str,
    typed: str | None,
    *,
    options: LinkOptions = LinkOptions(),
    now: datetime | None = None,
) -> Linked:
    """:func:`verify_link_code` in its own transaction, keeping a failed attempt's count."""
    failure: LinkError | None = None
    async with db.transaction() as session:
        try:
            return await verify_link_code(session, customer_id, typed, options=options, now=now)
        except LinkError as error:
            if error.code not in (WRONG_CODE, TOO_MANY_ATTEMPTS):
                raise
            failure = error  # leave the block normally: the attempt is committed
    raise failure


class ShopLogin:
    """Joins web chat sessions to shop accounts from the site's signed identity tokens,
    and gives the assistant the profile's memory when that merged a visitor in (otherwise
    the account's conversation already has it)."""

    def __init__(self, db: Database, secret: str, memory: AssistantMemory | None = None) -> None:
        self._db = db
        self._secret = secret
        self._memory = memory

    async def join(self, web_session_id: str, token: object) -> Joined:
        """Raises :class:`~vetrina.customers.tokens.IdentityTokenError` (nothing changed)."""
        shop = verify_identity_token(self._secret, token)
        async with self._db.transaction() as session:
            joined = await join_shop_account(session, web_session_id, shop)
        if joined.merge is not None:  # the join stands whatever the memory answers
            await sync_memory(self._db, self._memory, joined.customer_id)
        return joined
