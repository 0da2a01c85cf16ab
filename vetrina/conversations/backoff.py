"""Retry delays shared by the turn processor and the outbox."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, attempts: int) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311  (jitter, not a secret)

    def next_at(self, now: datetime, attempts: int) -> datetime:
        return now + timedelta(seconds=self.delay(attempts))
