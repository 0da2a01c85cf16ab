"""The product index: which products a shopper's words name, fast, with typos.

An in-memory inverted index over product names (Italian and English), brand, category
and colours. Each word of a product becomes a *term*: a light stem ("nere" and "nero",
"stivale" and "stivali" share one), and category and material words also become a
*concept* shared by both languages and their synonyms (``vocabulary.CONCEPTS``: "scarpe
da ginnastica", "sneakers" and "trainers" are all ``cat:sneakers``). Product codes, SKUs
and EANs are exact lookups.

A shopper's word is looked up, in order: as a concept phrase, as a known word, as a
stem, as the prefix of a stem (someone still typing: "cappo"), and finally by fuzzy
matching (rapidfuzz) against every word of the catalog ("stivalli", "snekaers"). Scores
are IDF-weighted: a rare word (a model name) counts more than a common one ("pelle").

Build it once per process with :meth:`ProductIndex.load` and rebuild it after a catalog
import; :mod:`vetrina.catalog.resolution` turns free text into the words it takes.
"""

from __future__ import annotations

import heapq
import math
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vetrina.catalog.models import Product, Variant
from vetrina.catalog.products import size_key
from vetrina.catalog.stores import fold
from vetrina.catalog.vocabulary import (
    CATEGORY_KEYS,
    COLOUR_WORDS,
    FILLER,
    GROUP_MEMBERS,
    phrase_table,
)

_TOKEN = re.compile(r"[a-z0-9]+")
_MAX_PREFIX_EXPANSION = 40
FUZZY_CUTOFF = 80.0  # rapidfuzz ratio (0–100) for a typo to count as the word
SHORT_WORD = 5  # up to this length, a typo is one edit (OSA distance), not a ratio
FUZZY_MIN_LENGTH = 4
PREFIX_MIN_LENGTH = 4
# Brand words count less than name words: "décolleté Brera" is the Brera model before it
# is any décolleté by Officina Brera.
BRAND = "brand:"
BRAND_FACTOR = 0.6  # "cappo" is someone typing "cappotto"; "ski" is not "skirt"
PHRASES = phrase_table()
MAX_PHRASE = max(len(p) for p in PHRASES)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


def stem(token: str) -> str:
    """Drop one final vowel (Italian gender/number) or English plural ``s``: crude, cheap."""
    if len(token) > 4 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]
    if len(token) > 3 and token[-1] in "aeiou":
        token = token[:-1]
    return token


def concepts_in(words: Sequence[str]) -> list[tuple[int, int, str]]:
    """Concept phrases in a token list: (start, end, concept), longest first, no overlap."""
    found = []
    taken = [False] * len(words)
    for size in range(min(MAX_PHRASE, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            if any(taken[start : start + size]):
                continue
            concept = PHRASES.get(tuple(words[start : start + size]))
            if concept is not None:
                found.append((start, start + size, concept))
                for i in range(start, start + size):
                    taken[i] = True
    found.sort()
    return found


@dataclass(frozen=True)
class WordMatch:
    """What one shopper word means to the index: alternative terms and how sure we are."""

    word: str
    terms: tuple[str, ...]
    quality: float  # 1 exact/concept/stem, 0.8 prefix, ratio/100 * 0.9 fuzzy
    how: str  # "concept", "word", "stem", "prefix", "fuzzy"


@dataclass(frozen=True)
class ProductInfo:
    code: str
    name_it: str
    name_en: str
    category: str
    colours: tuple[str, ...]
    sizes: tuple[str, ...]

    def name(self, language: str) -> str:
        return self.name_en if language == "en" else self.name_it


@dataclass(frozen=True)
class Match:
    product_code: str
    score: float  # 0–1: the share of the query's weight this product matched
    sku: str | None = None  # set when the query named a SKU or EAN
    has_colour: bool = True  # the product comes in the colour asked for (or none was)
    has_size: bool = True  # ... in the size asked for (or none was)


@dataclass
class _Building:
    terms: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    colours: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    sizes: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))


