"""The product index: words in both languages, concepts, stems, prefixes, typos, codes."""

from __future__ import annotations

from vetrina.catalog.search import ProductIndex, WordMatch
from vetrina.storage.database import Database

INDEX = ProductIndex.build(
    [
        ("BOOT", "Stivale Brera in pelle", "Brera leather boot", "stivali", "Officina"),
        ("SNEAK", "Sneakers Navigli in tela", "Navigli canvas sneakers", "sneakers", "Passo"),
        ("COAT", "Cappotto Cortina in lana", "Cortina wool coat", "cappotti", "Officina Navigli"),
    ],
    [
        ("BOOT", "BOOT-NER-41", "8001230000015", "41", "nero"),
        ("SNEAK", "SNEAK-BIA-42", None, "42", "bianco"),
        ("COAT", "COAT-CAM-M", None, "M", "cammello"),
        ("COAT", "COAT-NER-L", None, "L", "nero"),
    ],
)


def words(*texts: str) -> list[WordMatch]:
    found = [INDEX.word(t) for t in texts]
    assert all(found), dict(zip(texts, found, strict=True))
    return [w for w in found if w is not None]


def test_how_a_word_is_found() -> None:
    assert INDEX.word("stivali").how == "word"  # a concept word of the catalog
    assert INDEX.word("stivale").how == "word"
    assert INDEX.word("leather").how == "word"
    assert INDEX.word("brerra").how == "fuzzy"
    assert INDEX.word("cortin").how in {"stem", "prefix"}
    assert INDEX.word("nero") is None  # colours are not product words
    assert INDEX.word("zzzz") is None


def test_concepts_join_languages_and_synonyms() -> None:
    for word in ("stivaletti", "boots", "boot"):
        match = INDEX.word(word)
        assert match is not None and "cat:stivali" in match.terms, word
    assert [m.product_code for m in INDEX.rank(words("pelle"))] == ["BOOT"]
    assert [m.product_code for m in INDEX.rank(words("leather"))] == ["BOOT"]


def test_rank_prefers_the_colour_and_size_asked_for() -> None:
    ranked = INDEX.rank(words("officina"), colour="cammello")
    assert [m.product_code for m in ranked] == ["COAT", "BOOT"]
    assert ranked[0].has_colour and not ranked[1].has_colour
    ranked = INDEX.rank(words("officina"), size="41")
    assert [m.product_code for m in ranked] == ["BOOT", "COAT"]


def test_a_rare_word_outweighs_a_common_one() -> None:
    ranked = INDEX.rank(words("officina", "cortina"))
    assert ranked[0].product_code == "COAT"
    assert all(m.score < ranked[0].score for m in ranked[1:])


def test_a_name_word_outweighs_the_same_word_in_a_brand() -> None:
    ranked = INDEX.rank(words("navigli"))
    assert ranked[0].product_code == "SNEAK"  # the Navigli model
    assert ranked[1].product_code == "COAT" and ranked[1].score < ranked[0].score  # by Navigli


def test_the_shop_name_is_no_product_word() -> None:
    assert INDEX.word("vetrina") is None


def test_codes_skus_and_eans() -> None:
    assert INDEX.exact("boot-ner-41") == ("BOOT", "BOOT-NER-41")
    assert INDEX.exact("8001230000015") == ("BOOT", "BOOT-NER-41")
    assert INDEX.exact("COAT") == ("COAT", None)
    assert INDEX.exact("COAT-ROS-M") is None


def test_info_has_colours_and_sizes_in_shop_order() -> None:
    info = INDEX.info("COAT")
    assert info is not None
    assert info.colours == ("cammello", "nero") and info.sizes == ("M", "L")
    assert info.name("en") == "Cortina wool coat" and info.name("it") == "Cappotto Cortina in lana"


async def test_loads_from_the_database(catalog: Database) -> None:
    async with catalog.sessions() as session:
        index = await ProductIndex.load(session)
    assert len(index) == 2
    match = index.word("stivale")
    assert match is not None and index.rank([match])[0].product_code == "BOOT"
    assert index.exact("TEE-BIA-M") == ("TEE", "TEE-BIA-M")
    info = index.info("BOOT")
    assert info is not None and info.sizes == ("40", "41", "42")
