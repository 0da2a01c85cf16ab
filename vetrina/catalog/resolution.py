"""From a shopper's sentence to a query: which product, colour, size and store they mean.

"avete il trench nero in M a Milano?", "is the black trench in M at the Milan store?",
"sneakers bianche 42 vicino a me", "VT0042-NER-42 in Via del Corso", "stivalli 38 Torino".

:func:`Resolver.parse` reads the words once, left to right, in this order:

1. product codes, SKUs and EANs (exact, from the product index);
2. phrases: "near me" / "vicino a me", colours ("light blue", "blu scuro"), spelled-out
   sizes ("extra large", "taglia unica"), multi-word places ("Buenos Aires", "la Spezia");
3. sizes: after a keyword ("taglia 42", "size M", "tg. S", "n. 38"), a letter size
   standing alone ("M", "XL"; a lower-case "m" only after "in", "la", "taglia"...; never
   inside a word or in "L'avete"), a bare number that can only be a size (24–56, "38,5");
4. colours (Italian and English, every inflection: ``vocabulary.COLOUR_WORDS``);
5. places: store cities (Italian or English name), store names ("Duomo", "Prati"), a
   postal code, other Italian cities (nearest store from the city centre);
6. product words (``search.ProductIndex.word``: concepts, words, stems, prefixes);
7. typos: the remaining words are fuzzy-matched (rapidfuzz) against product words,
   colours and places together; the best wins;
8. what is left after "a", "in", "at", "near"... is a place we do not know ("a Parigi").

A word that is both a product word and a place (the "Como" model, the city of Como) is
a place only after a place preposition ("a Como").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

from vetrina.catalog.search import Match, ProductIndex, WordMatch, concepts_in
from vetrina.catalog.stores import Coordinates, StoreDirectory, StoreInfo, fold
from vetrina.catalog.vocabulary import (
    BARE_NUMBER_RANGE,
    CITY_ALIASES,
    COLOUR_WORDS,
    DEICTIC,
    FILLER,
    GAZETTEER,
    LETTER_SIZES,
    NEAR_ME,
    NOT_SIZE_AFTER,
    NOT_SIZE_BEFORE,
    PLACE_LEAD_INS,
    SIZE_KEYWORDS,
    SIZE_LEAD_INS,
    SIZE_WORDS,
)

# Words, numbers ("38,5"), and "2XL"-style sizes, with their position in the text.
_WORD = re.compile(r"\d+[xX][lL]\b|\d+(?:[.,]5)?|[^\W\d_]+")
# Chunks that may be a code, SKU or EAN: letters, digits and inner -_. ("VT0001-NER-42").
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*[A-Za-z0-9]")
_APOSTROPHES = "'’`"
PLACE_CUTOFF = 80.0
COLOUR_CUTOFF = 80.0
_SKIP_BEFORE_PLACE = frozenset(
    {
        "the",
        "il",
        "lo",
        "la",
        "i",
        "gli",
        "le",
        "l",
        "our",
        "your",
        "vostro",
        "vostra",
        "negozio",
        "store",
        "shop",
    }
)
# Words in store names that do not tell stores apart.
_GENERIC_NAME_WORDS = frozenset(
    {"vetrina", "via", "viale", "piazza", "del", "della", "dei", "di", "da", "san", "santa", "e"}
)
_WEAK_LEAD_INS = frozenset({"di", "da", "of"})
_STORE_WORDS = frozenset({"negozio", "negozi", "store", "shop", "vendita", "boutique"})
_NOT_PRODUCT = FILLER | PLACE_LEAD_INS | SIZE_KEYWORDS


@dataclass
class _Token:
    raw: str
    word: str  # folded
    start: int
    end: int
    before_apostrophe: bool
    used: bool = False


@dataclass(frozen=True)
class StoreHint:
    """Where the shopper asked about.

    ``kind``: ``"store"`` (a store named), ``"city"`` (every store of a city),
    ``"postal_code"`` (stores of that postal area), ``"place"`` (a city without a store:
    ``origin`` is its centre, the nearest stores are meant), ``"unknown"`` (a place we
    could not find: ``stores`` is empty).
    """

    kind: str
    text: str
    stores: tuple[StoreInfo, ...] = ()
    origin: Coordinates | None = None


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    code: tuple[str, str | None] | None = None  # (product code, sku) named exactly
    product_words: tuple[WordMatch, ...] = ()
    unmatched: tuple[str, ...] = ()  # words that look like a product we do not know
    colour: str | None = None
    size: str | None = None
    store: StoreHint | None = None
    near_me: bool = False
    deictic: bool = False  # "this", "questo": the product on screen

    @property
    def mentions_product(self) -> bool:
        return bool(self.code or self.product_words or self.unmatched)

    @property
    def product_text(self) -> str:
        """The words the shopper used for the product (for "I could not find «…»")."""
        return " ".join([m.word for m in self.product_words] + list(self.unmatched))


def _phrases(words: Iterable[str]) -> dict[tuple[str, ...], str]:
    return {tuple(w.split()): w for w in words}


_COLOUR_PHRASES = {tuple(k.split()): v for k, v in COLOUR_WORDS.items()}
_COLOUR_SINGLE = sorted(k for k in COLOUR_WORDS if " " not in k and len(k) >= 4)


class StoreFinder:
    """Store cities, names, postal codes and the gazetteer, with fuzzy matching."""

    def __init__(self, directory: StoreDirectory) -> None:
        self.directory = directory
        active = [s for s in directory if s.active]
        self.by_city: dict[str, list[StoreInfo]] = defaultdict(list)
        for store in active:
            self.by_city[fold(store.city)].append(store)
        self.by_code = {store.code.upper(): store for store in active}
        # Distinctive name phrases: "Vetrina Roma Via del Corso" → ("via", "del", "corso").
        self.name_phrases: dict[tuple[str, ...], set[str]] = defaultdict(set)
        self.name_words: dict[str, set[str]] = defaultdict(set)
        for store in active:
            city = fold(store.city).split()
            words = [w for w in _words(store.name) if w != "vetrina"]
            if words[: len(city)] == city:
                words = words[len(city) :]
            if len(words) >= 2:
                self.name_phrases[tuple(words)].add(store.code)
            for word in words:
                if word not in _GENERIC_NAME_WORDS and word not in self.by_city and len(word) > 2:
                    self.name_words[word].add(store.code)
        # Every city name a shopper may use → the folded Italian name.
        self.city_names: dict[tuple[str, ...], str] = {}
        for name in list(GAZETTEER) + list(self.by_city):
            self.city_names[tuple(name.split())] = name
        for alias, name in CITY_ALIASES.items():
            self.city_names[tuple(alias.split())] = name
        self.max_phrase = max(
            [len(p) for p in self.name_phrases] + [len(p) for p in self.city_names] + [1]
        )
        self._fuzzy_words: dict[str, tuple[str, str]] = {}
        for phrase, name in self.city_names.items():
            if len(phrase) == 1 and len(phrase[0]) >= 4:
                self._fuzzy_words[phrase[0]] = ("city", name)
        for word in self.name_words:
            if len(word) >= 4:
                self._fuzzy_words[word] = ("store", word)
        self._fuzzy_list = sorted(self._fuzzy_words)

    def stores_in(self, city: str) -> list[StoreInfo]:
        return list(self.by_city.get(city, ()))

    def city_hint(self, city: str, text: str) -> StoreHint:
        stores = self.stores_in(city)
        if stores:
            return StoreHint("city", text, tuple(stores))
        latitude, longitude = GAZETTEER[city]
        return StoreHint("place", text, (), Coordinates(latitude, longitude))

    def postal_hint(self, code: str) -> StoreHint:
        active = [s for s in self.directory if s.active]
        for length in (5, 3, 2):
            found = [s for s in active if s.postal_code[:length] == code[:length]]
            if found:
                return StoreHint("postal_code", code, tuple(sorted(found, key=lambda s: s.code)))
        return StoreHint("unknown", code)

    def fuzzy(self, word: str) -> tuple[float, str, str] | None:
        """(score, "city" | "store", name) for a misspelt place, or ``None``."""
        if len(word) < 4:
            return None
        best = process.extractOne(
            word, self._fuzzy_list, scorer=fuzz.ratio, score_cutoff=PLACE_CUTOFF
        )
        if best is None:
            return None
        kind, name = self._fuzzy_words[best[0]]
        return best[1], kind, name


def _words(text: str) -> list[str]:
    return [fold(m.group()) for m in _WORD.finditer(text)]


class Resolver:
    """Parses shopper text against one product index and one store directory."""

    def __init__(self, index: ProductIndex, stores: StoreFinder) -> None:
        self.index = index
        self.stores = stores

    @classmethod
    def of(cls, index: ProductIndex, directory: StoreDirectory) -> Resolver:
        return cls(index, StoreFinder(directory))

    # --- parsing ----------------------------------------------------------------------

    def parse(self, text: str) -> ParsedQuery:
        text = text or ""
        code = None
        unknown_codes: list[str] = []
        state = _State()
        for chunk in reversed(list(_CODE.finditer(text))):
            raw = chunk.group()
            digits = sum(c.isdigit() for c in raw)
            named = self.stores.by_code.get(raw.upper()) if "-" in raw else None
            hit = self.index.exact(raw) if digits or "-" in raw else None
            if named is not None:
                state.store_codes.append({named.code})
                state.place_text.append(raw)
            elif hit is not None:
                code = hit
            elif (digits and len(raw) >= 6 and digits < len(raw)) or digits >= 8:
                unknown_codes.append(raw)  # looks like a code or an EAN we do not have
            else:
                continue
            text = text[: chunk.start()] + " " + text[chunk.end() :]
        toks = [
            _Token(
                m.group(),
                fold(m.group()).replace(",", "."),
                m.start(),
                m.end(),
                m.end() < len(text) and text[m.end()] in _APOSTROPHES,
            )
            for m in _WORD.finditer(text)
        ]
        words = [t.word for t in toks]

        self._phrases(toks, words, state)
        self._sizes(toks, state)
        self._colours(toks, state)
        self._places(toks, state)
        product = self._product_words(toks, state)
        self._fuzzy(toks, state, product)
        unmatched = self._leftovers(toks, state)
        store = self._store_hint(state)
        deictic = any(t.word in DEICTIC for t in toks)
        return ParsedQuery(
            text=text.strip(),
            code=code,
            product_words=tuple(product),
            unmatched=tuple(unknown_codes + unmatched),
            colour=state.colour,
            size=state.size,
            store=store,
            near_me=state.near_me,
            deictic=deictic,
        )

    def _phrases(self, toks: list[_Token], words: list[str], state: _State) -> None:
        tables: list[tuple[str, dict[tuple[str, ...], str] | frozenset[tuple[str, ...]]]] = [
            ("near", NEAR_ME),
            ("colour", _COLOUR_PHRASES),
            ("size", SIZE_WORDS),
            ("store", {p: "store" for p in self.stores.name_phrases}),
            ("city", self.stores.city_names),
        ]
        longest = max(3, self.stores.max_phrase)
        for size in range(longest, 1, -1):
            for start in range(len(toks) - size + 1):
                span = toks[start : start + size]
                if any(t.used for t in span):
                    continue
                key = tuple(words[start : start + size])
                for kind, table in tables:
                    if key not in table:
                        continue
                    if kind == "near":
                        state.near_me = True
                    elif kind == "colour":
                        state.colour = state.colour or _COLOUR_PHRASES[key]
                    elif kind == "size":
                        state.size = state.size or SIZE_WORDS[key]
                    elif kind == "store":
                        state.store_codes.append(set(self.stores.name_phrases[key]))
                        state.place_text.append(" ".join(t.raw for t in span))
                    else:
                        state.cities.append(self.stores.city_names[key])
                        state.place_text.append(" ".join(t.raw for t in span))
                    for t in span:
                        t.used = True
                    break
        # Single-word "near me" forms ("nearby", "closest").
        for t in toks:
            if not t.used and (t.word,) in NEAR_ME:
                state.near_me = True
                t.used = True
        # Single-word spelled-out sizes ("medium", "unica", "2xl").
        for t in toks:
            if not t.used and (t.word,) in SIZE_WORDS:
                state.size = state.size or SIZE_WORDS[(t.word,)]
                t.used = True

    def _sizes(self, toks: list[_Token], state: _State) -> None:
        for i, t in enumerate(toks):
            if t.used:
                continue
            before = toks[i - 1].word if i > 0 else ""
            after = toks[i + 1] if i + 1 < len(toks) else None
            if t.word in SIZE_KEYWORDS and after is not None and not after.used:
                value = _size_value(after, keyword=True)
                if value is not None and not (t.word == "n" and not _is_number(after.word)):
                    value = _half(value, toks, i + 2)
                    if state.size is None:
                        state.size = value
                    t.used = after.used = True
                    continue
            if t.word.upper() in LETTER_SIZES and not t.before_apostrophe:
                single = len(t.word) == 1
                if not single or t.raw.isupper() or before in SIZE_LEAD_INS | SIZE_KEYWORDS:
                    state.size = state.size or t.word.upper()
                    t.used = True
                    continue
            if _is_number(t.word):
                if len(t.word) == 5 and t.word.isdigit():
                    state.postal_codes.append(t.word)
                    t.used = True
                    continue
                number = float(t.word)
                low, high = BARE_NUMBER_RANGE
                if (
                    low <= number <= high
                    and before not in NOT_SIZE_BEFORE
                    and (after is None or after.word not in NOT_SIZE_AFTER)
                ):
                    state.size = state.size or _half(_number_text(t.word), toks, i + 1)
                    t.used = True

    def _colours(self, toks: list[_Token], state: _State) -> None:
        for t in toks:
            if t.used:
                continue
            colour = COLOUR_WORDS.get(t.word)
            if colour is not None:
                state.colour = state.colour or colour
                t.used = True

    def _places(self, toks: list[_Token], state: _State) -> None:
        for i, t in enumerate(toks):
            if t.used:
                continue
            city = self.stores.city_names.get((t.word,))
            names = self.stores.name_words.get(t.word)
            if city is None and names is None:
                continue
            if self.index.word(t.word, fuzzy=False) is not None and not _after_place_word(toks, i):
                continue  # "Como" the model, unless "a Como"
            if city is not None:
                state.cities.append(city)
            else:
                state.store_codes.append(set(names or ()))
            state.place_text.append(t.raw)
            t.used = True

    def _product_words(self, toks: list[_Token], state: _State) -> list[WordMatch]:
        found: list[WordMatch] = []
        free = [t for t in toks if not t.used]
        words = [t.word for t in free]
        for start, end, concept in concepts_in(words):
            if not self.index.concept_known(concept):
                continue
            span = free[start:end]
            found.append(WordMatch(" ".join(t.word for t in span), (concept,), 1.0, "concept"))
            for t in span:
                t.used = True
        for t in toks:
            if t.used or t.word in _NOT_PRODUCT or _is_number(t.word) or len(t.word) < 2:
                continue
            match = self.index.word(t.word, fuzzy=False)
            if match is not None:
                found.append(match)
                t.used = True
        return found

    def _fuzzy(self, toks: list[_Token], state: _State, product: list[WordMatch]) -> None:
        for i, t in enumerate(toks):
            if t.used or t.word in _NOT_PRODUCT or len(t.word) < 4 or not t.word.isalpha():
                continue
            options: list[tuple[float, int, str, object]] = []
            match = self.index.word(t.word)
            if match is not None:
                options.append((match.quality / 0.9 * 100, 2, "product", match))
            colour = process.extractOne(
                t.word, _COLOUR_SINGLE, scorer=fuzz.ratio, score_cutoff=COLOUR_CUTOFF
            )
            if colour is not None:
                options.append((colour[1], 1, "colour", COLOUR_WORDS[colour[0]]))
            place = self.stores.fuzzy(t.word)
            if place is not None:
                bonus = 1 if _after_place_word(toks, i) else 0
                options.append((place[0], bonus, place[1], place[2]))
            if not options:
                continue
            _, _, kind, value = max(options, key=lambda o: (o[0], o[1]))
            if kind == "product":
                assert isinstance(value, WordMatch)  # noqa: S101  ("product" options hold one)
                product.append(value)
            elif kind == "colour":
                state.colour = state.colour or str(value)
            elif kind == "city":
                state.cities.append(str(value))
                state.place_text.append(t.raw)
            else:
                state.store_codes.append(set(self.stores.name_words[str(value)]))
                state.place_text.append(t.raw)
            t.used = True

    def _leftovers(self, toks: list[_Token], state: _State) -> list[str]:
        unmatched = []
        for i, t in enumerate(toks):
            if t.used or t.word in _NOT_PRODUCT or _is_number(t.word) or len(t.word) < 2:
                continue
            if _after_place_word(toks, i) and t.word.isalpha() and len(t.word) >= 3:
                state.unknown_places.append(t.raw)
            else:
                unmatched.append(t.word)
        return unmatched

    def _store_hint(self, state: _State) -> StoreHint | None:
        text = " ".join(state.place_text)
        if state.store_codes:
            votes: dict[str, int] = defaultdict(int)
            for codes in state.store_codes:
                for code in codes:
                    votes[code] += 1
            candidates = [self.stores.by_code[c.upper()] for c in votes]
            if state.cities:
                in_city = [s for s in candidates if fold(s.city) in state.cities]
                candidates = in_city or candidates
            top = max(votes[s.code] for s in candidates)
            best = sorted((s for s in candidates if votes[s.code] == top), key=lambda s: s.code)
            kind = "store" if len(best) == 1 else "city"
            return StoreHint(kind, text, tuple(best))
        if state.cities:
            return self.stores.city_hint(state.cities[0], text)
        if state.postal_codes:
            return self.stores.postal_hint(state.postal_codes[0])
        if state.unknown_places:
            return StoreHint("unknown", " ".join(state.unknown_places))
        return None

    # --- products ---------------------------------------------------------------------

    def rank(self, query: ParsedQuery, *, limit: int = 30) -> list[Match]:
        """Products for the query's words (empty when it names none)."""
        if not query.product_words:
            return []
        return self.index.rank(
            query.product_words, colour=query.colour, size=query.size, limit=limit
        )

    def choose(self, query: ParsedQuery) -> ProductChoice:
        """The product the words name: one clear winner, or the close candidates."""
        if query.code is not None:
            return ProductChoice(Match(query.code[0], 1.0, query.code[1]), ())
        return choose(self.rank(query))

    def resolve(self, text: str) -> tuple[ParsedQuery, ProductChoice]:
        """Free text → query and product choice: what ``bench/stock.py`` measures."""
        query = self.parse(text)
        return query, self.choose(query)


