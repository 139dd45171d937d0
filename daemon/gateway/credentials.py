"""Which key an upstream call carries: a pure decision from the deployment and the request's headers.

A deployment with its own key uses it. One without (a bring-your-own-key deployment) passes on the
key the client sent, never the gateway's master key or the placeholder a wrapped tool was given so
its SDK would start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from daemon.errors import AuthenticationFailed

# Keys a wrapped tool gets so its SDK starts; never forwarded upstream as if they were real.
PLACEHOLDER_KEYS = frozenset({"memproxy", "sk-memproxy", "memproxy-placeholder"})


def _bearer(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return None


def client_key(headers: Mapping[str, str], master_key: str | None) -> str | None:
    """The provider key the client sent, if any (never the gateway's own master key or a placeholder)."""
    for key in (headers.get("x-api-key"), _bearer(headers)):
        if key and key != master_key and key not in PLACEHOLDER_KEYS:
            return key
    return None


def presented_keys(headers: Mapping[str, str]) -> list[str]:
    """Every key-like value the client presented (for redaction and the master-key check)."""
    keys = [headers.get("x-api-key"), headers.get("x-memproxy-key"), _bearer(headers)]
    return [k for k in keys if k]


def upstream_credentials(
    params: Mapping[str, Any], model: str, headers: Mapping[str, str], master_key: str | None
) -> dict[str, Any]:
    """The credential kwargs for a call to the deployment with `params`: none when it has its own key,
    else the client's key; an AuthenticationFailed when there is neither."""
    if params.get("api_key"):
        return {}
    key = client_key(headers, master_key)
    if key is None:
        raise AuthenticationFailed(
            f"no API key for model '{model}': set one for it in config.yaml (or the provider's key "
            "variable before `memproxy up`), or send your own key"
        )
    return {"api_key": key}
