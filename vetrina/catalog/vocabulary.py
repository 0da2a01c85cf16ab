"""The words shoppers use, in Italian and English, mapped to what the catalog stores.

Plain data and tiny pure helpers, shared by the product index (``search``) and the
free-text resolver (``resolution``). Every key is *folded* (lower case, no accents, see
:func:`vetrina.catalog.stores.fold`), and multi-word phrases are written with single
spaces between folded tokens ("scarpe da ginnastica", "light blue").

- colours: shopper words → the catalog's Italian colour name (``demo.COLOURS`` keys);
- concepts: category and material words → one id per idea ("cat:sneakers", "mat:pelle"),
  so "scarpe da ginnastica", "sneakers" and "trainers" find the same products;
- sizes: letter sizes and their spelled-out forms, the words that introduce a size;
- cities: English names of Italian cities, and a small gazetteer (city centres) for
  "the store near Brescia" when Brescia has no store of its own;
- filler: words that carry no product, colour, size or place meaning in a stock question.
"""

from __future__ import annotations

# --- colours ------------------------------------------------------------------------------

# Italian catalog name → every shopper spelling (Italian inflections, English, synonyms).
_COLOUR_WORDS: dict[str, tuple[str, ...]] = {
    "nero": ("nero", "nera", "neri", "nere", "black", "blacks"),
    "bianco": (
        "bianco",
        "bianca",
        "bianchi",
        "bianche",
        "white",
        "panna",
        "avorio",
        "off white",
        "ivory",
    ),
    "blu": (
        "blu",
        "blue",
        "navy",
        "navy blue",
        "dark blue",
        "blu scuro",
        "blu navy",
        "blu notte",
        "bleu",
    ),
    "grigio": ("grigio", "grigia", "grigi", "grigie", "grey", "gray", "antracite", "charcoal"),
    "marrone": (
        "marrone",
        "marroni",
        "brown",
        "testa di moro",
        "cioccolato",
        "chocolate",
        "cuoio",
        "tan",
    ),
    "beige": ("beige", "sabbia", "sand", "khaki", "kaki", "tortora", "taupe"),
    "rosso": ("rosso", "rossa", "rossi", "rosse", "red"),
    "verde": ("verde", "verdi", "green", "verde oliva", "olive", "oliva", "militare"),
    "cammello": ("cammello", "camel", "color cammello"),
    "bordeaux": ("bordeaux", "bordo", "burgundy", "wine", "maroon", "vinaccia"),
    "rosa": ("rosa", "pink", "rosa cipria", "cipria"),
    "azzurro": (
        "azzurro",
        "azzurra",
        "azzurri",
        "azzurre",
        "celeste",
        "celesti",
        "light blue",
        "sky blue",
        "baby blue",
    ),
}
COLOUR_WORDS: dict[str, str] = {
    word: colour for colour, words in _COLOUR_WORDS.items() for word in words
}
COLOUR_NAMES_EN: dict[str, str] = {
    "nero": "black",
    "bianco": "white",
    "blu": "navy",
    "grigio": "grey",
    "marrone": "brown",
    "beige": "beige",
    "rosso": "red",
    "verde": "green",
    "cammello": "camel",
    "bordeaux": "burgundy",
    "rosa": "pink",
    "azzurro": "light blue",
}


def colour_name(colour: str, language: str) -> str:
    """The catalog's Italian colour name as a shopper reads it in ``language``."""
    if language == "en":
        return COLOUR_NAMES_EN.get(colour.strip().lower(), colour)
    return colour


# --- categories and materials ---------------------------------------------------------------