@dataclass(frozen=True)
class ProductChoice:
    product: Match | None  # the clear winner
    candidates: tuple[Match, ...] = ()  # several close matches, best first (no winner)


CLOSE = 0.05  # candidates within this score of the best are "close"


def choose(ranked: Sequence[Match]) -> ProductChoice:
    """One clear winner, or the close matches: among those within ``CLOSE`` of the best,
    the ones in the colour and size asked for are preferred."""
    if not ranked:
        return ProductChoice(None)
    top = ranked[0].score
    close = [m for m in ranked if m.score >= top - CLOSE]
    for wanted in ("has_colour", "has_size"):
        narrowed = [m for m in close if getattr(m, wanted)]
        close = narrowed or close
    if len(close) == 1:
        return ProductChoice(close[0])
    return ProductChoice(None, tuple(close))


_ORDINALS = {
    "primo": 1, "prima": 1, "first": 1, "1": 1, "1st": 1,
    "secondo": 2, "seconda": 2, "second": 2, "2": 2, "2nd": 2,
    "terzo": 3, "terza": 3, "third": 3, "3": 3, "3rd": 3,
    "quarto": 4, "quarta": 4, "fourth": 4, "4": 4, "4th": 4,
    "ultimo": -1, "ultima": -1, "last": -1,
}  # fmt: skip


