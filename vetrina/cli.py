"""Admin commands: ``vetrina migrate``, ``vetrina serve``, ``vetrina import``, ``vetrina demo``."""

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


@consultant_app.command("create")
def consultant_create(
    email: str = typer.Option(..., help="Login email."),
    name: str = typer.Option(..., help="Name shown to colleagues and customers."),
    store: list[str] = typer.Option(  # noqa: B008  (typer reads its options from defaults)
        [], "--store", help="Store code served (repeat for several)."
    ),
    admin: bool = typer.Option(False, "--admin", help="Admin: sees every store, merges customers."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (scripts)."
    ),
) -> None:
    """Create a consultant who can sign in to the console (argon2-hashed password)."""
    import asyncio

    from vetrina.conversations.consultants import AccountError, Role, create_consultant
    from vetrina.storage.database import Database

    settings = _settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> Any:
        db = Database(settings.database_url)
        try:
            return await create_consultant(
                db, email, name, password, stores=store,
                role=Role.ADMIN if admin else Role.CONSULTANT,
            )
        finally:
            await db.dispose()

    try:
        created = asyncio.run(run())
    except AccountError as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from error
    stores = ", ".join(created.stores) or "no store (general queue only)"
    typer.echo(f"consultant {created.email} ({created.role}) created, id {created.id}: {stores}")


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
