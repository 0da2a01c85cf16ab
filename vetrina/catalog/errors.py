"""What can go wrong when asking the catalog, as exceptions the conversation layer can phrase.

Each carries the facts a reply needs (the sizes a product does have, the code that was
not found), so the bot can say something better than "error".
"""

from __future__ import annotations


class CatalogError(Exception):
    """Base of every catalog lookup error."""


class UnknownProduct(CatalogError, LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown product {code!r}")
        self.code = code


class UnknownSku(CatalogError, LookupError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"unknown SKU {sku!r}")
        self.sku = sku


class UnknownStore(CatalogError, LookupError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown store {code!r}")
        self.code = code


class UnknownVariant(CatalogError, LookupError):
    """The product exists, but never in this size or colour: ``options`` lists what it has."""

    def __init__(self, product: str, what: str, value: str, options: list[str]) -> None:
        shown = ", ".join(options) or "none"
        super().__init__(f"product {product!r} has no {what} {value!r} (it has: {shown})")
        self.product = product
        self.what = what  # "size" or "colour"
        self.value = value
        self.options = options


class InvalidLocation(CatalogError, ValueError):
    """A coordinate that cannot be a place on Earth (missing, NaN, out of range, 0,0)."""
