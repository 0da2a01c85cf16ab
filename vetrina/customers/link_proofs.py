"""Linking WhatsApp or Instagram by a code sent *from* that channel (the default way).

Sending a code *to* a number a shopper typed lets anyone make us message any number, and
a 6-digit code can be guessed. So the proof goes the other way: the web chat shows a code
(:func:`issue_proof_code`), the shopper sends it to the retailer from the app they want to
link (a click-to-chat link fills it in on WhatsApp), and when a WhatsApp or Instagram
message carrying it arrives, :func:`redeem_proof_code` merges the sender's customer into
the one the code was shown to — possession of the account is proven, nothing is sent to
strangers, and the merge can be undone like any other.

The code is ``VTR-XXXXX-XXXXX``: 10 Crockford base-32 characters, 50 random bits. Only a
hash of it is stored (it is looked up by that hash, so the hash is of the code alone);
it expires (``ttl``) and is used once. Issuing is limited per customer (a web session),
per client address (a keyed hash, so a new session per request does not help) and
overall per hour; redeeming counts, per sender, messages that carried something shaped
like a code that matched nothing, and stops looking at codes from a sender who failed
too often. A message whose code does not match is an ordinary message for the assistant.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.errors import LinkError
from vetrina.customers.interactions import record_interaction
from vetrina.customers.linking import codes_since
from vetrina.customers.merge_sync import sync_memory
from vetrina.customers.merging import MergeRecord, merge_in
from vetrina.customers.models import ChannelIdentity, Customer, LinkCode, LinkCodeFailure
from vetrina.customers.ports import AssistantMemory
from vetrina.customers.registry import outbox
from vetrina.messages import message
from vetrina.storage.base import utcnow
from vetrina.storage.database import Database

INBOUND = "in"  # LinkCode.direction of these codes
PROOF_CHANNELS = frozenset({"whatsapp", "instagram"})
WEB = "web"
LINK_REQUESTED = "link_requested"
CHANNEL_LINKED = "channel_linked"
NO_CODE = "no_code"
TOO_MANY_CODES = "too_many_codes"

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
CODE_CHARS = 10  # 50 bits
PREFIX = "VTR"
_CANDIDATE = re.compile(
    rf"(?<![0-9A-Za-z]){PREFIX}[-\s]?([0-9A-Za-z]{{5}})[-\s]?([0-9A-Za-z]{{5}})(?![0-9A-Za-z])",
    re.IGNORECASE,
)
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
MAX_CANDIDATES = 2  # codes looked at in one message


@dataclass(frozen=True)
class ProofOptions:
    ttl: timedelta = timedelta(minutes=10)
    per_customer_per_hour: int = 3
    per_client_per_hour: int = 10
    per_hour: int = 1000  # all customers together: a ceiling on live codes
    failures_per_sender: int = 5  # in failure_window, then codes from the sender are ignored
    failure_window: timedelta = timedelta(days=1)


@dataclass(frozen=True)
class ProofCode:
    code: str  # shown once in the chat; never stored in clear
    expires_at: datetime


@dataclass(frozen=True)
class ProofRedeemed:
    customer_id: str  # who the code was shown to: the sender's customer now
    channel: str
    merge: MergeRecord | None  # the sender's customer merged in (None: already the same)
    language: str | None = None  # the web chat's language, when the sender's is unknown


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return f"{PREFIX}-{raw[:5]}-{raw[5:]}"


def find_codes(text: str | None) -> list[str]:
    """The code-shaped tokens in ``text``, normalised to ``VTR-XXXXX-XXXXX``."""
    found: list[str] = []
    for match in _CANDIDATE.finditer(text or ""):
        first, second = (part.upper().translate(_READ_AS) for part in match.groups())
        code = f"{PREFIX}-{first}-{second}"
        if code not in found:
            found.append(code)
        if len(found) == MAX_CANDIDATES:
            break
    return found


def without_codes(text: str) -> str:
    """``text`` without code-shaped tokens: random letters must not sway language detection."""
    return _CANDIDATE.sub(" ", text)


def code_hash(code: str) -> str:
    return hashlib.sha256(f"vetrina-link-proof:{code}".encode()).hexdigest()


def sender_key(channel: str, external_id: str) -> str:
    return hashlib.sha256(f"{channel}:{external_id}".encode()).hexdigest()


async def issue_proof_code(
    session: AsyncSession,
    customer_id: str,
    *,
    client_key: str | None = None,
    options: ProofOptions = ProofOptions(),
    now: datetime | None = None,
) -> ProofCode:
    """A new code for ``customer_id`` to send from WhatsApp or Instagram.

    Replaces the customer's earlier unused code. Errors (:class:`LinkError`): ``no_code``
    (no such active customer), ``too_many_codes`` (a limit of the last hour).
    """
    now = now or utcnow()
    requester = await session.get(Customer, customer_id)
    if requester is None or requester.merged_into_id or requester.erased_at:
        raise LinkError(NO_CODE, f"no active customer {customer_id!r}")
    hour_ago = now - timedelta(hours=1)

    async def issued(*where: ColumnElement[bool]) -> int:
        return await codes_since(session, INBOUND, hour_ago, *where)

    if await issued(LinkCode.customer_id == customer_id) >= options.per_customer_per_hour:
        raise LinkError(TOO_MANY_CODES, "too many codes asked for in this chat in the last hour")
    if client_key and await issued(LinkCode.client_key == client_key) >= (
        options.per_client_per_hour
    ):
        raise LinkError(TOO_MANY_CODES, "too many codes asked for from this address")
    if await issued() >= options.per_hour:
        raise LinkError(TOO_MANY_CODES, "too many codes asked for in the last hour overall")
    await session.execute(
        update(LinkCode)
        .where(
            LinkCode.customer_id == customer_id,
            LinkCode.direction == INBOUND,
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > now,
        )
        .values(expires_at=now)
    )
    code = new_code()
    session.add(
        LinkCode(
            customer_id=customer_id, direction=INBOUND, channel="", external_id="",
            code_hash=code_hash(code), client_key=client_key, created_at=now,
            expires_at=now + options.ttl,
        )
    )
    await record_interaction(
        session, customer_id, LINK_REQUESTED, channel=requester.last_channel,
        data={"proof": "code shown"}, at=now,
    )
    await session.flush()
    return ProofCode(code, now + options.ttl)


async def _failures(session: AsyncSession, key: str, since: datetime) -> int:
    count = await session.scalar(
        select(func.count()).select_from(LinkCodeFailure).where(
            LinkCodeFailure.sender_key == key, LinkCodeFailure.at > since
        )
    )
    return int(count or 0)


async def _live_code(session: AsyncSession, code: str, now: datetime) -> LinkCode | None:
    row: LinkCode | None = await session.scalar(
        select(LinkCode)
        .where(LinkCode.code_hash == code_hash(code), LinkCode.direction == INBOUND)
        .with_for_update()
    )
    if row is None or row.used_at is not None or row.expires_at <= now:
        return None
    issuer = await session.get(Customer, row.customer_id)
    if issuer is None or issuer.merged_into_id or issuer.erased_at:
        return None
    return row


async def redeem_proof_code(
    session: AsyncSession,
    channel: str,
    sender_customer_id: str,
    text: str | None,
    *,
    language: str | None = None,
    options: ProofOptions = ProofOptions(),
    now: datetime | None = None,
) -> ProofRedeemed | None:
    """Link the sender to the customer a code in ``text`` was shown to; ``None`` if the
    message proves nothing (then it is an ordinary message).

    ``sender_customer_id`` is the customer the inbound message was stored for (the
    sender's identity on ``channel`` resolved). Run it in the transaction that must keep
    a counted failure: ``None`` is returned normally, never raised.
    """
    if channel not in PROOF_CHANNELS:
        return None
    codes = find_codes(text)
    if not codes:
        return None
    now = now or utcnow()
    identity = await session.scalar(
        select(ChannelIdentity)
        .where(
            ChannelIdentity.customer_id == sender_customer_id, ChannelIdentity.channel == channel
        )
        .order_by(ChannelIdentity.last_seen_at.desc(), ChannelIdentity.id.desc())
        .limit(1)
    )
    if identity is None:
        return None
    key = sender_key(channel, identity.external_id)
    if await _failures(session, key, now - options.failure_window) >= options.failures_per_sender:
        return None  # this sender guessed too often: codes from it are not looked at
    row = None
    for code in codes:
        row = await _live_code(session, code, now)
        if row is not None:
            break
    if row is None:
        session.add(LinkCodeFailure(sender_key=key, at=now))
        await session.flush()
        return None
    row.used_at = now
    row.attempts += 1
    row.channel, row.external_id = channel, identity.external_id
    survivor = row.customer_id
    survivor_language = (await session.get_one(Customer, survivor)).language
    merge = None
    if identity.customer_id != survivor:
        record = await merge_in(
            session, survivor, identity.customer_id,
            actor="customer:link-proof",
            reason=f"sent the link code shown in the web chat from {channel}",
            now=now,
        )
        merge = MergeRecord.of(record)
    identity.linked_via = "proof"
    await record_interaction(
        session, survivor, CHANNEL_LINKED, channel=channel,
        data={"channel": channel, "via": "proof"}, at=now,
    )
    if await _has_web_chat(session, survivor):
        queue = outbox()  # conversations' outbox, registered with customers
        await queue(
            session, customer_id=survivor, channel=WEB,
            text=message(
                "link_proof_web", survivor_language or language, channel=channel_name(channel)
            ),
            payload={}, now=now,
        )
    await session.flush()
    return ProofRedeemed(survivor, channel, merge, survivor_language)


def channel_name(channel: str) -> str:
    return {"whatsapp": "WhatsApp", "instagram": "Instagram"}.get(channel, channel)


async def _has_web_chat(session: AsyncSession, customer_id: str) -> bool:
    found = await session.scalar(
        select(ChannelIdentity.id).where(
            ChannelIdentity.customer_id == customer_id, ChannelIdentity.channel == WEB
        ).limit(1)
    )
    return found is not None


class LinkProofs:
    """Redeems codes arriving on WhatsApp and Instagram for the turn processor, then gives
    the assistant the merged profile's memory (the link stands whatever that answers)."""

    def __init__(
        self, db: Database, memory: AssistantMemory | None, options: ProofOptions = ProofOptions()
    ) -> None:
        self._db = db
        self._memory = memory
        self._options = options

    async def redeem(
        self,
        channel: str,
        customer_id: str,
        text: str,
        language: str | None = None,
        *,
        then: Callable[[AsyncSession, ProofRedeemed], Awaitable[None]] | None = None,
    ) -> ProofRedeemed | None:
        """:func:`redeem_proof_code` in its own transaction; ``then`` runs in it too when a
        code linked (the caller answers the message there, so the link and the answer are
        committed together and nobody else takes the message in between)."""
        if channel not in PROOF_CHANNELS or not find_codes(text):
            return None  # most messages: no transaction at all
        async with self._db.transaction() as session:
            redeemed = await redeem_proof_code(
                session, channel, customer_id, text, language=language, options=self._options
            )
            if redeemed is not None and then is not None:
                await then(session, redeemed)
        if redeemed is not None and redeemed.merge is not None:
            await sync_memory(self._db, self._memory, redeemed.customer_id)
        return redeemed
