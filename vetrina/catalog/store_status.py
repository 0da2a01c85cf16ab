"""A manager's switch on a store: temporarily closed (works, an emergency).

While it is on, the assistant offers no try-on and holds nothing for pick-up there, and
says why (bookings refuses the store with reason ``temporarily_closed``; the stock and
hours answers say it is closed). The change is recorded with who and when
(:mod:`vetrina.storage.audit`) in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import update

from vetrina.catalog.models import Store
from vetrina.storage.audit import record
from vetrina.storage.base import table_of, utcnow
from vetrina.storage.database import Database, affected

STORES = table_of(Store)


async def set_temporarily_closed(
    db: Database, store_code: str, closed: bool, *, actor: str
) -> bool:
    """Close or reopen the store; False if there is no such store."""
    async with db.transaction() as session:
        before = await session.scalar(
            STORES.select().with_only_columns(STORES.c.temporarily_closed)
            .where(STORES.c.code == store_code)
        )
        if before is None:
            return False
        if bool(before) == closed:
            return True
        result = await session.execute(
            update(STORES).where(STORES.c.code == store_code)
            .values(temporarily_closed=closed, updated_at=utcnow())
        )
        if affected(result) != 1:
            return False
        record(session, actor, "store.close" if closed else "store.reopen", f"store:{store_code}")
        return True
