"""``vetrina consultant ...`` and ``vetrina store ...`` through the real command line
(SQLite and PostgreSQL): the same operations as the console's administration, recorded
in the same audit log, with clear errors and a non-zero exit on bad input."""

from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from tests.bookings.conftest import Shop, shop  # noqa: F401 (fixture)
from vetrina.catalog.models import Store
from vetrina.cli import app
from vetrina.conversations.accounts import find_account, redeem_reset
from vetrina.conversations.consultants import Role, create_consultant
from vetrina.conversations.demo_accounts import DEMO_ACCOUNTS
from vetrina.conversations.duty_hours import store_hours
from vetrina.storage.audit import recent

PASSWORD = "cli console password"


async def invoke(shop: Shop, monkeypatch: pytest.MonkeyPatch, *args: str,  # noqa: F811
                 stdin: str | None = None) -> Result:
    monkeypatch.setenv("DATABASE_URL", shop.db.url)
    monkeypatch.setenv("VETRINA_PUBLIC_URL", "https://shop.example")
    return await asyncio.to_thread(CliRunner().invoke, app, list(args), input=stdin)


async def test_consultants_from_the_command_line(
    shop: Shop, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    await create_consultant(shop.db, "ada@example.com", "Ada", PASSWORD, role=Role.ADMIN)
    made = await invoke(shop, monkeypatch, "consultant", "create", "--email", "mara@example.com",
                        "--name", "Mara", "--store", "mi", "--password-stdin",
                        stdin=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    assert "consultant mara@example.com (consultant) created" in made.stdout
    linked = await invoke(shop, monkeypatch, "consultant", "create", "--email",
                          "rita@example.com", "--name", "Rita", "--store", "RM", "--link")
    assert linked.exit_code == 0, linked.output
    code = re.search(r"https://shop\.example/console/login/reset\?code=([\w-]+)", linked.stdout)
    assert code is not None
    await redeem_reset(shop.db, code.group(1), "rita sceglie la sua")

    changed = await invoke(shop, monkeypatch, "consultant", "set", "mara@example.com",
                           "--store", "RM", "--store", "TO", "--name", "Mara B.")
    assert changed.exit_code == 0, changed.output
    assert "Mara B., consultant, stores: RM, TO" in changed.stdout

    out = await invoke(shop, monkeypatch, "consultant", "deactivate", "rita@example.com")
    assert out.exit_code == 0 and "deactivated" in out.stdout
    listed = await invoke(shop, monkeypatch, "consultant", "list")
    assert re.search(r"rita@example\.com .* DEACTIVATED", listed.stdout)
    back = await invoke(shop, monkeypatch, "consultant", "reactivate", "rita@example.com")
    assert back.exit_code == 0 and "reactivated" in back.stdout

    reset = await invoke(shop, monkeypatch, "consultant", "reset-password", "Mara@Example.com")
    assert reset.exit_code == 0, reset.output
    code = re.search(r"reset\?code=([\w-]+)", reset.stdout)
    assert code is not None
    await redeem_reset(shop.db, code.group(1), "mara la cambia")

    actions = [e.action for e in await recent(shop.db)]
    assert actions == [
        "consultant.password_set", "consultant.password_reset", "consultant.activate",
        "consultant.deactivate", "consultant.update", "consultant.password_set",
        "consultant.password_reset", "consultant.create", "consultant.create",
    ]
    assert all(e.actor.startswith("cli:") for e in await recent(shop.db)
               if e.action != "consultant.password_set")  # that one: by the consultant

    # Bad input: a clear message and a non-zero exit, nothing changed.
    before = [e.id for e in await recent(shop.db)]
    for args, code_wanted, words in (
        (("consultant", "deactivate", "nobody@example.com"), 1, "no consultant with email"),
        (("consultant", "deactivate", "ada@example.com"), 1, "last active admin"),
        (("consultant", "set", "mara@example.com", "--store", "ZZ"), 1, "unknown store(s): ZZ"),
        (("consultant", "set", "mara@example.com", "--role", "boss"), 2, "admin or consultant"),
        (("consultant", "set", "mara@example.com"), 2, "nothing to change"),
        (("consultant", "set", "mara@example.com", "--store", "MI", "--no-stores"), 2, "not both"),
        (("consultant", "create", "--email", "x", "--name", "X", "--password-stdin"), 1,
         "not an email"),
        (("consultant", "create", "--email", "mara@example.com", "--name", "X", "--link"), 1,
         "already exists"),
    ):
        result = await invoke(shop, monkeypatch, *args, stdin="abbastanza lunga\n")
        assert result.exit_code == code_wanted, (args, result.output)
        assert words in result.stderr, (args, result.stderr)
    assert [e.id for e in await recent(shop.db)] == before
    async with shop.db.sessions() as session:
        assert await session.scalar(select(Store.code).where(Store.code == "ZZ")) is None
    ada = await find_account(shop.db, "ada@example.com")
    assert ada is not None and ada.active


async def test_stores_from_the_command_line(
    shop: Shop, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    for args, said in (
        (("store", "close", "mi"), "MI: temporarily closed"),
        (("store", "try-on", "RM", "off"), "RM: try-on off"),
        (("store", "hours", "MI", "mon-fri 10:00-18:00"), "consultant hours mon-fri 10:00-18:00"),
    ):
        result = await invoke(shop, monkeypatch, *args)
        assert result.exit_code == 0, result.output
        assert said in result.stdout
    listed = await invoke(shop, monkeypatch, "store", "list")
    assert re.search(r"MI +try-on on +TEMPORARILY CLOSED +consultants: mon-fri 10:00-18:00",
                     listed.stdout), listed.stdout
    assert re.search(r"RM +try-on off +open +consultants: mon-sat 09:00-20:00 \(global\)",
                     listed.stdout), listed.stdout
    async with shop.db.sessions() as session:
        rows = {s.code: s for s in (await session.scalars(select(Store))).all()}
    assert rows["MI"].temporarily_closed and not rows["RM"].try_on_enabled
    assert await store_hours(shop.db) == {"MI": "mon-fri 10:00-18:00"}

    before = [e.id for e in await recent(shop.db)]
    for args, code_wanted, words in (
        (("store", "close", "XX"), 1, "no store 'XX'"),
        (("store", "try-on", "MI", "maybe"), 2, "on or off"),
        (("store", "hours", "MI", "sempre"), 1, "cannot read consultant hours"),
        (("store", "hours", "MI", "mon 18:00-09:00"), 1, "closing before opening"),
        (("store", "hours", "MI"), 2, "--clear"),
        (("store", "hours", "MI", "mon 09:00-18:00", "--clear"), 2, "--clear"),
    ):
        result = await invoke(shop, monkeypatch, *args)
        assert result.exit_code == code_wanted, (args, result.output)
        assert words in result.stderr, (args, result.stderr)
    assert [e.id for e in await recent(shop.db)] == before

    assert (await invoke(shop, monkeypatch, "store", "reopen", "MI")).exit_code == 0
    assert (await invoke(shop, monkeypatch, "store", "hours", "MI", "--clear")).exit_code == 0
    assert await store_hours(shop.db) == {}
    assert [e.action for e in await recent(shop.db)][:2] == [
        "store.consultant_hours", "store.reopen"]


async def test_demo_accounts_are_made_once(
    shop: Shop, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    first = await invoke(shop, monkeypatch, "consultant", "demo-accounts")
    assert first.exit_code == 0, first.output
    passwords = re.findall(r"password (\S+)  \(shown once\)", first.stdout)
    assert len(passwords) == len(DEMO_ACCOUNTS) == 2
    assert "consultant of MI-DUOMO, MI-BUENOSAIRES" in first.stdout
    second = await invoke(shop, monkeypatch, "consultant", "demo-accounts")
    assert second.exit_code == 0
    assert "shown once" not in second.stdout and second.stdout.count("already exists") == 2
    assert "vetrina consultant reset-password admin@vetrina.example" in second.stdout
    listed = await invoke(shop, monkeypatch, "consultant", "list")
    assert listed.stdout.count("@vetrina.example") == 2
