"""Server secrets made on first use and kept in the database, so every gateway instance
and every restart share them (e.g. the key of web chat session ids when
``VETRINA_WEB_SESSION_SECRET`` is not set)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vetrina.storage.base import Base, utcnow


class GatewaySecret(Base):
    __tablename__ = "gateway_secrets"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
