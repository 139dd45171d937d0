"""Upstream faults against the real daemon: rate limits, 5xx, stalls, broken streams, clients hanging up,
answers that are no answer. Its daemons are shared by the package (conftest.py)."""
