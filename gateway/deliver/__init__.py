"""Deliver: getting canonical messages out durably — the proxy's outbox and forwarder, the batch job's sinks.

Kept free of imports so each part (outbox, forwarder, sinks) loads only what it needs.
"""
