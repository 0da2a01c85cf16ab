"""Errors of the customer profile services, each with a stable ``code`` for APIs and chat."""

from __future__ import annotations


class CustomerError(ValueError):
    code = "customer_error"


class UnknownCustomer(CustomerError):
    code = "unknown_customer"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"no customer {customer_id!r}")
        self.customer_id = customer_id


class CustomerGone(CustomerError):
    """The customer was merged into another one, or erased: act on the survivor instead."""

    code = "customer_gone"

    def __init__(self, customer_id: str, detail: str) -> None:
        super().__init__(f"customer {customer_id!r} {detail}")
        self.customer_id = customer_id


class SelfMerge(CustomerError):
    code = "self_merge"

    def __init__(self, customer_id: str) -> None:
        super().__init__(f"cannot merge customer {customer_id!r} into itself")


class UnknownMerge(CustomerError):
    code = "unknown_merge"

    def __init__(self, merge_id: int) -> None:
        super().__init__(f"no merge {merge_id}")


class AlreadyUndone(CustomerError):
    code = "already_undone"

    def __init__(self, merge_id: int, when: object, who: str | None) -> None:
        super().__init__(f"merge {merge_id} was already undone on {when} by {who}")


class UndoBlocked(CustomerError):
    """A later merge swallowed the survivor: that one must be undone first."""

    code = "undo_blocked"

    def __init__(self, merge_id: int, detail: str) -> None:
        super().__init__(f"merge {merge_id} cannot be undone now: {detail}")


class LinkError(CustomerError):
    """Linking a channel by one-time code failed; ``code`` says why."""

    def __init__(self, code: str, detail: str, **facts: object) -> None:
        super().__init__(detail)
        self.code = code
        self.facts = facts
