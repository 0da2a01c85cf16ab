"""The console accounts of the demo (``make run``): an admin and a consultant of two
demo stores, so the console can be tried on first start.

Passwords are generated here and returned once, for the start-up banner; nothing keeps
them. A second run creates nothing and says how to get a new password. Production
(``make run-prod``) never calls this.
"""

from __future__ import annotations

import secrets

from vetrina.conversations.accounts import create_account, find_account
from vetrina.conversations.consultants import Role
from vetrina.storage.database import Database

DEMO_STORES = ("MI-DUOMO", "MI-BUENOSAIRES")  # two of vetrina.catalog.demo's stores
DEMO_ACCOUNTS = (
    ("admin@vetrina.example", "Ada (admin)", Role.ADMIN, ()),
    ("giulia@vetrina.example", "Giulia", Role.CONSULTANT, DEMO_STORES),
)
ACTOR = "demo:make-run"


async def ensure_demo_accounts(db: Database) -> list[str]:
    """Create the missing demo accounts; the lines to print (passwords shown once)."""
    lines: list[str] = []
    for email, name, role, stores in DEMO_ACCOUNTS:
        what = "admin" if role is Role.ADMIN else f"consultant of {', '.join(stores)}"
        if await find_account(db, email) is not None:
            lines.append(
                f"  {email:<24} {what}: already exists "
                f"(new password: .venv/bin/vetrina consultant reset-password {email})"
            )
            continue
        password = "-".join(secrets.token_hex(3) for _ in range(3))
        await create_account(
            db, email, name, actor=ACTOR, stores=stores, role=role, password=password
        )
        lines.append(f"  {email:<24} {what}: password {password}  (shown once)")
    return lines