# Concept id → shopper words and phrases (folded). A product gets a concept when its
# category key, names or brand contain one of the words; a query gets it the same way.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "cat:sneakers": (
        "sneakers",
        "sneaker",
        "scarpe da ginnastica",
        "scarpa da ginnastica",
        "ginnastica",
        "scarpe sportive",
        "scarpe da tennis",
        "trainers",
        "trainer",
        "tennis shoes",
        "running shoes",
        "snikers",
        "sneackers",
        "sniker",
    ),
    "cat:stivali": (
        "stivali",
        "stivale",
        "stivaletti",
        "stivaletto",
        "boots",
        "boot",
        "ankle boots",
        "anfibi",
        "chelsea",
    ),
    "cat:mocassini": ("mocassini", "mocassino", "loafers", "loafer", "moccasins", "moccasin"),
    "cat:decollete": (
        "decollete",
        "decolte",
        "scarpe col tacco",
        "scarpe con il tacco",
        "tacchi",
        "tacco",
        "pumps",
        "pump",
        "heels",
        "high heels",
        "court shoes",
    ),
    "cat:sandali": ("sandali", "sandalo", "sandals", "sandal", "infradito"),
    "cat:stringate": (
        "stringate",
        "stringata",
        "scarpe stringate",
        "lace up shoes",
        "lace up",
        "lace ups",
        "oxford",
        "oxfords",
        "derby",
        "brogues",
    ),
    "cat:giacche": ("giacca", "giacche", "giacchetta", "blazer", "jacket", "jackets"),
    "cat:cappotti": (
        "cappotto",
        "cappotti",
        "cappottino",
        "palto",
        "coat",
        "coats",
        "overcoat",
        "overcoats",
    ),
    "cat:trench": (
        "trench",
        "trench coat",
        "trenchcoat",
        "trenchs",
        "impermeabile",
        "raincoat",
    ),
    "cat:maglieria": (
        "maglione",
        "maglioni",
        "maglia",
        "maglie",
        "maglioncino",
        "pullover",
        "golf",
        "cardigan",
        "sweater",
        "sweaters",
        "jumper",
        "jumpers",
        "knitwear",
    ),
    "cat:camicie": ("camicia", "camicie", "camicetta", "shirt", "shirts", "blouse"),
    "cat:tshirt": (
        "t shirt",
        "tshirt",
        "t shirts",
        "tshirts",
        "maglietta",
        "magliette",
        "tee",
        "tees",
    ),
    "cat:jeans": ("jeans", "jean"),
    "cat:pantaloni": (
        "pantaloni",
        "pantalone",
        "pantalon",
        "calzoni",
        "trousers",
        "pants",
        "chinos",
    ),
    "cat:abiti": ("abito", "abiti", "vestito", "vestiti", "vestitino", "dress", "dresses"),
    "cat:gonne": ("gonna", "gonne", "minigonna", "skirt", "skirts"),
    "cat:borse": (
        "borsa",
        "borse",
        "borsetta",
        "bag",
        "bags",
        "handbag",
        "handbags",
        "purse",
        "tote",
    ),
    "cat:cinture": ("cintura", "cinture", "cinta", "belt", "belts"),
    "mat:pelle": ("pelle", "leather", "cuoio pelle"),
    "mat:tela": ("tela", "canvas"),
    "mat:camoscio": ("camoscio", "suede"),
    "mat:vernice": ("vernice", "patent leather", "patent"),
    "mat:rafia": ("rafia", "raffia"),
    "mat:lana": ("lana", "wool", "woollen", "woolen"),
    "mat:cotone": ("cotone", "cotton"),
    "mat:lino": ("lino", "linen"),
    "mat:cashmere": ("cashmere", "cachemire", "kashmir"),
    "mat:seta": ("seta", "silk"),
    "mat:denim": ("denim",),
}
# A word for a whole family: "scarpe" may be any footwear category.
CONCEPT_GROUPS: dict[str, tuple[str, ...]] = {
    "grp:scarpe": ("scarpe", "scarpa", "shoes", "shoe", "calzature", "footwear"),
}
GROUP_MEMBERS: dict[str, frozenset[str]] = {
    "grp:scarpe": frozenset(
        {
            "cat:sneakers",
            "cat:stivali",
            "cat:mocassini",
            "cat:decollete",
            "cat:sandali",
            "cat:stringate",
        }
    ),
}
# The catalog's category keys (``Product.category``) as concepts; other keys are matched
# through CONCEPTS like any other word.
CATEGORY_KEYS: dict[str, str] = {
    "sneakers": "cat:sneakers",
    "stivali": "cat:stivali",
    "boots": "cat:stivali",
    "mocassini": "cat:mocassini",
    "decollete": "cat:decollete",
    "sandali": "cat:sandali",
    "stringate": "cat:stringate",
    "giacche": "cat:giacche",
    "cappotti": "cat:cappotti",
    "trench": "cat:trench",
    "maglieria": "cat:maglieria",
    "camicie": "cat:camicie",
    "tshirt": "cat:tshirt",
    "jeans": "cat:jeans",
    "pantaloni": "cat:pantaloni",
    "abiti": "cat:abiti",
    "gonne": "cat:gonne",
    "borse": "cat:borse",
    "cinture": "cat:cinture",
}


def phrase_table() -> dict[tuple[str, ...], str]:
    """Every concept word or phrase as a token tuple → concept id (groups included)."""
    table: dict[tuple[str, ...], str] = {}
    for concept, words in {**CONCEPTS, **CONCEPT_GROUPS}.items():
        for word in words:
            table[tuple(word.split())] = concept
    return table


