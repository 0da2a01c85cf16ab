"""SQLAlchemy 2 engine, sessions and migrations shared by every domain package."""

from vetrina.storage.base import Base
from vetrina.storage.database import Database

__all__ = ["Base", "Database"]
