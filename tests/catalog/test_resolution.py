"""Free text → product words, colour, size, store: Italian and English, typos, codes."""

from __future__ import annotations

import pytest

from vetrina.catalog.resolution import Resolver, ordinal, pick
from vetrina.catalog.search import ProductIndex, stem, tokens
from vetrina.catalog.stores import Coordinates, OpeningHours, StoreDirectory, StoreInfo

HOURS = OpeningHours.from_json({d: "10:00-19:30" for d in ("mon", "tue", "wed", "thu", "fri")})


def store(code: str, name: str, city: str, cap: str, lat: float, lon: float) -> StoreInfo:
    return StoreInfo(code, name, city, "Via Roma 1", cap, Coordinates(lat, lon), HOURS)


STORES = StoreDirectory(
    enumerate(
        [
            store("MI-DUOMO", "Vetrina Milano Duomo", "Milano", "20122", 45.4651, 9.1930),
            store("MI-BA", "Vetrina Milano Buenos Aires", "Milano", "20124", 45.4790, 9.2108),
            store("RM-CORSO", "Vetrina Roma Via del Corso", "Roma", "00186", 41.9010, 12.4813),
            store("TO-ROMA", "Vetrina Torino Via Roma", "Torino", "10123", 45.0675, 7.6830),
            store("FI-CALZ", "Vetrina Firenze Calzaiuoli", "Firenze", "50122", 43.7712, 11.2551),
        ],
        start=1,
    )
)
INDEX = ProductIndex.build(
    [
        (
            "TR1",
            "Trench Positano in gabardine",
            "Positano gabardine trench coat",
            "trench",
            "Corte",
        ),
        ("TR2", "Trench Navigli in cotone", "Navigli cotton trench coat", "trench", "Corte"),
        ("SN1", "Sneakers Capri in pelle", "Capri leather sneakers", "sneakers", "Passo"),
        ("SN2", "Sneakers Como in tela", "Como canvas sneakers", "sneakers", "Passo"),
        ("BO1", "Stivali Brera in camoscio", "Brera suede boots", "stivali", "Officina"),
        ("CO1", "Cappotto Cortina in lana", "Cortina wool coat", "cappotti", "Vetrina"),
    ],
    [
        ("TR1", "TR1-NER-M", "8001230000015", "M", "nero"),
        ("TR1", "TR1-NER-L", None, "L", "nero"),
        ("TR2", "TR2-BEI-M", None, "M", "beige"),
        ("SN1", "SN1-BIA-42", None, "42", "bianco"),
        ("SN2", "SN2-NER-42", None, "42", "nero"),
        ("BO1", "BO1-MAR-39", None, "39", "marrone"),
        ("CO1", "CO1-CAM-S", None, "S", "cammello"),
    ],
)
RESOLVER = Resolver.of(INDEX, STORES)


def parse(text: str):
    return RESOLVER.parse(text)


def best(text: str) -> list[str]:
    return [m.product_code for m in RESOLVER.rank(parse(text))]


def test_tokens_and_stems() -> None:
    assert tokens("Décolleté NERE, taglia 38!") == ["decollete", "nere", "taglia", "38"]
    assert stem("nere") == stem("nero") == "ner"
    assert stem("stivali") == stem("stivale") == "stival"


def test_the_issue_example_in_both_languages() -> None:
    for text in (
        "avete il trench nero in M a Milano?",
        "is the black trench in M at the Milan store?",
    ):
        query = parse(text)
        assert (query.colour, query.size) == ("nero", "M"), text
        assert query.store is not None and query.store.kind == "city"
        assert {s.code for s in query.store.stores} == {"MI-DUOMO", "MI-BA"}
        assert best(text)[0] == "TR1"  # the only black trench comes first


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("taglia 42", "42"),
        ("sneakers tg. 41", "41"),
        ("size M please", "M"),
        ("ce l'avete in m?", "M"),
        ("do you have it in a small", "S"),
        ("in XL", "XL"),
        ("xxl", "XXL"),
        ("numero 38 e mezzo", "38.5"),
        ("38,5", "38.5"),
        ("sneakers 42 bianche", "42"),
        ("misura L", "L"),
        ("taglia unica", "UNI"),
        ("2XL", "XXL"),
        ("size 9", "9"),  # never a size of ours: the service lists the real ones
    ],
)
def test_sizes(text: str, size: str) -> None:
    assert parse(text).size == size


@pytest.mark.parametrize(
    "text",
    [
        "Milano",  # "M" inside a word
        "L'avete a Roma?",  # "L" before an apostrophe
        "lo voglio",
        "costa meno di 100 euro?",
        "alle 18 siete aperti?",
        "sneakers a 2 km da qui",
        "i'm in Milan",
    ],
)
def test_no_size_where_there_is_none(text: str) -> None:
    assert parse(text).size is None


@pytest.mark.parametrize(
    ("text", "colour"),
    [
        ("sneakers nere", "nero"),
        ("black trench", "nero"),
        ("stivali bianchi", "bianco"),
        ("light blue coat", "azzurro"),
        ("giacca blu scuro", "blu"),
        ("navy jacket", "blu"),
        ("grey sweater", "grigio"),
        ("gray sweater", "grigio"),
        ("camel coat", "cammello"),
        ("borsa bordò", "bordeaux"),
        ("trench nerro", "nero"),  # a typo
    ],
)
def test_colours(text: str, colour: str) -> None:
    assert parse(text).colour == colour


