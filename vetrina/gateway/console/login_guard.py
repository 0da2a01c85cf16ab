"""How the console answers repeated failed logins (issue 17, part 2).

Three counters, each atomic in the database (or Redis with ``REDIS_URL``):

- **account and address pair**: the first ``PAIR.free`` failures cost nothing, then each
  one blocks that pair for 1 s, 2 s, 4 s… up to 15 minutes. The attempt is counted
  *before* the password is checked, in the same statement that checks the block, so 40
  concurrent guesses get at most ``free + 1`` password checks, and a stranger slows
  down only their own pair: the consultant, from her address, logs in at once.
- **address**: many failures from one address against any accounts (password
  spraying) delay that address the same way, from ``ADDRESS.free`` failures on.
- **account**, the last resort: ``ACCOUNT.free`` failures from all addresses within
  an hour lock the account for 15 minutes. Admins see the lock in the console
  (``GET /console/api/admin/login-locks``) and can lift it.

The address is the client's as told by trusted proxies only (:mod:`.proxies`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from vetrina.conversations.consultants import normalise_email
from vetrina.conversations.login_failures import Block, FailureCounter, Rule

PAIR = Rule(free=3, first=1.0, most=900.0, window=3600.0)
ADDRESS = Rule(free=30, first=1.0, most=900.0, window=3600.0)
ACCOUNT = Rule(free=49, first=900.0, most=900.0, window=3600.0)
ACCOUNT_PREFIX = "account:"


class TooSoon(Exception):
    """This login may not be tried now; ``reason`` says which limit, ``wait`` how long."""

    def __init__(self, reason: str, wait: float) -> None:
        super().__init__(f"{reason}: retry in {wait:.0f} s")
        self.reason = reason  # "account_locked", "address", "pair"
        self.wait = wait


@dataclass(frozen=True)
class Keys:
    pair: str
    address: str
    account: str

    @classmethod
    def of(cls, email: str, address: str) -> Keys:
        account = normalise_email(email)[:254]
        return cls(f"pair:{account}|{address}", f"address:{address}", ACCOUNT_PREFIX + account)


@dataclass
class LoginGuard:
    counter: FailureCounter
    pair: Rule = PAIR
    address: Rule = ADDRESS
    account: Rule = ACCOUNT
    clock: Callable[[], float] = time.time

    async def admit(self, email: str, address: str) -> Keys:
        """Reserve one password check for ``email`` from ``address``, or :class:`TooSoon`."""
        keys = Keys.of(email, address)
        now = self.clock()
        locked = await self.counter.blocked_until(keys.account)
        if locked > now:
            raise TooSoon("account_locked", locked - now)
        slowed = await self.counter.blocked_until(keys.address)
        if slowed > now:
            raise TooSoon("address", slowed - now)
        hit = await self.counter.hit(keys.pair, self.pair, now, only_if_open=True)
        if not hit.admitted:
            raise TooSoon("pair", max(1.0, hit.blocked_until - now))
        return keys

    async def failed(self, keys: Keys) -> None:
        """The password was wrong (the pair was counted when admitted)."""
        now = self.clock()
        await self.counter.hit(keys.address, self.address, now, only_if_open=False)
        await self.counter.hit(keys.account, self.account, now, only_if_open=False)

    async def succeeded(self, keys: Keys) -> None:
        await self.counter.clear(keys.pair)

    async def locked_accounts(self) -> list[Block]:
        return await self.counter.blocks(ACCOUNT_PREFIX, self.clock())

    async def unlock(self, email: str) -> None:
        await self.counter.clear(ACCOUNT_PREFIX + normalise_email(email)[:254])
