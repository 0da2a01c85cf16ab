"""What a customer's link requests left with *other* customers, found for her erasure.

Asking for a one-time code to a number (:func:`~vetrina.customers.linking.request_link_code`)
gives the number a customer of its own when it has none (a *stub*: its only identity is
the number, ``linked_via="code_request"``) and queues the code in that customer's
conversation. Nothing of it points back to her but her ``link_codes`` rows (the number,
and a hash of the code bound to her id), so that is where it is found:

- a stub is hers to erase while it is still only that: nobody ever wrote from the number
  (``last_seen_at`` empty), it has no other identity, no merge into it, no kept rows
  (bookings), and no one else asked for a code to the same number;
- any other owner of the number is a person of their own: only the queued messages whose
  code is one of hers are deleted from their conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.customers.linking import LINK_TEMPLATE, code_hash
from vetrina.customers.models import ChannelIdentity, Customer, LinkCode
from vetrina.customers.registry import kept_on_erasure, owned_tables

STUB = "code_request"  # ChannelIdentity.linked_via of a number's stub customer


@dataclass(frozen=True)
class OnBehalf:
    """The customers a person's link codes were queued to, and how to tell her codes."""

    person: tuple[str, ...]
    stubs: tuple[str, ...]  # created only to carry her codes: erased with her
    owners: tuple[str, ...]  # people of their own: only her queued codes go
    hashes: frozenset[str]

    @property
    def recipients(self) -> tuple[str, ...]:
        return self.stubs + self.owners

    def carries_her_code(self, payload: Mapping[str, Any]) -> bool:
        """A queued message's payload holds one of her codes (the template's variable)."""
        must_send = payload.get("must_send")
        if not isinstance(must_send, Mapping) or must_send.get("template") != LINK_TEMPLATE:
            return False
        variables = must_send.get("variables")
        code = variables.get("1") if isinstance(variables, Mapping) else None
        # Hashed with the id that asked: a merge may have moved the row to the survivor.
        return isinstance(code, str) and any(
            code_hash(customer_id, code) in self.hashes for customer_id in self.person
        )


async def made_on_behalf(session: AsyncSession, ids: Sequence[str]) -> OnBehalf:
    """The stubs and other owners that the link codes of ``ids`` (one person) reached."""
    codes = (await session.scalars(select(LinkCode).where(LinkCode.customer_id.in_(ids)))).all()
    stubs: list[str] = []
    owners: list[str] = []
    for channel, external_id in sorted({(c.channel, c.external_id) for c in codes}):
        identity = await session.scalar(
            select(ChannelIdentity).where(
                ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
            )
        )
        if identity is None or identity.customer_id in ids:
            continue  # linked to her (moved by the merge): erased as hers
        if await _still_a_stub(session, identity, ids):
            stubs.append(identity.customer_id)
        else:
            owners.append(identity.customer_id)
    return OnBehalf(
        tuple(ids), tuple(dict.fromkeys(stubs)), tuple(dict.fromkeys(owners)),
        frozenset(c.code_hash for c in codes),
    )


async def _still_a_stub(
    session: AsyncSession, identity: ChannelIdentity, ids: Sequence[str]
) -> bool:
    if identity.linked_via != STUB:
        return False
    owner = await session.get(Customer, identity.customer_id)
    if owner is None or owner.last_seen_at is not None or owner.erased_at is not None:
        return False
    if owner.merged_into_id is not None:
        return False
    others: list[Select[Any]] = [
        select(ChannelIdentity.id).where(
            ChannelIdentity.customer_id == owner.id, ChannelIdentity.id != identity.id
        ),
        select(Customer.id).where(Customer.merged_into_id == owner.id),
        select(LinkCode.id).where(
            LinkCode.channel == identity.channel,
            LinkCode.external_id == identity.external_id,
            LinkCode.customer_id.not_in(ids),
        ),
        *(
            select(table.c.customer_id).where(table.c.customer_id == owner.id)
            for table in owned_tables()
            if table.name in kept_on_erasure()
        ),
    ]
    for query in others:
        if await session.scalar(select(query.exists())):
            return False
    return True
