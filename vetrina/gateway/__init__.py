"""The aiohttp application: composition root, routes, workers."""