def ordinal(text: str) -> int | None:
    """Which of the offered options an ordinal means ("il secondo", "the last one", "2");
    1-based, -1 for the last."""
    for word in re.findall(r"[^\W_]+", fold(text or "")):
        if word in _ORDINALS:
            return _ORDINALS[word]
    return None


def pick(options: Sequence[str], text: str) -> str | None:
    """The option an ordinal in ``text`` points at, if any."""
    n = ordinal(text)
    if n is None or not options:
        return None
    if n == -1:
        return options[-1]
    return options[n - 1] if 1 <= n <= len(options) else None


@dataclass
class _State:
    colour: str | None = None
    size: str | None = None
    near_me: bool = False
    cities: list[str] = field(default_factory=list)
    store_codes: list[set[str]] = field(default_factory=list)
    postal_codes: list[str] = field(default_factory=list)
    place_text: list[str] = field(default_factory=list)
    unknown_places: list[str] = field(default_factory=list)


def _is_number(word: str) -> bool:
    return bool(word) and word.replace(".", "", 1).isdigit()


def _number_text(word: str) -> str:
    value = float(word)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _size_value(token: _Token, *, keyword: bool) -> str | None:
    if token.word.upper() in LETTER_SIZES:
        return token.word.upper()
    if (token.word,) in SIZE_WORDS:
        return SIZE_WORDS[(token.word,)]
    if _is_number(token.word) and len(token.word) <= 5:
        return _number_text(token.word)
    if token.word == "uni":
        return "UNI"
    return None


def _half(value: str, toks: Sequence[_Token], at: int) -> str:
    """Half sizes: "38 e mezzo" / "38 and a half" → "38.5" (marks the extra words used)."""
    if not _is_number(value) or "." in value:
        return value
    rest = [t.word for t in toks[at : at + 3]]
    for phrase in (["e", "mezzo"], ["and", "a", "half"], ["mezzo"]):
        if rest[: len(phrase)] == phrase:
            for t in toks[at : at + len(phrase)]:
                t.used = True
            return f"{value}.5"
    return value


def _after_place_word(toks: Sequence[_Token], i: int) -> bool:
    """Whether token ``i`` follows "a", "in", "at", "near"... (articles may sit between)."""
    j = i - 1
    while j >= 0 and toks[j].word in _SKIP_BEFORE_PLACE:
        j -= 1
    if j < 0 or toks[j].word not in PLACE_LEAD_INS:
        return False
    if toks[j].word in _WEAK_LEAD_INS:  # "tuta da sci" is no place; "negozio di X" is
        return j > 0 and toks[j - 1].word in _STORE_WORDS
    return True
