"""Prometheus metrics of the gateway, served at ``/metrics``.

Counters and histograms are updated where things happen (the inbox, the turn
processor, the outbox); gauges that describe the database (queue depth, handoff queue)
are read from it when Prometheus scrapes. Each gateway instance exports its own
counters; sum them across instances in Prometheus (``sum by (channel) (rate(...))``).

==========================================  ==========================================
``vetrina_messages_in_total{channel}``      customer messages stored (duplicates not counted)
``vetrina_messages_out_total{channel}``     messages delivered to a channel
``vetrina_delivery_failures_total{channel,kind}``  failed deliveries: ``transient``
                                            (retried), ``final``, ``held``
``vetrina_rasa_latency_seconds``            time for Rasa to answer one turn (histogram)
``vetrina_rasa_unavailable_total``          turns postponed because Rasa was down or slow
``vetrina_queue_depth{queue}``              ``inbound`` messages waiting for the assistant,
                                            ``outbound`` waiting for delivery
``vetrina_handoff_queue_length``            conversations waiting for a consultant
``vetrina_handoff_wait_seconds``            how long the oldest waiting conversation has waited
==========================================  ==========================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter(
    "vetrina_messages_in", "Customer messages stored, per channel", ["channel"], registry=REGISTRY
)
MESSAGES_OUT = Counter(
    "vetrina_messages_out", "Messages delivered, per channel", ["channel"], registry=REGISTRY
)
DELIVERY_FAILURES = Counter(
    "vetrina_delivery_failures",
    "Failed delivery attempts, per channel and kind (transient, final, held)",
    ["channel", "kind"],
    registry=REGISTRY,
)
RASA_LATENCY = Histogram(
    "vetrina_rasa_latency_seconds",
    "Time Rasa took to answer one turn",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 30),
    registry=REGISTRY,
)
RASA_UNAVAILABLE = Counter(
    "vetrina_rasa_unavailable", "Turns postponed because Rasa was unavailable", registry=REGISTRY
)
QUEUE_DEPTH = Gauge(
    "vetrina_queue_depth",
    "Messages waiting: inbound for the assistant, outbound for delivery",
    ["queue"],
    registry=REGISTRY,
)
HANDOFF_QUEUE_LENGTH = Gauge(
    "vetrina_handoff_queue_length", "Conversations waiting for a consultant", registry=REGISTRY
)
HANDOFF_WAIT = Gauge(
    "vetrina_handoff_wait_seconds",
    "How long the oldest conversation waiting for a consultant has waited",
    registry=REGISTRY,
)
