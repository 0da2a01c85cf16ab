"""The gateway's services, built once per app by ``init_app`` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import socketio

from integrations.rasa import RasaAssistant
from vetrina.conversations.inbox import Inbox
from vetrina.conversations.outbox import Outbox
from vetrina.conversations.processing import TurnProcessor
from vetrina.customers.ports import AssistantMemory
from vetrina.settings import Settings
from vetrina.storage.database import Database


@dataclass
class Services:
    """Everything a request handler may need, built once per app."""

    settings: Settings
    db: Database
    http: httpx.AsyncClient
    rasa: RasaAssistant
    inbox: Inbox
    processor: TurnProcessor
    outbox: Outbox
    sio: socketio.AsyncServer
    memory: AssistantMemory
