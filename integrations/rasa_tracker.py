"""Keeping Rasa's tracker up to date while a consultant talks for the assistant.

Rasa's HTTP API (token-protected, ``--enable-api``):

- ``POST /conversations/{id}/tracker/events``: ``pause`` (``ConversationPaused``) when a
  consultant claims the conversation, so Rasa itself predicts nothing even if a message
  reached it; the customer's and the consultant's messages as ``user`` / ``bot`` events,
  without a prediction, so the assistant keeps the context (a customer message is read by
  the NLU first, ``POST /model/parse``, for its intent and entities); ``resume`` on
  hand-back.
- ``POST /conversations/{id}/execute``: runs ``utter_handoff_back`` after resuming ("I'm
  back, I'm the automated assistant"), in the customer's language (the response is
  conditioned on the ``language`` slot); its messages come back in the answer and go to
  the outbox like any bot reply. An ``action_listen`` follows, as after any bot turn, so
  the next message is predicted from a normal state.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from integrations.rasa import reply_from_rasa
from vetrina.conversations.ports import AssistantUnavailable, BotReply, Turn

BACK_RESPONSE = "utter_handoff_back"

log = logging.getLogger(__name__)


class RasaTracker:
    """The :class:`vetrina.conversations.handoff.AssistantTracker` of a Rasa server."""

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, token: str, timeout: float
    ) -> None:
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    async def _post(self, path: str, body: Any, **params: str) -> Any:
        try:
            response = await self._client.post(
                f"{self._base_url}{path}", json=body,
                params={"token": self._token, **params}, timeout=self._timeout,
            )
        except httpx.HTTPError as error:
            raise AssistantUnavailable(f"Rasa unreachable: {error!r}") from error
        if response.status_code != 200:
            raise AssistantUnavailable(
                f"Rasa answered HTTP {response.status_code} to {path.rsplit('/', 1)[-1]}"
            )
        return response.json()

    async def _events(self, customer_id: str, events: list[dict[str, Any]]) -> None:
        await self._post(
            f"/conversations/{customer_id}/tracker/events", events, include_events="NONE"
        )

    async def pause(self, customer_id: str) -> None:
        await self._events(customer_id, [{"event": "pause"}])

    async def remember(self, turn: Turn) -> None:
        # Rasa's NLU reads it (``/model/parse``: no prediction, no action) so the stored
        # event has an intent and entities like any other user message.
        parse_data = await self._post("/model/parse", {"text": turn.text})
        metadata = {k: v for k, v in turn.metadata.items() if k != "vetrina_message_id"}
        metadata["vetrina_consultant_turn"] = turn.message_id
        await self._events(
            turn.customer_id,
            [{"event": "user", "text": turn.text, "input_channel": turn.channel,
              "parse_data": parse_data, "metadata": metadata}],
        )

    async def remember_reply(self, customer_id: str, text: str, consultant: str) -> None:
        await self._events(
            customer_id,
            [{"event": "bot", "text": text,
              "metadata": {"author": "consultant", "consultant": consultant}}],
        )

    async def resume(self, customer_id: str) -> list[BotReply]:
        await self._events(customer_id, [{"event": "resume"}])
        try:
            answer = await self._post(
                f"/conversations/{customer_id}/execute", {"name": BACK_RESPONSE},
                include_events="NONE",
            )
        except AssistantUnavailable as error:
            # Resumed all the same: the caller says "I'm back" in its own words.
            log.warning("Rasa could not send %s to %s: %s", BACK_RESPONSE, customer_id, error)
            answer = {}
        await self._events(customer_id, [{"event": "action", "name": "action_listen"}])
        messages = answer.get("messages") if isinstance(answer, dict) else None
        return [reply_from_rasa(m) for m in messages or [] if isinstance(m, dict)]
