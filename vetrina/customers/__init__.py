"""Customers and the channel identities that point to them.

The bottom domain package: it imports no other domain package. The packages above it
plug their per-customer tables, timeline entries and outbox in through
:mod:`vetrina.customers.registry`; importing this package registers its own tables.
"""

from vetrina.customers import customer_data

customer_data.register()
