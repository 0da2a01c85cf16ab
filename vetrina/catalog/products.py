"""Reading products: a product with its variants and today's prices; finding the variant a
shopper means by size and colour; the price of one SKU.

These return plain frozen dataclasses (no ORM objects leave the session), priced with
:func:`vetrina.catalog.pricing.quote`, so every channel shows the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.catalog.errors import UnknownProduct, UnknownSku, UnknownVariant
from vetrina.catalog.models import Product, Promotion, Variant
from vetrina.catalog.pricing import Quote, Terms, quote
from vetrina.catalog.stores import fold
from vetrina.catalog.vocabulary import LETTER_SIZES
from vetrina.storage.base import utcnow


def size_key(size: str) -> tuple[int, float, str]:
    """Sizes in shop order: XS < S < M, 38 < 39.5 < 40, then anything else by name."""
    text = size.strip().upper()
    if text in LETTER_SIZES:
        return (0, float(LETTER_SIZES.index(text)), "")
    try:
        return (1, float(text.replace(",", ".")), "")
    except ValueError:
        return (2, 0.0, text)


def same_size(a: str, b: str) -> bool:
    return fold(a).replace(",", ".") == fold(b).replace(",", ".")


@dataclass(frozen=True)
class VariantView:
    sku: str
    ean: str | None
    size: str
    colour: str
    price: Quote


@dataclass(frozen=True)
class ProductView:
    code: str
    name_it: str
    name_en: str
    description_it: str
    description_en: str
    category: str
    brand: str
    images: tuple[str, ...]
    variants: tuple[VariantView, ...]

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_it

    def description(self, language: str) -> str:
        return self.description_en if language == "en" else self.description_it

    @property
    def sizes(self) -> list[str]:
        return sorted({v.size for v in self.variants}, key=size_key)

    @property
    def colours(self) -> list[str]:
        return sorted({v.colour for v in self.variants})

    def variants_for(
        self, *, size: str | None = None, colour: str | None = None
    ) -> list[VariantView]:
        """The variants in ``size`` and/or ``colour``; raises UnknownVariant (with the sizes
        or colours the product does have) when it is never made that way."""
        found = list(self.variants)
        if colour is not None:
            found = [v for v in found if fold(v.colour) == fold(colour)]
            if not found:
                raise UnknownVariant(self.code, "colour", colour, self.colours)
        if size is not None:
            sized = [v for v in found if same_size(v.size, size)]
            if not sized:
                if colour is not None and any(same_size(v.size, size) for v in self.variants):
                    options = sorted({v.size for v in found}, key=size_key)
                else:
                    options = self.sizes
                raise UnknownVariant(self.code, "size", size, options)
            found = sized
        return found


async def get_product(
    session: AsyncSession, code: str, *, at: datetime | None = None
) -> ProductView:
    """The product with every variant priced at ``at`` (now by default)."""
    product = await session.scalar(select(Product).where(Product.code == code))
    if product is None:
        raise UnknownProduct(code)
    variants = (
        await session.scalars(select(Variant).where(Variant.product_id == product.id))
    ).all()
    promotions = await _promotions(session, [v.id for v in variants])
    at = at or utcnow()
    views = tuple(
        sorted(
            (
                VariantView(
                    v.sku,
                    v.ean,
                    v.size,
                    v.colour,
                    quote(v.price_cents, promotions[v.id], at, v.currency),
                )
                for v in variants
            ),
            key=lambda v: (v.colour, size_key(v.size)),
        )
    )
    return ProductView(
        product.code,
        product.name_it,
        product.name_en,
        product.description_it,
        product.description_en,
        product.category,
        product.brand,
        tuple(product.images or ()),
        views,
    )


async def product_code_of(session: AsyncSession, sku_or_ean: str) -> tuple[str, str] | None:
    """``(product code, sku)`` of the variant with this SKU or EAN, or ``None``."""
    row = (
        await session.execute(
            select(Product.code, Variant.sku)
            .join(Variant, Variant.product_id == Product.id)
            .where(or_(Variant.sku == sku_or_ean, Variant.ean == sku_or_ean))
        )
    ).first()
    return (row.code, row.sku) if row else None


async def price_of(session: AsyncSession, sku: str, *, at: datetime | None = None) -> Quote:
    """The price of one SKU at ``at`` (now by default): what every channel must quote."""
    variant = await session.scalar(select(Variant).where(Variant.sku == sku))
    if variant is None:
        raise UnknownSku(sku)
    promotions = await _promotions(session, [variant.id])
    return quote(variant.price_cents, promotions[variant.id], at or utcnow(), variant.currency)


async def _promotions(session: AsyncSession, variant_ids: list[int]) -> dict[int, list[Terms]]:
    found: dict[int, list[Terms]] = defaultdict(list)
    for start in range(0, len(variant_ids), 500):
        chunk = variant_ids[start : start + 500]
        for promotion in await session.scalars(
            select(Promotion).where(Promotion.variant_id.in_(chunk))
        ):
            found[promotion.variant_id].append(Terms.of(promotion))
    return found
