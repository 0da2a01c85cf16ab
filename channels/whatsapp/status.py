"""Twilio's delivery status callbacks and error codes, mapped onto delivery reports.

``MessageStatus`` goes ``queued`` → ``sent`` → ``delivered`` → ``read``, or ends in
``failed`` / ``undelivered`` with an ``ErrorCode``. Whether a failure is worth another
attempt depends on the code (https://www.twilio.com/docs/api/errors):

=========  ======================================================  ===========
code       meaning                                                 handling
=========  ======================================================  ===========
20429      too many requests (REST API)                            retry
20500      internal server error                                   retry
20503      service unavailable                                     retry
30001      queue overflow (sent too fast)                          retry
30008      unknown error                                           retry
30036      validity period expired while queued                    retry
63017      rate limit exceeded (account)                           retry
63018      rate limit exceeded for the channel (WhatsApp tier)     retry
63023      channel generic error                                   retry
63016      outside the 24-hour window: needs an approved template  hold
30003      unreachable destination handset                         final
30005      unknown destination handset                             final
30006      landline or unreachable carrier                         final
30007      filtered (spam/carrier)                                 final
63003      channel could not find the To address                   final
63024      invalid message recipient                               final
21211      invalid 'To' number                                     final
21610      recipient unsubscribed (STOP)                           final
other      anything else                                           final
=========  ======================================================  ===========

Retries go through the outbox's backoff, up to its attempt limit; then the message is
recorded as failed with the last error.
"""

from __future__ import annotations

from collections.abc import Mapping

from channels.whatsapp import CHANNEL
from channels.whatsapp.schema import MalformedWebhook, read_status
from vetrina.conversations.delivery import DeliveryReport, Reported

TRANSIENT_ERRORS = {
    20429: "too many requests",
    20500: "Twilio internal server error",
    20503: "Twilio service unavailable",
    30001: "queue overflow",
    30008: "unknown error",
    30036: "validity period expired",
    63017: "rate limit exceeded",
    63018: "rate limit exceeded for the WhatsApp channel",
    63023: "channel generic error",
}
OUTSIDE_WINDOW = 63016
FINAL_ERRORS = {
    30003: "unreachable destination handset",
    30005: "unknown destination handset",
    30006: "landline or unreachable carrier",
    30007: "message filtered",
    63003: "channel could not find the To address",
    63024: "invalid message recipient",
    21211: "invalid 'To' number",
    21610: "recipient unsubscribed",
    63016: "outside the allowed window: an approved template is needed",
}

_PROGRESS = {"sent": Reported.SENT, "delivered": Reported.DELIVERED, "read": Reported.READ}
_FAILED = {"failed", "undelivered"}


def _code(raw: object) -> int | None:
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


def describe(code: int | None, message: str | None = None) -> str:
    known = TRANSIENT_ERRORS.get(code or 0) or FINAL_ERRORS.get(code or 0)
    text = message or known or "no description"
    return f"Twilio error {code}: {text}" if code else f"Twilio: {text}"


def is_transient(code: int | None) -> bool:
    return code in TRANSIENT_ERRORS


def parse_status(params: Mapping[str, str], message_id: int | None) -> DeliveryReport | None:
    """The delivery report in a status callback, or ``None`` for states we do not track.

    ``ValueError`` (:class:`~channels.whatsapp.schema.MalformedWebhook`) when the
    parameters are not what Twilio sends.
    """
    form = read_status(params)
    sid = form.MessageSid or form.SmsSid
    status = (form.MessageStatus or form.SmsStatus or "").lower()
    if not sid:
        raise MalformedWebhook("MessageSid missing")
    if status in _PROGRESS:
        return DeliveryReport(CHANNEL, sid, _PROGRESS[status], message_id=message_id)
    if status in _FAILED:
        code = _code(form.ErrorCode)
        detail = describe(code, form.ErrorMessage)
        if code == OUTSIDE_WINDOW:
            return DeliveryReport(CHANNEL, sid, Reported.HELD, detail, message_id=message_id)
        return DeliveryReport(
            CHANNEL, sid, Reported.FAILED, detail, transient=is_transient(code),
            message_id=message_id,
        )
    return None  # queued, accepted, sending, scheduled…: nothing to record
