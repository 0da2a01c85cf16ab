"""Gateway settings every benchmark shares.

All simulated customers connect from 127.0.0.1, where real ones each have an address of
their own: the per-address web chat limit (meant against one abuser behind one address)
would refuse most of a 20-customer run after a few turns. It is lifted here; the
per-socket and per-session limits stay as configured.
"""

from __future__ import annotations

ONE_ADDRESS_FOR_ALL = {"VETRINA_WEB_MAX_MESSAGES_PER_ADDRESS": "1000000"}
