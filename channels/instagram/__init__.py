"""Instagram through Meta's messaging API: signed webhooks in, the Send API out (httpx)."""

CHANNEL = "instagram"
