"""WhatsApp (Twilio) and Instagram (Meta), wired as the settings allow.

Each channel is one of:

- **on**, with the provider's credentials from the environment;
- **simulated** (``VETRINA_SIMULATOR`` on, no credentials): development credentials and
  the local fake provider mounted in this gateway under ``/simulator/fake/…``, so the
  simulator page shows the channel working without any account;
- **off**, with one log line naming the missing variables; everything else runs.

The routes (``vetrina.gateway.webhooks.routes``) are registered before the app starts;
:meth:`ProviderChannels.bind` gives them their webhooks once the database is open.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable

import httpx

from channels.fakes import (
    DEV_GRAPH_VERSION,
    DEV_INSTAGRAM_ACCESS_TOKEN,
    DEV_INSTAGRAM_ACCOUNT_ID,
    DEV_META_APP_SECRET,
    DEV_META_VERIFY_TOKEN,
    DEV_TWILIO_ACCOUNT_SID,
    DEV_TWILIO_AUTH_TOKEN,
    DEV_TWILIO_WHATSAPP_FROM,
)
from channels.fakes.meta_fake import MetaFake
from channels.fakes.twilio_fake import TwilioFake
from channels.instagram import CHANNEL as INSTAGRAM
from channels.instagram.sender import InstagramSender
from channels.instagram.webhook import InstagramWebhook, ProfileNames
from channels.whatsapp import CHANNEL as WHATSAPP
from channels.whatsapp.sender import TwilioSender, TwilioTransport
from channels.whatsapp.webhook import WhatsAppWebhook
from vetrina.conversations.backoff import Backoff
from vetrina.conversations.delivery import DeliveryReport, Outcome, apply_report, enqueue_notice
from vetrina.conversations.inbox import Inbox
from vetrina.conversations.notices import notice
from vetrina.conversations.ports import ChannelSender, CustomerNotifier, TypingIndicator
from vetrina.conversations.reach import display_name_known, remember_display_name
from vetrina.settings import MetaSettings, Settings, TwilioSettings
from vetrina.storage.database import Database

log = logging.getLogger(__name__)

FAKE_TWILIO_PATH = "/simulator/fake/twilio"
FAKE_META_PATH = "/simulator/fake/meta"
# A status callback can overtake the send it reports on; it waits this long, at most.
EARLY_REPORT_PAUSES = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5)

class OutboxNotifier:
    """Tells a customer on a provider channel that the answer will come shortly."""

    def __init__(self, db: Database, wake_outbox: Callable[[], None]) -> None:
        self._db = db
        self._wake_outbox = wake_outbox

    async def assistant_delayed(self, customer_id: str, channel: str, language: str) -> None:
        if await enqueue_notice(self._db, customer_id, channel, notice("delayed", language)):
            self._wake_outbox()


class ProviderChannels:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.twilio_fake: TwilioFake | None = None
        self.meta_fake: MetaFake | None = None
        self.twilio = self._plan_twilio(settings)
        self.meta = self._plan_meta(settings)
        self.whatsapp_webhook: WhatsAppWebhook | None = None
        self.instagram_webhook: InstagramWebhook | None = None
        self.twilio_sender: TwilioSender | None = None
        self.instagram_sender: InstagramSender | None = None
        self.profile_names: ProfileNames | None = None

    @property
    def simulated(self) -> set[str]:
        fakes = ((WHATSAPP, self.twilio_fake), (INSTAGRAM, self.meta_fake))
        return {name for name, fake in fakes if fake}

    def _internal_url(self) -> str:
        # A gateway listening on every interface is reached here on loopback.
        everywhere = {"0.0.0.0", "::", ""}  # noqa: S104 (compared, not bound)
        host = self.settings.host if self.settings.host not in everywhere else "127.0.0.1"
        return f"http://{host}:{self.settings.port}"

    def _plan_twilio(self, settings: Settings) -> TwilioSettings | None:
        if settings.twilio.configured:
            log.info("WhatsApp channel on: Twilio sender %s", settings.twilio.whatsapp_from)
            return settings.twilio
        if settings.simulator:
            self.twilio_fake = TwilioFake(
                DEV_TWILIO_ACCOUNT_SID, DEV_TWILIO_AUTH_TOKEN, DEV_TWILIO_WHATSAPP_FROM
            )
            log.info(
                "WhatsApp channel simulated: local fake Twilio at %s (no real message is sent)",
                FAKE_TWILIO_PATH,
            )
            return TwilioSettings(
                DEV_TWILIO_ACCOUNT_SID, DEV_TWILIO_AUTH_TOKEN, DEV_TWILIO_WHATSAPP_FROM,
                api_base_url=self._internal_url() + FAKE_TWILIO_PATH,
                templates=settings.twilio.templates,
            )
        log.warning("WhatsApp channel off: %s not set", ", ".join(settings.twilio.missing()))
        return None

    def _plan_meta(self, settings: Settings) -> MetaSettings | None:
        if settings.meta.configured:
            log.info("Instagram channel on: account %s", settings.meta.account_id)
            return settings.meta
        if settings.simulator:
            self.meta_fake = MetaFake(
                DEV_META_APP_SECRET, DEV_INSTAGRAM_ACCESS_TOKEN, DEV_INSTAGRAM_ACCOUNT_ID,
                version=DEV_GRAPH_VERSION,
                webhook_url=f"{settings.public_url}/webhooks/instagram",
            )
            log.info(
                "Instagram channel simulated: local fake Meta at %s (no real message is sent)",
                FAKE_META_PATH,
            )
            return MetaSettings(
                DEV_META_APP_SECRET, DEV_META_VERIFY_TOKEN, DEV_INSTAGRAM_ACCESS_TOKEN,
                DEV_INSTAGRAM_ACCOUNT_ID,
                graph_base_url=f"{self._internal_url()}{FAKE_META_PATH}/{DEV_GRAPH_VERSION}",
            )
        log.warning("Instagram channel off: %s not set", ", ".join(settings.meta.missing()))
        return None

    # --- runtime (inside the app's cleanup context) ------------------------------------
    def senders(self, db: Database, http: httpx.AsyncClient) -> dict[str, ChannelSender]:
        senders: dict[str, ChannelSender] = {}
        if self.twilio is not None:
            self.twilio_sender = TwilioSender(
                self.twilio, db, TwilioTransport(self.twilio.api_base_url),
                status_callback_url=f"{self.settings.public_url}/webhooks/whatsapp/status",
            )
            senders[WHATSAPP] = self.twilio_sender
        if self.meta is not None:
            self.instagram_sender = InstagramSender(self.meta, db, http)
            senders[INSTAGRAM] = self.instagram_sender
        return senders

    def typing_indicators(self) -> dict[str, TypingIndicator]:
        """Channels that show a consultant's typing: Instagram (``typing_on``). Twilio's
        WhatsApp API has no typing indicator, so WhatsApp shoppers see only the replies."""
        if self.instagram_sender is None:
            return {}
        return {INSTAGRAM: self.instagram_sender}

    def notifiers(
        self, db: Database, wake_outbox: Callable[[], None]
    ) -> dict[str, CustomerNotifier]:
        notifier = OutboxNotifier(db, wake_outbox)
        return {name: notifier for name in self.channels_on}

    @property
    def channels_on(self) -> list[str]:
        return [name for name, on in ((WHATSAPP, self.twilio), (INSTAGRAM, self.meta)) if on]

    def bind(
        self,
        *,
        db: Database,
        inbox: Inbox,
        on_stored: Callable[[], None],
        wake_outbox: Callable[[], None],
        backoff: Backoff,
    ) -> None:
        async def on_report(report: DeliveryReport) -> Outcome:
            outcome = await apply_report(db, report, backoff)
            for pause in EARLY_REPORT_PAUSES:  # the send it is about has not returned yet
                if outcome is not Outcome.EARLY:
                    break
                await asyncio.sleep(pause)
                outcome = await apply_report(db, report, backoff)
            if outcome is Outcome.REQUEUED:
                wake_outbox()
            return outcome

        common = {
            "inbox": inbox, "on_stored": on_stored, "on_report": on_report,
            "max_bytes": self.settings.webhook_max_bytes,
            "max_chars": self.settings.max_message_chars,
        }
        if self.twilio is not None:
            self.whatsapp_webhook = WhatsAppWebhook(
                auth_token=self.twilio.auth_token, public_url=self.settings.public_url, db=db,
                **common,  # type: ignore[arg-type]
            )
        if self.meta is not None and self.instagram_sender is not None:
            self.profile_names = ProfileNames(
                self.instagram_sender.profile_name,
                functools.partial(display_name_known, db, INSTAGRAM),
                functools.partial(remember_display_name, db, INSTAGRAM),
            )
            self.instagram_webhook = InstagramWebhook(
                app_secret=self.meta.app_secret, verify_token=self.meta.verify_token,
                account_id=self.meta.account_id, on_new_contact=self.profile_names.contact_seen,
                **common,  # type: ignore[arg-type]
            )

    async def close(self) -> None:
        if self.profile_names is not None:
            await self.profile_names.close()
        if self.twilio_sender is not None:
            await self.twilio_sender.close()
        for fake in (self.twilio_fake, self.meta_fake):
            if fake is not None:
                await fake.close()

