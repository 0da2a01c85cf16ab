"""Checking a consultant's password without blocking the event loop.

argon2 takes about 100 ms of CPU per check; on the event loop, 30 concurrent failed
logins held every other request (``/healthz`` too) for seconds (issue 17, part 2). Here
the hash runs in a pool of two threads (argon2-cffi releases the GIL while hashing, and
each hash already works on several lanes: more threads would only starve the event
loop's own thread of CPU on a small machine; extra checks queue). Unknown emails
are checked against a dummy hash, so timing does not tell which emails have accounts.
Throttling is the caller's (:mod:`.login_guard`), not the account row's.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update

from vetrina.conversations.consultants import (
    Consultant,
    ConsultantView,
    get_consultant,
    normalise_email,
)
from vetrina.storage.database import Database

_hasher = PasswordHasher()
_dummy: list[str] = []
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")
T = TypeVar("T")


async def _off_loop(work: Callable[..., T], *args: str) -> T:
    return await asyncio.get_running_loop().run_in_executor(_POOL, work, *args)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _dummy_hash() -> str:
    if not _dummy:
        _dummy.append(await _off_loop(_hasher.hash, secrets.token_hex(16)))
    return _dummy[0]


async def check_password(db: Database, email: str, password: str) -> ConsultantView | None:
    """The active consultant with this email and password, or ``None``."""
    email = normalise_email(email)
    async with db.sessions() as session:
        row = (
            await session.execute(
                select(Consultant.id, Consultant.password_hash).where(
                    Consultant.email == email, Consultant.active.is_(True)
                )
            )
        ).first()
    if row is None:
        await _off_loop(_verify, await _dummy_hash(), password)
        return None
    consultant_id, password_hash = row
    if not await _off_loop(_verify, password_hash, password):
        return None
    if _hasher.check_needs_rehash(password_hash):
        new_hash = await _off_loop(_hasher.hash, password)
        async with db.transaction() as session:
            await session.execute(
                update(Consultant)
                .where(Consultant.id == consultant_id)
                .values(password_hash=new_hash)
            )
    return await get_consultant(db, consultant_id)
