"""The one place that reads the environment.

Every process (gateway, action server, CLI) builds a :class:`Settings` with
:func:`Settings.from_env`; nothing else looks at ``os.environ``. Defaults run the whole
stack on one machine with SQLite and no outside service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

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


def _trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """``VETRINA_TRUSTED_PROXIES``: addresses or networks, comma-separated."""
    import ipaddress

    items = tuple(
        item.strip() for item in (env.get("VETRINA_TRUSTED_PROXIES") or "").split(",")
        if item.strip()
    )
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise SettingsError(
                f"VETRINA_TRUSTED_PROXIES: {item!r} is not an IP address or network"
            ) from None
    return items


def _inventory_token(env: Mapping[str, str]) -> str:
    token = (env.get("VETRINA_INVENTORY_TOKEN") or "").strip()
    if token and len(token) < 16:
        raise SettingsError("VETRINA_INVENTORY_TOKEN must be at least 16 characters")
    return token


def _secret_token(env: Mapping[str, str], name: str) -> str:
    token = (env.get(name) or "").strip()
    if token and len(token) < 16:
        raise SettingsError(f"{name} must be at least 16 characters")
    return token


def _phone_region(env: Mapping[str, str]) -> str:
    """A region ``phonenumbers`` knows, so a typo fails at start-up, not on every number."""
    import phonenumbers

    region = (env.get("VETRINA_PHONE_REGION") or "IT").strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError(
            f"VETRINA_PHONE_REGION must be a region code such as IT or CH, got {region!r}"
        )
    return region


def _log_format(env: Mapping[str, str], environment: str) -> str:
    raw = (env.get("VETRINA_LOG_FORMAT") or "").lower()
    if raw == "":
        return "json" if environment == "production" else "text"
    if raw not in {"json", "text"}:
        raise SettingsError(f"VETRINA_LOG_FORMAT must be json or text, got {raw!r}")
    return raw


def default_tracker_store_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'rasa-tracker.db'}"


def _words(raw: str | None) -> list[str]:
    """A comma- or space-separated list."""
    return [w for w in (raw or "").replace(",", " ").split() if w]


def _web_session_secret(env: Mapping[str, str]) -> str:
    secret = (env.get("VETRINA_WEB_SESSION_SECRET") or "").strip()
    if secret and len(secret) < 32:
        raise SettingsError("VETRINA_WEB_SESSION_SECRET must have at least 32 characters")
    return secret


def _identity_secret(env: Mapping[str, str]) -> str:
    secret = (env.get("VETRINA_IDENTITY_SECRET") or "").strip()
    if secret and len(secret) < 32:
        raise SettingsError("VETRINA_IDENTITY_SECRET must be at least 32 characters")
    return secret


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'vetrina.db'}"


DEFAULT_TWILIO_API_BASE_URL = "https://api.twilio.com"
# The Graph API version Meta's messaging docs show as current; pin it, and move it on purpose.
DEFAULT_META_GRAPH_BASE_URL = "https://graph.facebook.com/v25.0"
TWILIO_TEMPLATE_PREFIX = "TWILIO_TEMPLATE_"


@dataclass(frozen=True)
class TwilioSettings:
    """The WhatsApp channel through Twilio; off unless the three credentials are set."""

    account_sid: str = ""
    auth_token: str = ""
    whatsapp_from: str = ""  # the sender, ``whatsapp:+14155238886``
    api_base_url: str = DEFAULT_TWILIO_API_BASE_URL
    # Approved WhatsApp templates by name: TWILIO_TEMPLATE_BOOKING_REMINDER=HX… → booking_reminder
    templates: tuple[tuple[str, str], ...] = ()

    def missing(self) -> list[str]:
        names = {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_WHATSAPP_FROM": self.whatsapp_from,
        }
        return [name for name, value in names.items() if not value]

    @property
    def configured(self) -> bool:
        return not self.missing()

    def template_sid(self, name: str) -> str | None:
        return dict(self.templates).get(name.lower())


@dataclass(frozen=True)
class MetaSettings:
    """The Instagram channel through Meta's messaging API; off unless credentials are set."""

    app_secret: str = ""
    verify_token: str = ""
    access_token: str = ""
    account_id: str = ""  # the Instagram professional account id (IGID)
    # Its @name without the @, for the ig.me/m/<name> link shown to link a chat
    # (INSTAGRAM_USERNAME; optional: without it no Instagram link button is shown).
    username: str = ""
    graph_base_url: str = DEFAULT_META_GRAPH_BASE_URL

    def missing(self) -> list[str]:
        names = {
            "META_APP_SECRET": self.app_secret,
            "META_VERIFY_TOKEN": self.verify_token,
            "INSTAGRAM_ACCESS_TOKEN": self.access_token,
            "INSTAGRAM_ACCOUNT_ID": self.account_id,
        }
        return [name for name, value in names.items() if not value]

    @property
    def configured(self) -> bool:
        return not self.missing()


