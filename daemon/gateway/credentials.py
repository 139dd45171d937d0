"""Which credentials an upstream call carries: a pure decision from the deployment, what its provider
needs (`Needs`, from LiteLLM's `validate_environment` via `llm.provider_needs`) and the request's headers.

In order, a deployment without its own key uses:

1. the client's key, when it declares `configurable_clientside_auth_params: [api_key]` (LiteLLM's
   name for a bring-your-own-key deployment): without one the client gets a 401;
2. no key at all, for a local server (an `api_base` on loopback or a private network) or a provider
   that takes none (ollama, lm_studio, hosted_vllm, ...): the client's key is not sent there;
3. the provider's own credentials in memproxy's environment (AWS for Bedrock, Vertex's project, ...);
4. the client's key (any other keyless deployment is bring-your-own-key);
5. else a 401 naming what is missing.

Never the gateway's master key, nor the placeholder a wrapped tool was given so its SDK would start.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from daemon.errors import AuthenticationFailed

# Keys a wrapped tool gets so its SDK starts; never forwarded upstream as if they were real.
PLACEHOLDER_KEYS = frozenset({"memproxy", "sk-memproxy", "memproxy-placeholder"})
# The key a call to a local server carries. LiteLLM's OpenAI client will not start without some key,
# and without one it would read OPENAI_API_KEY and send a real key to a server that never asked. The
# fast path sends no Authorization at all for it.
NO_KEY = "no-key"
# Providers that take no key (LiteLLM fills in its own dummy, or reads the provider's variable).
KEYLESS_PROVIDERS = frozenset(
    {"ollama", "ollama_chat", "lm_studio", "hosted_vllm", "vllm", "llamafile", "xinference", "lemonade"}
    | {"docker_model_runner", "oobabooga", "triton", "petals"}
)
# Providers that sign requests with cloud credentials: an api_base of theirs on a private network
# (a VPC endpoint, LocalStack) still needs those credentials.
SIGNING_PROVIDERS = frozenset({"bedrock", "sagemaker", "vertex_ai", "vertex_ai_beta"})
# Headers in `extra_headers` that carry a credential: a deployment with one has its own key.
AUTH_HEADERS = frozenset({"authorization", "x-api-key", "api-key"})
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".lan", ".home.arpa")


class KeySource(StrEnum):
    """Where an upstream call's credentials come from."""

    CONFIGURED = "configured"
    CLIENT = "client"
    NONE = "none"
    ENVIRONMENT = "environment"


@dataclass(frozen=True)
class Needs:
    """What LiteLLM knows a deployment's provider needs: `missing` are the environment variables it
    looks for and does not find (None when LiteLLM cannot tell)."""

    provider: str | None
    missing: tuple[str, ...] | None


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


def is_local_base(api_base: object) -> bool:
    """True for an `api_base` on this machine or a private network (no DNS lookup: by its name)."""
    if not isinstance(api_base, str) or not api_base:
        return False
    try:
        host = (urlsplit(api_base if "://" in api_base else f"http://{api_base}").hostname or "").lower()
    except ValueError:
        return False
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        # localhost, docker's host.docker.internal, mDNS names, and single-label names (a compose service)
        return host == "localhost" or host.endswith(LOCAL_SUFFIXES) or "." not in host
    return ip.is_loopback or ip.is_private or ip.is_link_local


def client_declared(params: Mapping[str, Any]) -> bool:
    """Whether the deployment says its key comes from the client (LiteLLM's clientside auth params)."""
    declared = params.get("configurable_clientside_auth_params") or ()
    return isinstance(declared, list | tuple) and "api_key" in declared


def has_own_key(params: Mapping[str, Any]) -> bool:
    """Whether the deployment carries its own key (`api_key`, or an auth header in `extra_headers`)."""
    headers = params.get("extra_headers")
    auth = isinstance(headers, Mapping) and any(str(name).lower() in AUTH_HEADERS for name in headers)
    return bool(params.get("api_key")) or auth


def is_keyless(params: Mapping[str, Any], provider: str | None) -> bool:
    """A local server, or a provider that takes no key."""
    if provider in KEYLESS_PROVIDERS:
        return True
    return provider not in SIGNING_PROVIDERS and is_local_base(params.get("api_base"))


def key_source(params: Mapping[str, Any], needs: Needs, has_client_key: bool) -> KeySource | None:
    """Where the credentials for a call to the deployment with `params` come from (the module's
    order); None when there are none."""
    if has_own_key(params):
        return KeySource.CONFIGURED
    if client_declared(params):
        return KeySource.CLIENT if has_client_key else None
    if is_keyless(params, needs.provider):
        return KeySource.NONE
    if needs.missing == ():
        return KeySource.ENVIRONMENT
    if has_client_key:
        return KeySource.CLIENT
    return KeySource.ENVIRONMENT if needs.missing is None else None


def missing_credentials(model: str, params: Mapping[str, Any], needs: Needs) -> str:
    """What a client is told when no credentials serve `model`."""
    if client_declared(params) or not needs.missing:
        return f"no API key for model '{model}': it uses the client's own key, and none was sent"
    return (
        f"no API key for model '{model}': {needs.provider} needs {', '.join(needs.missing)} in memproxy's "
        "environment before `memproxy up` (or api_key in config.yaml), or send your own key"
    )


def upstream_credentials(
    params: Mapping[str, Any], model: str, headers: Mapping[str, str], master_key: str | None, needs: Needs
) -> dict[str, Any]:
    """The credential kwargs for a call to the deployment with `params`: none when it has its own key
    or LiteLLM finds the provider's in the environment, the client's key, `NO_KEY` for a local
    server; an AuthenticationFailed when there are none."""
    key = client_key(headers, master_key)
    source = key_source(params, needs, key is not None)
    if source is None:
        raise AuthenticationFailed(missing_credentials(model, params, needs))
    if source is KeySource.CLIENT:
        return {"api_key": key}
    if source is KeySource.NONE and needs.provider not in KEYLESS_PROVIDERS:
        return {"api_key": NO_KEY}
    return {}
