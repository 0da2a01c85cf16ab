"""Routes a customer notice to the notifier of the channel they wrote on."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from vetrina.conversations.ports import CustomerNotifier

log = logging.getLogger(__name__)


class ChannelNotifiers:
    def __init__(self, notifiers: Mapping[str, CustomerNotifier]) -> None:
        self._notifiers = notifiers

    async def assistant_delayed(self, customer_id: str, channel: str, language: str) -> None:
        notifier = self._notifiers.get(channel)
        if notifier is None:
            log.info("no notifier for channel %s; delay notice skipped", channel)
            return
        await notifier.assistant_delayed(customer_id, channel, language)
