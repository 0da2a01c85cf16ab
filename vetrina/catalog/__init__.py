"""Catalog, stores and stock: the facts behind "is it in my size at the store near me?".

- ``models``: the tables (products, variants, promotions, stores, store and online stock).
- ``pricing``: the price and active promotion of a variant at a moment; one function for
  every channel, so WhatsApp, the website and the till quote the same amount.
- ``stores``: opening hours with exceptions (Europe/Rome, DST-safe), coordinates,
  haversine distance, the in-memory store directory.
- ``availability``: the ``InventoryProvider`` interface and its SQL implementation.
- ``products``: reading a product, its variants and their prices; size/colour lookups.
- ``vocabulary``: the shopper's words in Italian and English (colours, categories and
  materials with synonyms, sizes, city names, "near me").
- ``search``: the in-memory product index (concepts, stems, prefixes, rapidfuzz for typos,
  SKU/EAN); ``resolution``: free text → product words, colour, size and store.
- ``stock_check``: "is it in my size at the store near me?" from text and context to a
  structured answer (status, price, alternatives, online, hours) for the conversation.
- ``validation`` / ``writing`` / ``importing``: turning CSV and JSON files (and stock
  feeds) into rows, checking every one, and upserting them all-or-nothing.
- ``demo``: a deterministic fashion and footwear retailer to play with.
- ``errors``: lookup errors that carry what a reply needs (e.g. the sizes a product has).

Nothing here imports channels, actions, integrations or the gateway.
"""