# --- sizes ------------------------------------------------------------------------------------

# The one list of letter sizes, in shop order (products sort by it, resolution reads it).
LETTER_SIZES = ("XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL")
# Spelled-out sizes (folded token tuples) → the catalog's size.
SIZE_WORDS: dict[tuple[str, ...], str] = {
    ("extra", "small"): "XS",
    ("small",): "S",
    ("medium",): "M",
    ("large",): "L",
    ("extra", "large"): "XL",
    ("2xl",): "XXL",
    ("3xl",): "XXXL",
    ("taglia", "unica"): "UNI",
    ("one", "size"): "UNI",
    ("unica",): "UNI",
}
# Words after which the next token is a size: "taglia 42", "size M", "tg. S", "n. 38".
SIZE_KEYWORDS = frozenset(
    {"taglia", "taglie", "tg", "tgl", "size", "sized", "misura", "numero", "num", "nr", "n"}
)
# Words after which a bare letter ("m", "s", "l") is still a size: "in m", "la m", "a m".
SIZE_LEAD_INS = frozenset({"in", "la", "una", "the", "a", "an", "nella", "ina"})
# Plausible numeric sizes without a keyword (shoes 34–48, Italian 36–56, waist 24–40).
BARE_NUMBER_RANGE = (24.0, 56.0)
# A number followed by one of these is not a size ("100 euro", "2 km", "alle 18").
NOT_SIZE_AFTER = frozenset(
    {
        "euro",
        "eur",
        "km",
        "chilometri",
        "kilometers",
        "minuti",
        "minutes",
        "anni",
        "pezzi",
        "pieces",
        "metri",
        "m2",
    }
)
NOT_SIZE_BEFORE = frozenset({"alle", "ore", "at", "dalle", "fino", "until", "after", "dopo"})


# --- places -----------------------------------------------------------------------------------

# English (and a few other) names of Italian cities → the Italian name stores use.
CITY_ALIASES: dict[str, str] = {
    "milan": "milano",
    "rome": "roma",
    "turin": "torino",
    "naples": "napoli",
    "florence": "firenze",
    "genoa": "genova",
    "venice": "venezia",
    "padua": "padova",
    "mantua": "mantova",
    "syracuse": "siracusa",
    "leghorn": "livorno",
}
# City centres (folded name → latitude, longitude) for places without a store.
GAZETTEER: dict[str, tuple[float, float]] = {
    "milano": (45.4642, 9.1900),
    "roma": (41.9028, 12.4964),
    "torino": (45.0703, 7.6869),
    "napoli": (40.8518, 14.2681),
    "firenze": (43.7696, 11.2558),
    "bologna": (44.4949, 11.3426),
    "genova": (44.4056, 8.9463),
    "verona": (45.4384, 10.9916),
    "bari": (41.1171, 16.8719),
    "palermo": (38.1157, 13.3615),
    "venezia": (45.4408, 12.3155),
    "mestre": (45.4906, 12.2420),
    "padova": (45.4064, 11.8768),
    "trieste": (45.6495, 13.7768),
    "brescia": (45.5416, 10.2118),
    "bergamo": (45.6983, 9.6773),
    "catania": (37.5079, 15.0830),
    "cagliari": (39.2238, 9.1217),
    "parma": (44.8015, 10.3279),
    "modena": (44.6471, 10.9252),
    "reggio emilia": (44.6989, 10.6297),
    "reggio calabria": (38.1113, 15.6473),
    "perugia": (43.1107, 12.3908),
    "pescara": (42.4618, 14.2161),
    "ancona": (43.6158, 13.5189),
    "lecce": (40.3515, 18.1750),
    "salerno": (40.6824, 14.7681),
    "pisa": (43.7228, 10.4017),
    "livorno": (43.5485, 10.3106),
    "lucca": (43.8429, 10.5027),
    "siena": (43.3188, 11.3308),
    "trento": (46.0748, 11.1217),
    "bolzano": (46.4983, 11.3548),
    "udine": (46.0711, 13.2346),
    "como": (45.8081, 9.0852),
    "monza": (45.5845, 9.2744),
    "varese": (45.8206, 8.8251),
    "novara": (45.4469, 8.6222),
    "pavia": (45.1847, 9.1582),
    "mantova": (45.1564, 10.7914),
    "vicenza": (45.5455, 11.5354),
    "treviso": (45.6669, 12.2430),
    "rimini": (44.0678, 12.5695),
    "ravenna": (44.4184, 12.2035),
    "ferrara": (44.8381, 11.6198),
    "taranto": (40.4644, 17.2470),
    "foggia": (41.4622, 15.5446),
    "messina": (38.1938, 15.5540),
    "siracusa": (37.0755, 15.2866),
    "sassari": (40.7259, 8.5557),
    "cosenza": (39.2983, 16.2537),
    "latina": (41.4676, 12.9036),
    "caserta": (41.0748, 14.3323),
    "aosta": (45.7370, 7.3201),
    "la spezia": (44.1025, 9.8241),
    "sanremo": (43.8159, 7.7761),
}
# "Near me": phrases (folded token tuples) that ask for the nearest store.
NEAR_ME: frozenset[tuple[str, ...]] = frozenset(
    tuple(p.split())
    for p in (
        "vicino a me",
        "vicino casa",
        "vicino a casa",
        "vicino casa mia",
        "qui vicino",
        "piu vicino",
        "piu vicina",
        "piu vicini",
        "vicino a dove sono",
        "dalle mie parti",
        "in zona",
        "nella mia zona",
        "intorno a me",
        "near me",
        "nearby",
        "close to me",
        "closest",
        "nearest",
        "near here",
        "around here",
        "close by",
        "near my place",
        "in my area",
    )
)
# Words that point at the product on screen: "is *this* available?".
DEICTIC = frozenset({"questo", "questa", "questi", "queste", "quest", "this", "these"})
# Prepositions before a place: "a Milano", "in London", "at the Rome store", "vicino Como".
PLACE_LEAD_INS = frozenset(
    {
        "a",
        "ad",
        "in",
        "at",
        "near",
        "vicino",
        "presso",
        "di",
        "da",
        "of",
        "around",
        "nei",
        "zona",
        "to",
    }
)