def _whatsapp_address(raw: str) -> str:
    raw = raw.strip()
    if raw and not raw.startswith("whatsapp:"):
        raw = f"whatsapp:{raw}"
    return raw


def _twilio_from_env(env: Mapping[str, str]) -> TwilioSettings:
    templates = tuple(
        sorted(
            (name[len(TWILIO_TEMPLATE_PREFIX):].lower(), value.strip())
            for name, value in env.items()
            if name.startswith(TWILIO_TEMPLATE_PREFIX) and value.strip()
        )
    )
    return TwilioSettings(
        account_sid=(env.get("TWILIO_ACCOUNT_SID") or "").strip(),
        auth_token=(env.get("TWILIO_AUTH_TOKEN") or "").strip(),
        whatsapp_from=_whatsapp_address(env.get("TWILIO_WHATSAPP_FROM") or ""),
        api_base_url=(env.get("TWILIO_API_BASE_URL") or DEFAULT_TWILIO_API_BASE_URL).rstrip("/"),
        templates=templates,
    )


def _meta_from_env(env: Mapping[str, str]) -> MetaSettings:
    return MetaSettings(
        app_secret=(env.get("META_APP_SECRET") or "").strip(),
        verify_token=(env.get("META_VERIFY_TOKEN") or "").strip(),
        access_token=(env.get("INSTAGRAM_ACCESS_TOKEN") or "").strip(),
        account_id=(env.get("INSTAGRAM_ACCOUNT_ID") or "").strip(),
        username=(env.get("INSTAGRAM_USERNAME") or "").strip().removeprefix("@"),
        graph_base_url=(env.get("META_GRAPH_BASE_URL") or DEFAULT_META_GRAPH_BASE_URL).rstrip("/"),
    )


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
    worker_concurrency: int = 16
    # Turns Rasa gets at once: starts at 8, adapts to its latency within these bounds.
    rasa_concurrency_min: int = 2
    rasa_concurrency_max: int = 16
    worker_poll_interval: float = 1.0
    retry_base_delay: float = 1.0
    retry_max_delay: float = 60.0
    delayed_notice_after: float = 4.0
    environment: str = "development"
    log_level: str = "INFO"
    # "json": one JSON object per line with request_id/message_id (production default).
    log_format: str = "text"
    # Redis for several gateway instances: socket.io rooms and console live updates
    # reach every instance. Empty: one instance, in-process.
    redis_url: str = ""
    twilio: TwilioSettings = field(default_factory=TwilioSettings)
    meta: MetaSettings = field(default_factory=MetaSettings)
    # Largest webhook body accepted (Twilio, Meta); larger ones get 413 before parsing.
    webhook_max_bytes: int = 128 * 1024
    # The channel simulator page (/simulator) with local fake providers; never in production.
    simulator: bool = False
    # Fewer available pieces than this in a store is "last pieces" (no bookings there).
    safety_stock: int = 2
    # Bearer token of POST /api/inventory/stock; empty disables the endpoint (503).
    inventory_token: str = ""
    # Try-on bookings: slot length, places per slot (fitting rooms / consultants), and how
    # long after the start a booking that nobody showed up for releases its items.
    slot_minutes: int = 30
    slot_capacity: int = 2
    no_show_grace_minutes: int = 30
    # Customer profiles (issue 6). Bearer token of the customer API (/api/customers/...);
    # empty disables it (503).
    api_token: str = ""
    # Shared with the retailer's site to sign identity tokens of logged-in shoppers
    # (HS256, docs/identity-token.md); empty: tokens are refused.
    identity_secret: str = ""
    # Rasa's SQL tracker store, for exporting and erasing a customer's conversation memory
    # (the same database scripts/stack.py gives Rasa).
    tracker_store_url: str = field(default_factory=default_tracker_store_url)
    # Linking WhatsApp/Instagram to a web chat (issue 17): how long a code is valid; how
    # many codes a web session, a client address, and everyone together may get per hour
    # (the code is shown in the chat and sent back from the app being linked); and
    # whether the old way, a code *sent to* a WhatsApp number the shopper types, is on
    # (each is a paid message to a number nobody proved: off unless needed).
    link_code_minutes: int = 10
    link_codes_per_session: int = 3
    link_codes_per_address: int = 10
    link_codes_per_hour: int = 1000
    link_outbound_codes: bool = False
    # Consultant handoff (issue 7): when consultants answer (a weekly timetable such as
    # "mon-fri 09:00-19:00; sat 10:00-18:00" in consultant_timezone; empty: always), the
    # minutes per waiting customer of the estimate told to the customer, and whether the
    # console's cookies are Secure (default: when public_url is https, and in production).
    consultant_hours: str = "mon-sat 09:00-20:00"
    consultant_timezone: str = "Europe/Rome"
    handoff_minutes_per_customer: float = 3.0
    console_secure_cookies: bool = False
    # --- console login behind proxies (issue 17, part 2) ---
    # Reverse proxies whose X-Forwarded-For / Forwarded headers are believed (addresses or
    # networks, comma-separated); empty: the socket peer is the client.
    trusted_proxies: tuple[str, ...] = ()
    # Web chat (issue 16). Key of the server-issued session ids (>= 32 characters; empty:
    # one made on first use and kept in the database); messages allowed per socket (and per
    # session) and per client address in a sliding window of web_rate_seconds;
    # origins allowed to open the socket ("*": any);
    # how often unconfirmed replies are sent again to the screens connected here.
    web_session_secret: str = ""
    web_max_messages: int = 20
    web_max_messages_per_address: int = 60
    web_rate_seconds: float = 10.0
    widget_origins: tuple[str, ...] = ("*",)
    web_redeliver_seconds: float = 2.0
    # --- Insights (issue 12): orders, check-in, attribution windows, KPIs ---
    # Bearer tokens of POST /api/orders, POST /api/bookings/{code}/check-in and the
    # reporting API (GET /api/insights/kpis); empty disables each (503).
    orders_token: str = ""
    checkin_token: str = ""
    insights_token: str = ""
    # Attribution windows. Chat: Gorgias credits the most recent ticket within 3 days.
    # Booking: Clientela counts store purchases within 3 days of an appointment.
    # Consultant's store: Tulip credits the associate within 14 days.
    attribution_chat_hours: int = 72
    attribution_booking_hours: int = 72
    attribution_consultant_days: int = 14
    # Region (ISO 3166 alpha-2) for phone numbers written without a country code.
    phone_region: str = "IT"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
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
        simulator = _bool(env, "VETRINA_SIMULATOR", environment == "development")
        if simulator and environment == "production":
            raise SettingsError("VETRINA_SIMULATOR cannot be on when VETRINA_ENV=production")
        if _int(env, "VETRINA_RASA_CONCURRENCY_MIN", 2, 1) > _int(
            env, "VETRINA_RASA_CONCURRENCY_MAX", 16, 1
        ):
            raise SettingsError(
                "VETRINA_RASA_CONCURRENCY_MIN must not exceed VETRINA_RASA_CONCURRENCY_MAX"
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
            worker_concurrency=_int(env, "VETRINA_WORKER_CONCURRENCY", 16, minimum=1),
            rasa_concurrency_min=_int(env, "VETRINA_RASA_CONCURRENCY_MIN", 2, minimum=1),
            rasa_concurrency_max=_int(env, "VETRINA_RASA_CONCURRENCY_MAX", 16, minimum=1),
            worker_poll_interval=_float(env, "VETRINA_WORKER_POLL_INTERVAL", 1.0),
            retry_base_delay=_float(env, "VETRINA_RETRY_BASE_DELAY", 1.0),
            retry_max_delay=_float(env, "VETRINA_RETRY_MAX_DELAY", 60.0),
            delayed_notice_after=_float(env, "VETRINA_DELAYED_NOTICE_AFTER", 4.0),
            environment=environment,
            log_level=(env.get("VETRINA_LOG_LEVEL") or "INFO").upper(),
            log_format=_log_format(env, environment),
            redis_url=(env.get("REDIS_URL") or "").strip(),
            twilio=_twilio_from_env(env),
            meta=_meta_from_env(env),
            webhook_max_bytes=_int(env, "VETRINA_WEBHOOK_MAX_BYTES", 128 * 1024, minimum=1024),
            simulator=simulator,
            safety_stock=_int(env, "VETRINA_SAFETY_STOCK", 2, minimum=0),
            inventory_token=_inventory_token(env),
            slot_minutes=_int(env, "VETRINA_SLOT_MINUTES", 30, minimum=5),
            slot_capacity=_int(env, "VETRINA_SLOT_CAPACITY", 2, minimum=1),
            no_show_grace_minutes=_int(env, "VETRINA_NO_SHOW_GRACE_MINUTES", 30, minimum=0),
            api_token=_secret_token(env, "VETRINA_API_TOKEN"),
            identity_secret=_identity_secret(env),
            tracker_store_url=(env.get("RASA_TRACKER_STORE_URL") or "").strip()
            or default_tracker_store_url(),
            link_code_minutes=_int(env, "VETRINA_LINK_CODE_MINUTES", 10, minimum=1),
            link_codes_per_session=_int(env, "VETRINA_LINK_CODES_PER_SESSION", 3, minimum=1),
            link_codes_per_address=_int(env, "VETRINA_LINK_CODES_PER_ADDRESS", 10, minimum=1),
            link_codes_per_hour=_int(env, "VETRINA_LINK_CODES_PER_HOUR", 1000, minimum=1),
            link_outbound_codes=_bool(env, "VETRINA_LINK_OUTBOUND_CODES", False),
            consultant_hours=env.get("VETRINA_CONSULTANT_HOURS", "mon-sat 09:00-20:00").strip(),
            consultant_timezone=(env.get("VETRINA_CONSULTANT_TIMEZONE") or "Europe/Rome").strip(),
            handoff_minutes_per_customer=_float(env, "VETRINA_HANDOFF_MINUTES_PER_CUSTOMER", 3.0),
            console_secure_cookies=_bool(
                env, "VETRINA_CONSOLE_SECURE_COOKIES",
                environment == "production"
                or (env.get("VETRINA_PUBLIC_URL") or "").startswith("https://"),
            ),
            trusted_proxies=_trusted_proxies(env),
            web_session_secret=_web_session_secret(env),
            web_max_messages=_int(env, "VETRINA_WEB_MAX_MESSAGES", 20, minimum=1),
            web_max_messages_per_address=_int(
                env, "VETRINA_WEB_MAX_MESSAGES_PER_ADDRESS", 60, minimum=1
            ),
            web_rate_seconds=_float(env, "VETRINA_WEB_RATE_SECONDS", 10.0),
            widget_origins=tuple(_words(env.get("VETRINA_WIDGET_ORIGINS"))) or ("*",),
            web_redeliver_seconds=_float(env, "VETRINA_WEB_REDELIVER_SECONDS", 2.0),
            orders_token=_secret_token(env, "VETRINA_ORDERS_TOKEN"),
            checkin_token=_secret_token(env, "VETRINA_CHECKIN_TOKEN"),
            insights_token=_secret_token(env, "VETRINA_INSIGHTS_TOKEN"),
            attribution_chat_hours=_int(env, "VETRINA_ATTRIBUTION_CHAT_HOURS", 72, minimum=1),
            attribution_booking_hours=_int(
                env, "VETRINA_ATTRIBUTION_BOOKING_HOURS", 72, minimum=1
            ),
            attribution_consultant_days=_int(
                env, "VETRINA_ATTRIBUTION_CONSULTANT_DAYS", 14, minimum=1
            ),
            phone_region=_phone_region(env),
        )
