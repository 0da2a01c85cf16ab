"""The one place that reads the environment.

Every process (gateway, action server, CLI) builds a :class:`Settings` with
:func:`Settings.from_env`; nothing else looks at ``os.environ``. Defaults run the whole
stack on one machine with SQLite and no outside service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """An environment variable has a value Vetrina cannot use."""


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'vetrina.db'}"


@dataclass(frozen=True)
class Settings:
    """Configuration of every Vetrina process; see ``.env.example`` for each variable."""

    database_url: str = field(default_factory=default_database_url)
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = ""
    rasa_timeout: float = 30.0
    action_server_url: str = "http://127.0.0.1:5055"
    default_language: str = "it"
    max_message_chars: int = 2000
    worker_concurrency: int = 8
    worker_poll_interval: float = 1.0
    retry_base_delay: float = 1.0
    retry_max_delay: float = 60.0
    delayed_notice_after: float = 4.0
    environment: str = "development"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        port = _int(env, "VETRINA_PORT", 8080, minimum=1)
        host = env.get("VETRINA_HOST") or "127.0.0.1"
        language = (env.get("VETRINA_DEFAULT_LANGUAGE") or "it").lower()
        if language not in {"it", "en"}:
            raise SettingsError(f"VETRINA_DEFAULT_LANGUAGE must be it or en, got {language!r}")
        environment = env.get("VETRINA_ENV") or "development"
        if environment not in {"development", "test", "production"}:
            raise SettingsError(
                f"VETRINA_ENV must be development, test or production, got {environment!r}"
            )
        return cls(
            database_url=env.get("DATABASE_URL") or default_database_url(),
            host=host,
            port=port,
            public_url=(env.get("VETRINA_PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
            rasa_url=(env.get("RASA_URL") or "http://127.0.0.1:5005").rstrip("/"),
            rasa_token=env.get("RASA_TOKEN") or "",
            rasa_timeout=_float(env, "RASA_TIMEOUT", 30.0),
            action_server_url=(env.get("ACTION_SERVER_URL") or "http://127.0.0.1:5055").rstrip("/"),
            default_language=language,
            max_message_chars=_int(env, "VETRINA_MAX_MESSAGE_CHARS", 2000, minimum=1),
            worker_concurrency=_int(env, "VETRINA_WORKER_CONCURRENCY", 8, minimum=1),
            worker_poll_interval=_float(env, "VETRINA_WORKER_POLL_INTERVAL", 1.0),
            retry_base_delay=_float(env, "VETRINA_RETRY_BASE_DELAY", 1.0),
            retry_max_delay=_float(env, "VETRINA_RETRY_MAX_DELAY", 60.0),
            delayed_notice_after=_float(env, "VETRINA_DELAYED_NOTICE_AFTER", 4.0),
            environment=environment,
            log_level=(env.get("VETRINA_LOG_LEVEL") or "INFO").upper(),
        )
