"""Insights: orders and till sales, reconciliation, attribution and the omnichannel KPIs.

The top of the domain: it reads customers, catalog, conversations and bookings and is
imported only by the gateway and the CLI.
"""
