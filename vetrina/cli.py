"""Admin commands: ``vetrina migrate``, ``vetrina serve``, ``vetrina import``, ``vetrina demo``,
``vetrina consultant ...``, ``vetrina store ...``, ``vetrina customer ...``,
``vetrina insights ...``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from vetrina.settings import Settings, SettingsError

app = typer.Typer(help="Vetrina admin commands.", no_args_is_help=True)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        typer.secho(f"configuration error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (safe to run again)."""
    from vetrina.storage.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command()
def serve() -> None:
    """Run the gateway (web chat, webhooks, workers) in the foreground."""
    from aiohttp import web

    from vetrina.gateway.app import init_app
    from vetrina.observability.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    web.run_app(init_app(settings), host=settings.host, port=settings.port, print=None)


import_app = typer.Typer(
    help="Import catalog, stores or stock from a CSV or JSON file (all-or-nothing).",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")

SKIP_INVALID = typer.Option(
    False, "--skip-invalid", help="Import the valid records and report the bad ones as skipped."
)
MAX_PROBLEMS_SHOWN = 50


class _Bars:
    """Import progress as one bar per phase (checking, writing), drawn on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, label: str, total: int) -> None:
        self.close()
        self._bar = typer.progressbar(length=max(total, 1), label=f"{label:<9}", file=sys.stderr)
        self._bar.__enter__()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _run_import(kind: str, file: Path, skip_invalid: bool) -> None:
    import asyncio

    from vetrina.catalog.importing import import_file
    from vetrina.storage.database import Database

    settings = _settings()
    bars = _Bars()

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            return await import_file(db, kind, file, skip_invalid=skip_invalid, progress=bars)
        finally:
            bars.close()
            await db.dispose()

    report = asyncio.run(run())
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        typer.secho(str(problem), fg=typer.colors.RED if not report.applied else None, err=True)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        typer.echo(f"… and {len(report.problems) - MAX_PROBLEMS_SHOWN} more problem(s)", err=True)
    if not report.applied:
        typer.secho(report.summary(), fg=typer.colors.RED, err=True)
        if report.records and not skip_invalid:
            typer.echo(
                "Fix the file, or pass --skip-invalid to import the valid records.", err=True
            )
        raise typer.Exit(1)
    typer.echo(report.summary())


@import_app.command("catalog")
def import_catalog(file: Path, skip_invalid: bool = SKIP_INVALID) -> None:
    """Products, variants, prices and promotions (upsert by product code and SKU)."""
    _run_import("catalog", file, skip_invalid)


@import_app.command("stores")
def import_stores(file: Path, skip_invalid: bool = SKIP_INVALID) -> None:
    """Stores with address, coordinates, opening hours and services (upsert by code)."""
    _run_import("stores", file, skip_invalid)


@import_app.command("stock")
def import_stock(file: Path, skip_invalid: bool = SKIP_INVALID) -> None:
    """Stock counts: store, sku, on_hand (store "online" is the web shop)."""
    _run_import("stock", file, skip_invalid)


@app.command()
def demo(
    seed: int = typer.Option(42, help="Same seed, same data."),
    history: bool = typer.Option(
        True, "--history/--no-history",
        help="Also months of customers, chats, bookings and orders for the Insights page.",
    ),
    months: int = typer.Option(6, min=1, max=24, help="Length of the history, in months."),
) -> None:
    """Load the demo retailer (products, 18 stores, stock) and its history; safe to run
    again (the second time changes nothing)."""
    import asyncio

    from vetrina.catalog.demo import load_demo
    from vetrina.insights.demo_history import HistoryReport, load_demo_history
    from vetrina.insights.service import Insights, InsightsOptions
    from vetrina.storage.database import Database

    settings = _settings()

    async def run() -> tuple[Any, HistoryReport | None]:
        db = Database(settings.database_url)
        try:
            written = await load_demo(db, seed)
            if not history:
                return written, None
            insights = Insights(db, InsightsOptions.from_settings(settings))
            return written, await load_demo_history(db, seed, months=months, insights=insights)
        finally:
            await db.dispose()

    written, report = asyncio.run(run())
    typer.echo(
        f"demo data (seed {seed}) loaded: "
        + ", ".join(f"{name}: {counts}" for name, counts in written.items())
    )
    if report is not None:
        typer.echo(report.summary())


consultant_app = typer.Typer(
    help="Consultant accounts of the console (/console).", no_args_is_help=True
)
app.add_typer(consultant_app, name="consultant")


STORE_OPTION = typer.Option(
    [], "--store", help="Store code served (repeat for several)."
)


def _actor() -> str:
    """Who made a change from the command line, as the audit log keeps it."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


def _with_db(job: Any) -> Any:
    """Run ``job(db)`` on the configured database; an account error exits 1 with its text."""
    import asyncio

    from vetrina.conversations.consultants import AccountError
    from vetrina.hours import HoursError
    from vetrina.storage.database import Database

    settings = _settings()

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            return await job(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except (AccountError, HoursError) as error:
        raise _fail(str(error)) from error


async def _known_stores(db: Any, codes: list[str]) -> list[str]:
    """The codes, upper case, each an existing store; else exit 1 naming the unknown."""
    from sqlalchemy import select

    from vetrina.catalog.models import Store

    wanted = sorted({c.strip().upper() for c in codes if c.strip()})
    async with db.sessions() as session:
        known = set((await session.scalars(select(Store.code).where(Store.code.in_(wanted)))).all())
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise _fail(f"unknown store(s): {', '.join(unknown)} (see: vetrina store list)")
    return wanted


async def _account_id(db: Any, email: str) -> int:
    from vetrina.conversations.accounts import find_account

    found = await find_account(db, email)
    if found is None:
        shown = email.strip().lower()
        raise _fail(f"no consultant with email {shown} (see: vetrina consultant list)")
    return found.consultant.id


def _reset_lines(settings: Settings, email: str, reset: Any) -> list[str]:
    return [
        f"one-time link for {email} (works once, until {reset.expires_at:%Y-%m-%d %H:%M} UTC):",
        f"  {settings.public_url}/console/login/reset?code={reset.code}",
    ]


@consultant_app.command("create")
def consultant_create(
    email: str = typer.Option(..., help="Login email."),
    name: str = typer.Option(..., help="Name shown to colleagues and customers."),
    store: list[str] = STORE_OPTION,
    admin: bool = typer.Option(False, "--admin", help="Admin: sees every store, merges customers."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (scripts)."
    ),
    link: bool = typer.Option(
        False, "--link", help="No password now: print a one-time link to choose one."
    ),
) -> None:
    """Create a consultant who can sign in to the console (argon2-hashed password)."""
    from vetrina.conversations.accounts import create_account
    from vetrina.conversations.consultants import Role

    settings = _settings()
    password: str | None = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif not link:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run(db: Any) -> Any:
        stores = await _known_stores(db, store)
        return await create_account(
            db, email, name, actor=_actor(), stores=stores,
            role=Role.ADMIN if admin else Role.CONSULTANT, password=password,
        )

    created, reset = _with_db(run)
    stores = ", ".join(created.stores) or "no store (general queue only)"
    typer.echo(f"consultant {created.email} ({created.role}) created, id {created.id}: {stores}")
    if reset is not None:
        typer.echo("\n".join(_reset_lines(settings, created.email, reset)))


@consultant_app.command("list")
def consultant_list() -> None:
    """Every account: email, name, role, stores, and whether it is active."""
    from vetrina.conversations.accounts import list_accounts

    for account in _with_db(list_accounts):
        c = account.consultant
        state = "active" if account.active else "DEACTIVATED"
        typer.echo(f"{c.id:>5}  {c.email:<32} {c.name:<20} {c.role:<10} {state:<11} "
                   f"{', '.join(c.stores) or '-'}")


@consultant_app.command("set")
def consultant_set(
    email: str = typer.Argument(..., help="The account's login email."),
    name: str | None = typer.Option(None, help="A new name."),
    role: str | None = typer.Option(None, help="admin or consultant."),
    store: list[str] = STORE_OPTION,
    no_stores: bool = typer.Option(False, "--no-stores", help="Serve no store (general queue)."),
) -> None:
    """Change a consultant's name, role or stores (--store replaces the list)."""
    from vetrina.conversations.accounts import update_account
    from vetrina.conversations.consultants import Role

    if role is not None and role not in ("admin", "consultant"):
        raise _fail("--role must be admin or consultant", 2)
    if no_stores and store:
        raise _fail("give --store or --no-stores, not both", 2)
    if name is None and role is None and not store and not no_stores:
        raise _fail("nothing to change: give --name, --role, --store or --no-stores", 2)

    async def run(db: Any) -> Any:
        consultant_id = await _account_id(db, email)
        stores = [] if no_stores else (await _known_stores(db, store) if store else None)
        return await update_account(
            db, consultant_id, actor=_actor(), name=name,
            role=Role(role) if role is not None else None, stores=stores,
        )

    view = _with_db(run)
    typer.echo(f"consultant {view.email}: {view.name}, {view.role}, "
               f"stores: {', '.join(view.stores) or '-'}")


def _activation(email: str, active: bool) -> None:
    from vetrina.conversations.accounts import set_active

    async def run(db: Any) -> Any:
        return await set_active(db, await _account_id(db, email), active, actor=_actor())

    view = _with_db(run)
    if active:
        typer.echo(f"consultant {view.email} reactivated")
    else:
        typer.echo(f"consultant {view.email} deactivated: signed out of every console")


@consultant_app.command("deactivate")
def consultant_deactivate(email: str = typer.Argument(..., help="Login email.")) -> None:
    """Deactivate an account: its console sessions end at once (the last admin stays)."""
    _activation(email, False)


@consultant_app.command("reactivate")
def consultant_reactivate(email: str = typer.Argument(..., help="Login email.")) -> None:
    """Let a deactivated consultant sign in again."""
    _activation(email, True)


@consultant_app.command("reset-password")
def consultant_reset_password(email: str = typer.Argument(..., help="Login email.")) -> None:
    """Print a one-time link (valid a day, single use) to choose a new password."""
    from vetrina.conversations.accounts import issue_reset

    settings = _settings()

    async def run(db: Any) -> Any:
        return await issue_reset(db, await _account_id(db, email), actor=_actor())

    typer.echo("\n".join(_reset_lines(settings, email.strip().lower(), _with_db(run))))


@consultant_app.command("demo-accounts")
def consultant_demo_accounts() -> None:
    """The demo console accounts `make run` creates: an admin and a consultant of two
    demo stores, with generated passwords printed once (existing ones are left alone)."""
    from vetrina.conversations.demo_accounts import ensure_demo_accounts

    for line in _with_db(ensure_demo_accounts):
        typer.echo(line)


store_app = typer.Typer(
    help="Stores: try-on switch, temporary closure, consultant hours.", no_args_is_help=True
)
app.add_typer(store_app, name="store")


async def _store_row(db: Any, code: str) -> Any:
    from sqlalchemy import select

    from vetrina.catalog.models import Store

    async with db.sessions() as session:
        row = await session.scalar(select(Store).where(Store.code == code.strip().upper()))
    if row is None:
        raise _fail(f"no store {code.strip().upper()!r} (see: vetrina store list)")
    return row


@store_app.command("list")
def store_list() -> None:
    """Every store with its try-on switch, closure and consultant hours."""
    from sqlalchemy import select

    from vetrina.catalog.models import Store
    from vetrina.conversations.duty_hours import store_hours

    settings = _settings()

    async def run(db: Any) -> Any:
        async with db.sessions() as session:
            rows = (await session.scalars(select(Store).order_by(Store.code))).all()
        return rows, await store_hours(db)

    rows, hours = _with_db(run)
    default = settings.consultant_hours or "always"
    for row in rows:
        typer.echo(
            f"{row.code:<16} try-on {'on ' if row.try_on_enabled else 'off'}  "
            f"{'TEMPORARILY CLOSED' if row.temporarily_closed else 'open':<18}  consultants: "
            + hours.get(row.code, f"{default} (global)")
        )


@store_app.command("try-on")
def store_try_on(
    code: str = typer.Argument(..., help="Store code."),
    state: str = typer.Argument(..., help="on or off."),
) -> None:
    """Switch try-on bookings at a store on or off."""
    from vetrina.bookings.service import Bookings

    if state not in ("on", "off"):
        raise _fail("the state must be on or off", 2)

    async def run(db: Any) -> Any:
        row = await _store_row(db, code)
        await Bookings(db).set_try_on_enabled(row.code, state == "on", actor=_actor())
        return row.code

    typer.echo(f"store {_with_db(run)}: try-on {state}")


def _closure(code: str, closed: bool) -> None:
    from vetrina.catalog.store_status import set_temporarily_closed

    async def run(db: Any) -> Any:
        row = await _store_row(db, code)
        await set_temporarily_closed(db, row.code, closed, actor=_actor())
        return row.code

    done = _with_db(run)
    typer.echo(f"store {done}: temporarily closed (no try-on or pick-up offered)" if closed
               else f"store {done}: open again")


@store_app.command("close")
def store_close(code: str = typer.Argument(..., help="Store code.")) -> None:
    """Temporarily close a store: the assistant stops offering try-ons and pick-up there."""
    _closure(code, True)


@store_app.command("reopen")
def store_reopen(code: str = typer.Argument(..., help="Store code.")) -> None:
    """End a temporary closure."""
    _closure(code, False)


@store_app.command("hours")
def store_hours_command(
    code: str = typer.Argument(..., help="Store code."),
    hours: str | None = typer.Argument(
        None, help='Consultant hours, e.g. "mon-fri 09:00-19:00; sat 10:00-13:00".'
    ),
    clear: bool = typer.Option(False, "--clear", help="Use the global hours again."),
) -> None:
    """Set a store's own consultant hours (in the store's time zone), or --clear them."""
    from vetrina.conversations.duty_hours import set_store_hours

    if (hours is None) == (not clear):
        raise _fail('give the hours (e.g. "mon-fri 09:00-19:00") or --clear', 2)

    async def run(db: Any) -> Any:
        row = await _store_row(db, code)
        saved = await set_store_hours(
            db, row.code, None if clear else hours, row.timezone, actor=_actor()
        )
        return row.code, saved

    done, saved = _with_db(run)
    typer.echo(f"store {done}: consultant hours {saved}" if saved
               else f"store {done}: global consultant hours")


customer_app = typer.Typer(
    help="Customer profiles: export everything held about a customer, or erase it.",
    no_args_is_help=True,
)
app.add_typer(customer_app, name="customer")
EXPORT_OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file, not stdout.")
ERASE_YES = typer.Option(False, "--yes", help="Do not ask for confirmation.")


def _customer_job(job: Any) -> Any:
    """Run ``job(db, memory)`` with the database and the assistant's memory (Rasa)."""
    import asyncio

    import httpx

    # Issue 15: each package keeping customer rows registers them when imported
    # (vetrina/customers/registry.py); export and erasure must see every one.
    import vetrina.bookings
    import vetrina.conversations
    import vetrina.insights  # noqa: F401
    from integrations.rasa import RasaMemory
    from vetrina.storage.database import Database

    settings = _settings()

    async def run() -> Any:
        db = Database(settings.database_url)
        async with httpx.AsyncClient() as http:
            memory = RasaMemory(
                http, settings.rasa_url, settings.rasa_token, settings.tracker_store_url
            )
            try:
                return await job(db, memory)
            finally:
                await db.dispose()

    from vetrina.customers.errors import CustomerError

    try:
        return asyncio.run(run())
    except CustomerError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error


@customer_app.command("export")
def customer_export(
    customer_id: str,
    output: Path | None = EXPORT_OUTPUT,
) -> None:
    """Everything held about a customer (and customers merged into it), as JSON."""
    import json

    from vetrina.customers.privacy import export_customer

    document = _customer_job(lambda db, memory: export_customer(db, customer_id, memory))
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"customer {customer_id} exported to {output}", err=True)


@customer_app.command("erase")
def customer_erase(
    customer_id: str,
    yes: bool = ERASE_YES,
) -> None:
    """Erase a customer's personal data from every table and from Rasa's tracker store,
    keeping anonymous counts. Cannot be undone."""
    from vetrina.customers.privacy import erase_customer

    if not yes:
        typer.confirm(f"Erase customer {customer_id} for good?", abort=True)
    report = _customer_job(lambda db, memory: erase_customer(db, customer_id, memory))
    if report.already_erased:
        typer.echo(f"customer {customer_id} was already erased; assistant events deleted: "
                   f"{report.assistant_events_deleted}")
        return
    typer.echo(
        f"customer {customer_id} erased ({len(report.customer_ids)} profile(s)); "
        f"rows deleted: {report.counts.get('deleted_rows')}; assistant events deleted: "
        f"{report.assistant_events_deleted}"
    )



# --- Insights (issue 12): orders import and the KPI report --------------------------------


def _insights_options(settings: Settings) -> Any:
    """The windows and phone region of the settings, as the insights package takes them."""
    from vetrina.insights.service import InsightsOptions

    return InsightsOptions.from_settings(settings)


@import_app.command("orders")
def import_orders_command(file: Path, skip_invalid: bool = SKIP_INVALID) -> None:
    """Orders and till sales from NDJSON or CSV: checked whole, matched, then attributed."""
    import asyncio

    from vetrina.insights.importing import import_orders
    from vetrina.insights.service import Insights
    from vetrina.storage.database import Database

    settings = _settings()
    bars = _Bars()

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            insights = Insights(db, _insights_options(settings))
            return await import_orders(insights, file, skip_invalid=skip_invalid, progress=bars)
        finally:
            bars.close()
            await db.dispose()

    report = asyncio.run(run())
    for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
        typer.secho(str(problem), fg=None if report.committed else typer.colors.RED, err=True)
    if len(report.problems) > MAX_PROBLEMS_SHOWN:
        more = len(report.problems) - MAX_PROBLEMS_SHOWN
        typer.echo(f"… and {more} more problem(s)", err=True)
    if not report.committed:
        typer.secho(report.summary(), fg=typer.colors.RED, err=True)
        if report.records and not skip_invalid:
            typer.echo(
                "Fix the file, or pass --skip-invalid to import the valid records.", err=True
            )
        raise typer.Exit(1)
    typer.echo(report.summary())


insights_app = typer.Typer(help="Omnichannel KPIs (the same figures as the Insights page).",
                           no_args_is_help=True)
app.add_typer(insights_app, name="insights")


@insights_app.command("report")
def insights_report(
    start: str = typer.Option(..., "--from", help="First day, YYYY-MM-DD (UTC)."),
    end: str = typer.Option(..., "--to", help="Last day, YYYY-MM-DD (UTC), included."),
    store: str | None = typer.Option(None, "--store", help="Only this store code."),
    group_by: str | None = typer.Option(
        None, "--group-by", help="day, store, channel or consultant."
    ),
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """The KPIs of a period, read from the rollups (refreshed first)."""
    import asyncio

    from vetrina.insights.kpis import KpiError, KpiQuery, period, render
    from vetrina.insights.service import Insights
    from vetrina.storage.database import Database

    if fmt not in ("table", "csv", "json"):
        typer.secho("--format: one of table, csv, json", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    try:
        first, last = period(start, end)
        query = KpiQuery(first, last, store=store, group_by=group_by)
    except KpiError as error:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from error
    settings = _settings()

    async def run() -> dict[str, Any]:
        db = Database(settings.database_url)
        try:
            insights = Insights(db, _insights_options(settings))
            await insights.refresh()
            return await insights.kpis(query)
        finally:
            await db.dispose()

    typer.echo(render(asyncio.run(run()), fmt), nl=False)


if __name__ == "__main__":  # after every command, so `python -m vetrina.cli` has them all
    app()
