"""Customers and the channel identities that point to them."""
