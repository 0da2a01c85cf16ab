"""WhatsApp through Twilio: signed webhooks in, the official ``twilio`` client out."""

CHANNEL = "whatsapp"
