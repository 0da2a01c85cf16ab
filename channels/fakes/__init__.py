"""Local stand-ins for Twilio and Meta — for tests and the development simulator only.

They speak the documented HTTP APIs (Twilio's Messages resource and status callbacks,
Meta's Send API and webhooks) closely enough that the production adapters talk to them
unchanged, through ``TWILIO_API_BASE_URL`` / ``META_GRAPH_BASE_URL``. They never reach
a real provider. The ``DEV_*`` credentials below are public and for local use only: the
gateway uses them when the simulator is on and a channel has no credentials of its own.
"""

DEV_TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEV_TWILIO_AUTH_TOKEN = "dev-only-twilio-auth-token"  # noqa: S105  (public, development-only)
DEV_TWILIO_WHATSAPP_FROM = "whatsapp:+15550001234"

DEV_META_APP_SECRET = "dev-only-meta-app-secret"  # noqa: S105  (public, development-only)
DEV_META_VERIFY_TOKEN = "dev-only-meta-verify-token"  # noqa: S105  (public, development-only)
DEV_INSTAGRAM_ACCESS_TOKEN = "dev-only-instagram-access-token"  # noqa: S105  (public, development-only)
DEV_INSTAGRAM_ACCOUNT_ID = "17841400000000001"
DEV_GRAPH_VERSION = "v25.0"
