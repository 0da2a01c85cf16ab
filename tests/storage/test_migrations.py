"""The Alembic migrations build exactly the tables the models describe, and go back down."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command

from vetrina.storage.migrate import alembic_config, upgrade


async def test_head_matches_the_models_and_0003_goes_down_and_up(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}"
    config = alembic_config(url)

    def run() -> None:
        upgrade(url)
        command.check(config)  # raises if the models differ from what the migrations built
        command.downgrade(config, "0002")
        upgrade(url)
        command.check(config)

    await asyncio.to_thread(run)
