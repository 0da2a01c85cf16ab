"""Phone numbers to E.164 with ``phonenumbers`` (Google's libphonenumber metadata).

One place for every channel and the orders: a number typed as "+39 333 1234567",
"0039 333-1234567", "333 1234567" (with the default region IT) or "+41 79 123 45 67"
becomes ``+393331234567`` / ``+41791234567``; what is too short, too long or not
assigned in its country's numbering plan is refused rather than guessed at, so a typo
never links or matches somebody else.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from phonenumbers import PhoneNumberType

DEFAULT_REGION = "IT"
# Numbers a WhatsApp code can reach: mobiles, and plans (US, CA...) that do not tell
# mobiles from landlines.
_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_MAX_TEXT = 200


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """The whole of ``raw`` as E.164, or None when it is no valid number.

    Cached per distinct (number, region): parsing costs a tenth of a millisecond or more,
    and a batch of orders repeats the same customers' numbers.
    """
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return _e164(number)


def find_mobile(text: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The first valid mobile number in free text (what a shopper typed), as E.164."""
    if not text:
        return None
    for found in phonenumbers.PhoneNumberMatcher(text[:_MAX_TEXT], region):
        if phonenumbers.number_type(found.number) in _MOBILE_TYPES:
            return _e164(found.number)
    return None


__all__ = ["DEFAULT_REGION", "find_mobile", "normalise_phone"]
