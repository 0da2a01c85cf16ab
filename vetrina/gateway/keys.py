"""Every ``web.AppKey`` of the gateway, in one place.

The resources (database, HTTP client, live bus) each open in their own cleanup
context (``vetrina.gateway.app``) and are read by the next; handlers read
:data:`SERVICES`, :data:`CONSOLE` and :data:`BOOKINGS`.
"""

from __future__ import annotations

import httpx
from aiohttp import web

from channels.web.socket import WebChat
from vetrina.bookings.outcomes import BookingOutcomes
from vetrina.bookings.service import Bookings
from vetrina.conversations.readiness import ReadinessWatch
from vetrina.gateway.console.context import Console
from vetrina.gateway.live import LiveBus
from vetrina.gateway.services import Services
from vetrina.gateway.webhooks.providers import ProviderChannels
from vetrina.insights.service import Insights
from vetrina.storage.database import Database

DATABASE = web.AppKey("database", Database)
HTTP_CLIENT = web.AppKey("http_client", httpx.AsyncClient)
LIVE_BUS = web.AppKey("live_bus", LiveBus)
SERVICES = web.AppKey("services", Services)
BOOKINGS = web.AppKey("bookings", Bookings)
CONSOLE = web.AppKey("console", Console)
PROVIDER_CHANNELS = web.AppKey("provider_channels", ProviderChannels)
WEB_CHAT = web.AppKey("web_chat", WebChat)
# None when a test supplies its own assistant (no Rasa readiness to watch).
READINESS: web.AppKey[ReadinessWatch | None] = web.AppKey("readiness")
INSIGHTS = web.AppKey("insights", Insights)
BOOKING_OUTCOMES = web.AppKey("booking_outcomes", BookingOutcomes)
