"""Admin commands: ``vetrina migrate``, ``vetrina serve``."""

from __future__ import annotations

import logging

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

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    web.run_app(init_app(settings), host=settings.host, port=settings.port, print=None)


if __name__ == "__main__":
    app()
