"""The edge: per-project ports from a registry, the streaming forwarder, wrapping a command."""
