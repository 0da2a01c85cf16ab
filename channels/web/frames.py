"""What a stored outbound message looks like on the socket.

Two shapes, because two kinds of client listen:

- :func:`rasa_frames`: exactly what Rasa 3.6's socket.io channel emits
  (``rasa/core/channels/socketio.py`` with ``OutputChannel.send_response``): the text is
  split on blank lines into one ``bot_uttered`` per part, the quick replies go on the last
  part, and an image, an attachment or a custom payload's ``data`` are emits of their own.
  Stock widgets (``rasa-webchat``) show a message only when its keys are exactly these.
- :func:`vetrina_frame`: one frame per stored message, with Vetrina's extension keys
  ``id`` (for de-duplication and ``vetrina_seen``), ``author`` and ``consultant_name``.
  Only sockets that asked for it in ``session_request`` (``"vetrina": 1``) get it.
"""

from __future__ import annotations

from typing import Any

from vetrina.conversations.ports import OutboundView, first_name_of


def quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    return [
        {"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in buttons
    ]


def vetrina_quick_replies(buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rasa's quick replies plus, for a link button (``type: web_url``), its ``url``, which
    Vetrina's widget opens instead of sending the payload to the assistant."""
    replies = quick_replies(buttons)
    for reply, button in zip(replies, buttons, strict=True):
        if button.get("type") == "web_url" and button.get("url"):
            reply.update(type="web_url", url=button["url"])
    return replies


def image_attachment(url: str) -> dict[str, Any]:
    return {"type": "image", "payload": {"src": url}}


def rasa_frames(message: OutboundView) -> list[Any]:
    """The ``bot_uttered`` payloads Rasa 3.6 would emit for this message, in order."""
    frames: list[Any] = []
    text, payload = message.text or "", message.payload
    if message.buttons:  # send_text_with_buttons: the buttons go on the last part
        parts: list[dict[str, Any]] = [
            {"text": part, "quick_replies": []} for part in text.strip().split("\n\n")
        ]
        parts[-1]["quick_replies"] = quick_replies(message.buttons)
        frames += parts
    elif text:  # send_text_message
        frames += [{"text": part} for part in text.strip().split("\n\n")]
    custom = payload.get("custom")
    if isinstance(custom, dict) and "data" in custom:  # sio.emit(event, **custom)
        frames.append(custom["data"])
    if isinstance(payload.get("image"), str) and payload["image"]:  # send_image_url
        frames.append({"attachment": image_attachment(payload["image"])})
    if payload.get("attachment"):  # send_attachment
        frames.append({"attachment": payload["attachment"]})
    return frames


def consultant_name(payload: dict[str, Any]) -> str | None:
    """The consultant's first name: what the widget signs their replies with."""
    return first_name_of(payload)


def vetrina_frame(message: OutboundView) -> dict[str, Any]:
    """One frame for the whole message, with Vetrina's extension keys."""
    body: dict[str, Any] = {"text": message.text, "id": message.id, "author": message.author}
    if message.buttons:
        body["quick_replies"] = vetrina_quick_replies(message.buttons)
    if isinstance(message.payload.get("image"), str) and message.payload["image"]:
        body["attachment"] = image_attachment(message.payload["image"])
    elif message.payload.get("attachment"):
        body["attachment"] = message.payload["attachment"]
    name = consultant_name(message.payload)
    if name:
        body["consultant_name"] = name
    return body