@pytest.mark.parametrize(
    ("text", "kind", "codes"),
    [
        ("a Torino", "city", {"TO-ROMA"}),
        ("in Turin", "city", {"TO-ROMA"}),
        ("at the Rome store", "city", {"RM-CORSO"}),
        ("Florence", "city", {"FI-CALZ"}),
        ("a Torinoo", "city", {"TO-ROMA"}),  # a typo
        ("Milnao", "city", {"MI-DUOMO", "MI-BA"}),
        ("in via del Corso", "store", {"RM-CORSO"}),
        ("nel negozio di Buenos Aires", "store", {"MI-BA"}),
        ("Duomo", "store", {"MI-DUOMO"}),
        ("Calzaiuoli", "store", {"FI-CALZ"}),
        ("Torino via Roma", "store", {"TO-ROMA"}),
        ("MI-BA", "store", {"MI-BA"}),
        ("CAP 20122", "postal_code", {"MI-DUOMO"}),
        ("20100", "postal_code", {"MI-DUOMO", "MI-BA"}),  # same postal area
    ],
)
def test_places(text: str, kind: str, codes: set[str]) -> None:
    hint = parse(text).store
    assert hint is not None and hint.kind == kind, hint
    assert {s.code for s in hint.stores} == codes


def test_a_city_without_a_store_gives_its_centre() -> None:
    hint = parse("sneakers a Brescia").store
    assert hint is not None and hint.kind == "place" and hint.stores == ()
    assert hint.origin is not None and abs(hint.origin.latitude - 45.54) < 0.1


@pytest.mark.parametrize("text", ["stivali a Parigi", "boots in London", "trench at Atlantis"])
def test_unknown_places_are_reported_not_ignored(text: str) -> None:
    hint = parse(text).store
    assert hint is not None and hint.kind == "unknown" and hint.text


def test_a_postal_code_of_an_area_without_stores_is_unknown() -> None:
    hint = parse("90141").store
    assert hint is not None and hint.kind == "unknown" and hint.text == "90141"


def test_a_word_that_is_a_model_and_a_city_is_the_model_unless_it_follows_a_preposition() -> None:
    assert parse("sneakers Como 42").store is None
    assert best("sneakers Como 42")[0] == "SN2"
    hint = parse("sneakers a Como").store
    assert hint is not None and hint.kind == "place"


def test_near_me_in_both_languages() -> None:
    for text in ("sneakers vicino a me", "the nearest store", "c'è nel negozio più vicino?"):
        assert parse(text).near_me, text
    assert not parse("sneakers a Milano").near_me


def test_category_synonyms_in_both_languages() -> None:
    assert set(best("scarpe da ginnastica")) == {"SN1", "SN2"}
    assert set(best("trainers")) == {"SN1", "SN2"}
    assert set(best("stivaletti")) == {"BO1"}
    assert best("ankle boots") == ["BO1"]
    assert best("cappotto") == ["CO1"]
    # A trench coat is a coat: "trench coat" names the trenches, "coat" all three.
    assert set(best("trench coat")) == {"TR1", "TR2"}
    assert set(best("scarpe")) == {"SN1", "SN2", "BO1"}


def test_typos_and_prefixes() -> None:
    assert set(best("snekaers")) == {"SN1", "SN2"}
    assert best("stivalli") == ["BO1"]
    assert best("capotto") == ["CO1"]
    assert best("Positan") == ["TR1"]  # still typing
    assert best("sneakers Capri pelle") == ["SN1"]


def test_nonsense_matches_nothing_and_is_kept_as_the_product_text() -> None:
    query = parse("pippo pluto")
    assert best("pippo pluto") == []
    assert query.unmatched == ("pippo", "pluto")
    assert query.product_text == "pippo pluto"


def test_codes_skus_and_eans_win_outright() -> None:
    assert parse("è disponibile TR1-NER-L?").code == ("TR1", "TR1-NER-L")
    assert parse("tr1-ner-l a Roma").code == ("TR1", "TR1-NER-L")
    assert parse("8001230000015").code == ("TR1", "TR1-NER-M")
    assert parse("avete TR2?").code == ("TR2", None)
    query = parse("avete VT9999-XXX-42?")  # looks like a code, is not ours
    assert query.code is None and query.unmatched == ("VT9999-XXX-42",) and query.size is None


def test_this_points_at_the_product_on_screen() -> None:
    assert parse("is this available in 42?").deictic
    assert parse("questa c'è in M?").deictic
    assert not parse("ce l'avete in M?").deictic


def test_empty_and_absurd_text() -> None:
    for text in ("", "   ", "???", "🙂🙂", "x" * 3000):
        query = parse(text)
        assert query.code is None and query.store is None and query.size is None


def test_ordinals_pick_an_offered_option() -> None:
    options = ["A", "B", "C"]
    assert pick(options, "il secondo") == "B"
    assert pick(options, "the last one") == "C"
    assert pick(options, "the first one please") == "A"
    assert pick(options, "il quarto") is None
    assert ordinal("quello in pelle") is None
