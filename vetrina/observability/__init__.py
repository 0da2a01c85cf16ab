"""Structured logs and Prometheus metrics, shared by every Vetrina process."""
