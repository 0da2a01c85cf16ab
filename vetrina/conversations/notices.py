"""What Vetrina itself (not the assistant) tells a customer, in their language.

The texts live in the one catalogue, :mod:`vetrina.messages`; ``notice`` is its name here
for the channels and the gateway that already call it.
"""

from __future__ import annotations

from vetrina.messages import message as notice

__all__ = ["notice"]