# --- filler -------------------------------------------------------------------------------------

# Words of a stock question that name no product, colour, size or place (folded).
_FILLER_TEXT = """
    il lo la i gli le l un uno una un' di del dello della dei degli delle d da dal dallo dalla
    dai dagli dalle in nel nello nella nei negli nelle con su sul sulla per tra fra e ed o od
    a ad al allo alla ai agli alle che chi cosa come dove quando quanto quanti quanta quante
    ma se si no non ne ci c ce e' è ho hai ha abbiamo avete hanno avere c'e ce
    avete avreste avresti hai ha c'è ci sono sono sei e era è disponibile disponibili
    disponibilita disponibilità trovo trovare trovarlo trovarla trovo posso potrei
    vorrei voglio cerco cercavo sto cercando cercando stavo volevo sapere dire dimmi mi
    sai dirmi puoi potete verificare controllare controlla controllami vedere verifica
    negozio negozi punto vendita store stores shop shops boutique magazzino
    ancora anche ora adesso oggi domani subito qui li la' là
    taglia taglie misura misure numero colore colori modello modelli articolo articoli
    prodotto prodotti capo capi pezzo pezzi stock scorta scorte
    grazie prego ciao salve buongiorno buonasera per favore perfavore please pls thanks
    the a an of in on at to for from with and or is are am was were be been do does did
    you your yours we our have has had got any some there here it its it's this that
    these those my me i i'm im can could would will should may might want wanted
    looking look find check see know tell let is there still available availability
    in-store instore stocked stock size sizes colour colors color colours item items
    product products piece pieces model one ones store stores shop shops branch
    also too now today tomorrow right please pls thanks thank hi hello hey
    mio mia miei mie tuo tua vostro vostra vostri vostre nostro nostra
    quello quella quelli quelle questo questa questi queste
    s t d m ll ve re
    offerta offerte saldo saldi sconto sconti scontato promo promozione sale discount
    casa breve presto voi vi noi lei loro tu io me te
    prezzo costo costa quanto price cost costs how much what which where when
    aperto aperta apre chiude orari orario open opening hours
    sì si yes ok okay certo va bene
    vetrina
    sell sells selling carry carries guys need needs buy purchase order try wear
    vendete vende vendi vendono tenete trovate serve servirebbe serviva comprare
    acquistare ordinare provare indossare qualcosa something anything
    prenotare prenota prenotami prenotalo prenotala prenotarli prenotarle prenotiamo
    prenotazione prenotazioni prova prove provarlo provarla provarli provarle camerino
    appuntamento fissare fissiamo riserva riservami tienimelo tenermelo da parte venire
    book booking bookings try-on tryon try-ons fitting fittings appointment reserve
    hold slot room make prendo scelgo preferisco facciamo meglio allora then say
    works fine take orario orari like love come visit passare passo vengo
"""
FILLER = frozenset(_FILLER_TEXT.split())
