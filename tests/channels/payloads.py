"""Webhook payloads shaped like the providers' documented examples.

Twilio: "Twilio's request to your incoming message Webhook URL" and the status callback
parameters (https://www.twilio.com/docs/messaging/guides/webhook-request,
https://www.twilio.com/docs/messaging/guides/outbound-message-status-in-status-callbacks).
Meta: "Instagram Platform Webhook Notification Examples"
(https://developers.facebook.com/docs/instagram-platform/webhooks/examples).
"""

ACCOUNT_SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
BUSINESS = "whatsapp:+14155238886"
CUSTOMER = "whatsapp:+393331234567"

WHATSAPP_TEXT = {
    "SmsMessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "NumMedia": "0",
    "ProfileName": "Giulia",
    "MessageType": "text",
    "SmsSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "WaId": "393331234567",
    "SmsStatus": "received",
    "Body": "Ciao, avete il trench nero in taglia M?",
    "To": BUSINESS,
    "NumSegments": "1",
    "ReferralNumMedia": "0",
    "MessageSid": "SM1f0e8ae6ade43cb3c0ce4525424e404f",
    "AccountSid": ACCOUNT_SID,
    "From": CUSTOMER,
    "ApiVersion": "2010-04-01",
}

WHATSAPP_IMAGE = {
    **WHATSAPP_TEXT,
    "SmsMessageSid": "MMc6e2a6a4e1f4b47d1f2d8a0c3e3b7a11",
    "SmsSid": "MMc6e2a6a4e1f4b47d1f2d8a0c3e3b7a11",
    "MessageSid": "MMc6e2a6a4e1f4b47d1f2d8a0c3e3b7a11",
    "MessageType": "image",
    "NumMedia": "1",
    "Body": "",
    "MediaContentType0": "image/jpeg",
    "MediaUrl0": (
        "https://api.twilio.com/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/"
        "Messages/MMc6e2a6a4e1f4b47d1f2d8a0c3e3b7a11/Media/ME0123456789abcdef0123456789abcdef"
    ),
}

WHATSAPP_LOCATION = {
    **WHATSAPP_TEXT,
    "SmsMessageSid": "SM5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
    "SmsSid": "SM5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
    "MessageSid": "SM5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e",
    "MessageType": "location",
    "Body": "",
    "Latitude": "45.4642035",
    "Longitude": "9.189982",
    "Address": "Piazza del Duomo, Milano",
    "Label": "Duomo",
}

WHATSAPP_STATUS_DELIVERED = {
    "ChannelPrefix": "whatsapp",
    "ApiVersion": "2010-04-01",
    "MessageStatus": "delivered",
    "SmsSid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "SmsStatus": "delivered",
    "ChannelInstallSid": "XEcc20d939f803ee381f2442185d0d5dc5",
    "To": CUSTOMER,
    "From": BUSINESS,
    "MessageSid": "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "AccountSid": ACCOUNT_SID,
    "ChannelToAddress": "+393331234567",
}

WHATSAPP_STATUS_FAILED = {
    **WHATSAPP_STATUS_DELIVERED,
    "MessageStatus": "undelivered",
    "SmsStatus": "undelivered",
    "ErrorCode": "30003",
}

IG_ACCOUNT = "17841405793187218"

INSTAGRAM_TEXT = {
    "object": "instagram",
    "entry": [
        {
            "id": IG_ACCOUNT,
            "time": 1569262486134,
            "messaging": [
                {
                    "sender": {"id": "6543210987654321"},
                    "recipient": {"id": IG_ACCOUNT},
                    "timestamp": 1569262485349,
                    "message": {"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1Nzkz", "text": "hello"},
                }
            ],
        }
    ],
}

INSTAGRAM_BATCH = {
    "object": "instagram",
    "entry": [
        {
            "id": IG_ACCOUNT,
            "time": 1569262486134,
            "messaging": [
                {
                    "sender": {"id": "1111111111111111"},
                    "recipient": {"id": IG_ACCOUNT},
                    "timestamp": 1569262485349,
                    "message": {
                        "mid": "mid.batch.1",
                        "attachments": [{"type": "image", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}],
                    },
                },
                {
                    "sender": {"id": IG_ACCOUNT},
                    "recipient": {"id": "1111111111111111"},
                    "timestamp": 1569262485400,
                    "message": {"mid": "mid.echo.1", "text": "Thanks!", "is_echo": True},
                },
                {
                    "sender": {"id": "1111111111111111"},
                    "recipient": {"id": IG_ACCOUNT},
                    "timestamp": 1569262485500,
                    "read": {"mid": "mid.ours.1"},
                },
            ],
        },
        {
            "id": IG_ACCOUNT,
            "time": 1569262486200,
            "messaging": [
                {
                    "sender": {"id": "2222222222222222"},
                    "recipient": {"id": IG_ACCOUNT},
                    "timestamp": 1569262485600,
                    "message": {
                        "mid": "mid.batch.2",
                        "text": "Che bello!",
                        "reply_to": {"story": {"url": "https://lookaside.fbsbx.com/story/1", "id": "17900000000000001"}},
                    },
                },
                {
                    "sender": {"id": "2222222222222222"},
                    "recipient": {"id": IG_ACCOUNT},
                    "timestamp": 1569262485700,
                    "reaction": {"mid": "mid.ours.2", "action": "react", "reaction": "love", "emoji": "❤️"},
                },
                {
                    "sender": {"id": "3333333333333333"},
                    "recipient": {"id": IG_ACCOUNT},
                    "timestamp": 1569262485800,
                    "message": {
                        "mid": "mid.batch.3",
                        "attachments": [{"type": "story_mention", "payload": {"url": "https://lookaside.fbsbx.com/story/2"}}],
                    },
                },
                {
                    "sender": {"id": "3333333333333333"},
                    "recipient": {"id": IG_ACCOUNT},
                    "timestamp": 1569262485900,
                    "message": {"mid": "mid.batch.4", "text": "Taglia M", "quick_reply": {"payload": "/choose_size{\"size\": \"M\"}"}},
                },
            ],
        },
    ],
}