class ProductIndex:
    def __init__(self) -> None:
        self._info: list[ProductInfo] = []
        self._position: dict[str, int] = {}
        self._postings: dict[str, list[int]] = {}
        self._vocabulary: list[str] = []  # sorted stems, for prefixes
        self._words: dict[str, tuple[str, ...]] = {}  # surface word → terms
        self._word_list: list[str] = []  # surface words, for fuzzy matching
        self._exact: dict[str, tuple[int, str | None]] = {}
        # Folded colours and sizes per product, so ranking thousands of matches is cheap.
        self._colour_keys: list[frozenset[str]] = []
        self._size_keys: list[frozenset[str]] = []

    # --- building ---------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        products: Iterable[tuple[str, str, str, str, str]],
        variants: Iterable[tuple[str, str, str | None, str, str]] = (),
    ) -> ProductIndex:
        """``products``: (code, name_it, name_en, category, brand);
        ``variants``: (product code, sku, ean, size, colour)."""
        index = cls()
        raw: list[tuple[str, str, str, str]] = []
        building = _Building()
        words: dict[str, set[str]] = defaultdict(set)
        for code, name_it, name_en, category, brand in products:
            where = len(raw)
            index._position[code] = where
            index._exact[code.upper()] = (where, None)
            raw.append((code, name_it, name_en, category))
            category_concept = CATEGORY_KEYS.get(fold(category))
            if category_concept:
                building.terms[where].add(category_concept)
            for text, prefix in ((name_it, ""), (name_en, ""), (category, ""), (brand, BRAND)):
                found = tokens(text)
                for _, _, concept in concepts_in(found):
                    building.terms[where].add(concept)
                for word in found:
                    if word in FILLER or word.isdigit():
                        continue
                    term = prefix + stem(word)
                    building.terms[where].add(term)
                    words[word].add(term)
        for code, sku, ean, size, colour in variants:
            position = index._position.get(code)
            if position is None:
                continue
            index._exact[sku.upper()] = (position, sku)
            if ean:
                index._exact[ean] = (position, sku)
            building.colours[position].add(colour)
            building.sizes[position].add(size)
        postings: dict[str, list[int]] = defaultdict(list)
        for where, terms in sorted(building.terms.items()):
            expanded = set(terms)
            for group, members in GROUP_MEMBERS.items():
                if terms & members:
                    expanded.add(group)
            for term in expanded:
                postings[term].append(where)
        index._postings = dict(postings)
        index._vocabulary = sorted(t for t in postings if ":" not in t)  # stems only
        # Concept words are known words too (so "trainers" never reaches fuzzy matching),
        # and colour words are never product words.
        for phrase, concept in PHRASES.items():
            if len(phrase) == 1 and concept in index._postings:
                words[phrase[0]].add(concept)
        index._words = {
            word: tuple(sorted(terms)) for word, terms in words.items() if word not in COLOUR_WORDS
        }
        index._word_list = sorted(w for w in index._words if len(w) >= FUZZY_MIN_LENGTH - 1)
        index._info = [
            ProductInfo(
                code,
                name_it,
                name_en,
                category,
                tuple(sorted(building.colours.get(where, ()))),
                tuple(sorted(building.sizes.get(where, ()), key=size_key)),
            )
            for where, (code, name_it, name_en, category) in enumerate(raw)
        ]
        index._colour_keys = [frozenset(fold(c) for c in info.colours) for info in index._info]
        index._size_keys = [frozenset(size_text(s) for s in info.sizes) for info in index._info]
        return index

    @classmethod
    async def load(cls, session: AsyncSession) -> ProductIndex:
        products = (
            await session.execute(
                select(
                    Product.code, Product.name_it, Product.name_en, Product.category, Product.brand
                ).order_by(Product.code)
            )
        ).all()
        variants = (
            await session.execute(
                select(Product.code, Variant.sku, Variant.ean, Variant.size, Variant.colour).join(
                    Variant, Variant.product_id == Product.id
                )
            )
        ).all()
        return cls.build(
            ((p.code, p.name_it, p.name_en, p.category, p.brand) for p in products),
            ((v.code, v.sku, v.ean, v.size, v.colour) for v in variants),
        )

    # --- lookups ----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._info)

    def info(self, code: str) -> ProductInfo | None:
        where = self._position.get(code)
        return None if where is None else self._info[where]

    def exact(self, raw: str) -> tuple[str, str | None] | None:
        """``(product code, sku or None)`` for a product code, SKU or EAN, else ``None``."""
        hit = self._exact.get(raw.strip().upper())
        if hit is None:
            return None
        return self._info[hit[0]].code, hit[1]

    def concept_known(self, concept: str) -> bool:
        return concept in self._postings

    def word(self, word: str, *, fuzzy: bool = True) -> WordMatch | None:
        """What ``word`` (folded) means to the index, or ``None`` if nothing close."""
        known = self._words.get(word)
        if known:
            return WordMatch(word, known, 1.0, "word")
        term = stem(word)
        if term in self._postings:
            return WordMatch(word, (term,), 1.0, "stem")
        if len(word) >= PREFIX_MIN_LENGTH:
            prefixed = self._prefixed(term)
            if prefixed:
                return WordMatch(word, tuple(prefixed), 0.8, "prefix")
        if fuzzy and len(word) >= FUZZY_MIN_LENGTH:
            if len(word) <= SHORT_WORD:
                # Short words: one edit at most, a swap of two letters counting as one
                # ("gonan" is "gonna"; "pluto" is two edits from "palto", so not a coat).
                near = process.extractOne(
                    word, self._word_list, scorer=OSA.distance, score_cutoff=1
                )
                if near is not None:
                    quality = 0.9 * (1 - near[1] / len(word))
                    return WordMatch(word, self._words[near[0]], quality, "fuzzy")
                return None
            best = process.extractOne(
                word, self._word_list, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF
            )
            if best is not None:
                return WordMatch(word, self._words[best[0]], 0.9 * best[1] / 100, "fuzzy")
        return None

    def _prefixed(self, prefix: str) -> list[str]:
        start = bisect_left(self._vocabulary, prefix)
        found = []
        for term in self._vocabulary[start : start + _MAX_PREFIX_EXPANSION]:
            if not term.startswith(prefix):
                break
            found.append(term)
        return found

    def rank(
        self,
        words: Sequence[WordMatch],
        *,
        colour: str | None = None,
        size: str | None = None,
        limit: int = 5,
    ) -> list[Match]:
        """Products for the words, best first: score, then having the colour and size asked
        for, then code. A product must match at least one word."""
        total = len(self._info) or 1
        scores: dict[int, float] = defaultdict(float)
        weight_sum = 0.0
        for match in words:
            terms = match.terms
            if len(terms) == 1 and not terms[0].startswith(BRAND):
                # The common case (one concept or stem): no per-product factor to work out.
                postings = self._postings.get(terms[0], ())
                if not postings:
                    continue
                weight = math.log(1 + total / len(postings))
                weight_sum += weight
                gain = weight * match.quality
                for where in postings:
                    scores[where] += gain
                continue
            hit: dict[int, float] = {}
            for term in terms:
                factor = BRAND_FACTOR if term.startswith(BRAND) else 1.0
                for where in self._postings.get(term, ()):
                    if hit.get(where, 0.0) < factor:
                        hit[where] = factor
            if not hit:
                continue
            weight = math.log(1 + total / len(hit))
            weight_sum += weight
            gain = weight * match.quality
            for where, factor in hit.items():
                scores[where] += gain * factor
        if not scores or weight_sum == 0:
            return []
        best_score = max(scores.values())
        # Only products close to the best can win: keeps sorting cheap on big catalogs.
        floor = best_score * 0.6
        wanted_colour = fold(colour) if colour else None
        wanted_size = size_text(size) if size else None
        ranked = []
        info = self._info
        for where, score in scores.items():
            if score < floor:
                continue
            no_colour = wanted_colour is not None and wanted_colour not in self._colour_keys[where]
            no_size = wanted_size is not None and wanted_size not in self._size_keys[where]
            ranked.append((-score, no_colour, no_size, info[where].code, where))
        best = heapq.nsmallest(limit, ranked)
        return [
            Match(info[where].code, round(-neg / weight_sum, 4), None, not no_colour, not no_size)
            for neg, no_colour, no_size, _, where in best
        ]


def size_text(size: str) -> str:
    """The comparable form of a size: "38,5" and "38.5", "m" and "M" are the same."""
    return fold(size).replace(",", ".")
