"""Try-on bookings: slots, the booking lifecycle, sweeps, reminders and read models.

The top domain package (with insights): it may use customers, catalog and
conversations. Importing it registers its per-customer table with customers and its
queue source with conversations' routing (:mod:`vetrina.bookings.customer_data`).
"""

from vetrina.bookings import customer_data

customer_data.register()
