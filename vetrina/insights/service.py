"""One object the gateway and the CLI hold: take in orders, keep the rollups fresh, answer KPIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from vetrina.catalog.importing import Progress
from vetrina.insights.attribution import AttributionOptions
from vetrina.insights.kpis import KpiQuery, kpis
from vetrina.insights.orders import MAX_BATCH, BatchResult, apply_batch
from vetrina.insights.rollups import RefreshReport, full_recompute, refresh
from vetrina.storage.database import Database


class InsightsSettings(Protocol):
    """What :meth:`InsightsOptions.from_settings` reads (``vetrina.settings.Settings``)."""

    @property
    def attribution_chat_hours(self) -> int: ...
    @property
    def attribution_booking_hours(self) -> int: ...
    @property
    def attribution_consultant_days(self) -> int: ...
    @property
    def phone_region(self) -> str: ...


@dataclass(frozen=True)
class InsightsOptions:
    attribution: AttributionOptions = field(default_factory=AttributionOptions)
    # Region for phone numbers written without a country code (``phonenumbers``).
    phone_region: str = "IT"

    @classmethod
    def from_settings(cls, settings: InsightsSettings) -> InsightsOptions:
        """The windows and phone region of the settings (the domain reads no settings)."""
        return cls(
            attribution=AttributionOptions(
                conversation_window=timedelta(hours=settings.attribution_chat_hours),
                booking_window=timedelta(hours=settings.attribution_booking_hours),
                consultant_store_window=timedelta(days=settings.attribution_consultant_days),
            ),
            phone_region=settings.phone_region,
        )


class Insights:
    def __init__(self, db: Database, options: InsightsOptions | None = None) -> None:
        self.db = db
        self.options = options or InsightsOptions()

    async def ingest(
        self,
        records: Sequence[Any],
        *,
        skip_invalid: bool = False,
        max_batch: int | None = MAX_BATCH,
        now: datetime | None = None,
        attribute: bool = True,
    ) -> BatchResult:
        """Store a batch (all or nothing unless ``skip_invalid``), then attribute it."""
        async with self.db.transaction() as session:
            result = await apply_batch(
                session,
                records,
                now=now,
                region=self.options.phone_region,
                skip_invalid=skip_invalid,
                max_batch=max_batch,
            )
            if result.problems and not skip_invalid:
                # Nothing was written; leave the transaction empty.
                return result
        if attribute and result.applied:
            await self.refresh()
        return result

    async def refresh(self, progress: Progress | None = None) -> RefreshReport:
        return await refresh(self.db, self.options.attribution, progress=progress)

    async def recompute(self, progress: Progress | None = None) -> RefreshReport:
        return await full_recompute(self.db, self.options.attribution, progress=progress)

    async def kpis(self, query: KpiQuery) -> dict[str, Any]:
        async with self.db.sessions() as session:
            return await kpis(session, query)
