"""Messages (inbox and outbox), conversation state and the processing of a turn.

Importing the package registers its per-customer tables, its timeline entries and its
outbox with :mod:`vetrina.customers.registry` (customers sits below and cannot import it).
"""

from vetrina.conversations import customer_data

customer_data.register()
