"""Imports every table so that ``Base.metadata`` is complete (for Alembic and tests)."""

from vetrina.bookings import models as bookings  # noqa: F401
from vetrina.catalog import models as catalog  # noqa: F401
from vetrina.conversations import consultants  # noqa: F401
from vetrina.conversations import handoff  # noqa: F401
from vetrina.conversations import models as conversations  # noqa: F401
from vetrina.customers import interactions  # noqa: F401
from vetrina.customers import models as customers  # noqa: F401
from vetrina.storage import secrets  # noqa: F401
from vetrina.storage.base import Base

metadata = Base.metadata
