"""One object the gateway and the CLI hold: take in orders, keep the rollups fresh, answer KPIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vetrina.insights.attribution import AttributionOptions
from vetrina.insights.kpis import KpiQuery, kpis
from vetrina.insights.orders import MAX_BATCH, BatchResult, apply_batch
from vetrina.insights.rollups import RefreshReport, full_recompute, refresh
from vetrina.storage.database import Database


@dataclass(frozen=True)
class InsightsOptions:
    attribution: AttributionOptions = field(default_factory=AttributionOptions)
    # Region for phone numbers written without a country code (``phonenumbers``).
    phone_region: str = "IT"


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

    async def refresh(self) -> RefreshReport:
        return await refresh(self.db, self.options.attribution)

    async def recompute(self) -> RefreshReport:
        return await full_recompute(self.db, self.options.attribution)

    async def kpis(self, query: KpiQuery) -> dict[str, Any]:
        async with self.db.sessions() as session:
            return await kpis(session, query)
