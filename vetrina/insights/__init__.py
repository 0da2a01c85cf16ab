"""Insights: orders and till sales, reconciliation, attribution and the omnichannel KPIs.

The top of the domain: it reads customers, catalog, conversations and bookings and is
imported only by the gateway and the CLI.
"""

# Importing the package loads its tables, so a merge, an export or an erasure in any
# process that imports insights moves, exports and deletes ``order_contacts`` too.
from vetrina.insights import models as models
from vetrina.insights.customer_data import register

register()  # matched orders on the customer's timeline
