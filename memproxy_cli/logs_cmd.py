"""`memproxy logs` (placeholder; being written)."""

from __future__ import annotations


def logs() -> None:
    """Recent requests."""
