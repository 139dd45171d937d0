"""The fast path: when the client's dialect is the provider's, forward the body as it is.

LiteLLM spends ~8 ms of CPU per call parsing, translating and re-serialising a request that, for an
OpenAI-format request to an OpenAI deployment (or Anthropic to Anthropic), needs no translation.
Here the gateway sends the client's bytes (model name swapped in, memory injected) over one shared
connection pool and relays the answer's bytes unchanged, reading usage from them on the way, so
cost and the databank stay exact.

It applies only where nothing of the Router is lost: one deployment serves the model, no fallbacks
name it, and `general_settings.fast_path` is on. Retries (connect errors, 429 with Retry-After, 5xx
before the first byte) and timeouts follow `router_settings`, as the Router's would; the waits are
`retry.Backoff`'s (full jitter, or what the server asks within the budget).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from daemon.dialects import Dialect
from daemon.errors import (
    GatewayError,
    InvalidRequest,
    UpstreamFailed,
    UpstreamTimeout,
    for_upstream_status,
    upstream_message,
)
from daemon.gateway.answers import loads
from daemon.gateway.chat_only import chat_only
from daemon.gateway.credentials import AUTH_HEADERS, NO_KEY
from daemon.gateway.encode import dumps
from daemon.gateway.retry import Backoff

PROVIDER_OF_DIALECT = {Dialect.OPENAI: "openai", Dialect.ANTHROPIC: "anthropic"}
DEFAULT_BASES = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
ANTHROPIC_VERSION = "2023-06-01"
BACKOFF = Backoff()
# headers of the client's request that select provider features; never credentials or routing
CLIENT_HEADERS = {"anthropic-version", "anthropic-beta", "openai-beta"}


@dataclass(frozen=True)
class Target:
    """Where and how one request goes upstream."""

    url: str
    model: str
    headers: dict[str, str]
    provider: str


def header_value(name: str, value: str) -> str:
    """A client header value fit to pass on, or a 400 that says which header is wrong."""
    if not value or value != value.strip() or not value.isascii() or not value.isprintable():
        raise InvalidRequest(f"header {name} must be printable ASCII")
    return value


def make_client() -> aiohttp.ClientSession:
    """One pool for every upstream the fast path talks to, for the daemon's life.

    aiohttp rather than httpx here: httpcore checks every pooled connection's socket on each request,
    which showed up as a fifth of the gateway's CPU under 16 concurrent clients.
    """
    connector = aiohttp.TCPConnector(limit=512, limit_per_host=0, keepalive_timeout=60, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=True)


def plan(
    dialect: Dialect,
    path: str,
    params: Mapping[str, Any],
    requested: str,
    target_model: str,
    api_key: str | None,
    client_headers: Mapping[str, str],
) -> Target | None:
    """The fast-path target of a request to the route `path` (`/v1/chat/completions`, `/v1/responses`,
    `/v1/messages`) for a deployment's `litellm_params`, or None when LiteLLM must translate."""
    provider = PROVIDER_OF_DIALECT[dialect]
    if path == "/v1/responses" and chat_only(params):
        return None  # a server without the Responses API: LiteLLM reaches it through Chat Completions
    declared = params.get("custom_llm_provider")
    prefix, _, bare = target_model.partition("/")
    if declared and declared != provider:
        return None
    if not declared and (not bare or prefix != provider):
        return None
    model = bare if prefix == provider else target_model
    extra = deployment_headers(params)
    if not model or "*" in model or not (api_key or AUTH_HEADERS & extra.keys()):
        return None
    base = str(params.get("api_base") or DEFAULT_BASES[provider]).rstrip("/")
    # identity: the fast path passes stream bytes on as they are, so they must not be compressed
    headers = {"content-type": "application/json", "accept-encoding": "identity"}
    for name in CLIENT_HEADERS:
        value = client_headers.get(name)
        if value is not None:
            headers[name] = header_value(name, value)
    # a local server that takes no key gets none (LiteLLM's client would send NO_KEY)
    key = api_key if api_key != NO_KEY else None
    # an OpenAI base names its version (`.../v1`), an Anthropic one does not
    suffix = path.removeprefix("/v1") if provider == "openai" else path
    url = base if base.endswith(suffix) else base + suffix
    if provider == "openai":
        if key:
            headers["authorization"] = f"Bearer {key}"
    else:
        if key:
            headers["x-api-key"] = key
        headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
    # the deployment's own headers last, as LiteLLM sends them: they may carry its credential
    headers.update(extra)
    return Target(url=url, model=model, headers=headers, provider=provider)


def deployment_headers(params: Mapping[str, Any]) -> dict[str, str]:
    """A deployment's `litellm_params.extra_headers`, names lower-cased, values as strings."""
    extra = params.get("extra_headers")
    if not isinstance(extra, Mapping):
        return {}
    return {str(name).lower(): str(value) for name, value in extra.items() if value is not None}


def request_bytes(
    raw: bytes, body: dict[str, Any], original: dict[str, Any], target: Target, added: Mapping[str, Any]
) -> bytes:
    """The body to send: the client's own bytes when nothing changed, the client's bytes with the
    `added` fields written in at the end when only those are new (an 18.9 MiB body serialised again
    held the event loop), else `body` with `added` serialised once."""
    if body is original and original.get("model") == target.model:
        if not added:
            return raw
        end = raw.rstrip()
        if end.endswith(b"}") and not added.keys() & original.keys():
            return end[:-1] + b"," + dumps(dict(added))[1:]
    return dumps({**body, **added, "model": target.model})


async def send(
    client: aiohttp.ClientSession,
    target: Target,
    content: bytes,
    *,
    retries: int,
    timeout: float,
    backoff: Backoff = BACKOFF,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> aiohttp.ClientResponse:
    """POST with the Router's retry rules; the open (streamed) response on a 2xx, GatewayError otherwise."""
    attempt = 0
    # `timeout` bounds the wait for the answer to start and each gap in it, as the Router's does
    limits = aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=timeout)
    while True:
        response: aiohttp.ClientResponse | None = None
        failure: GatewayError
        try:
            response = await client.post(target.url, data=content, headers=target.headers, timeout=limits)
        except TimeoutError:
            failure = UpstreamTimeout(f"upstream timed out after {timeout:.0f} s")
        except aiohttp.ClientError as exc:
            failure = UpstreamFailed(f"cannot reach the upstream: {type(exc).__name__}: {exc}")
        else:
            if response.status < 400:
                return response
            payload = await _read_quietly(response)
            failure = for_upstream_status(response.status, upstream_message(response.status, payload), target.url)
            if response.status not in (408, 409, 429) and response.status < 500:
                raise failure
        delay = backoff.delay(attempt, response.headers if response is not None else None)
        if attempt >= retries or delay is None or delay > timeout:
            raise failure  # a Retry-After beyond the budget: the client hears now, not after the wait
        await sleep(delay)
        attempt += 1


async def _read_quietly(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except (aiohttp.ClientError, TimeoutError):
        return b""
    finally:
        response.release()


async def read_json(response: aiohttp.ClientResponse, timeout: float) -> tuple[bytes, dict[str, Any]]:
    """The whole non-streamed answer, as bytes for the client and parsed for the databank."""
    try:
        payload = await response.read()
    except TimeoutError:
        raise UpstreamTimeout(f"upstream timed out after {timeout:.0f} s") from None
    except aiohttp.ClientError as exc:
        raise UpstreamFailed(f"the upstream answer broke off: {type(exc).__name__}") from exc
    finally:
        response.release()
    data = loads(payload)
    if not isinstance(data, dict):
        raise UpstreamFailed("the upstream answered with something that is not a JSON object")
    return payload, data


async def stream_bytes(response: aiohttp.ClientResponse, idle_timeout: float) -> AsyncIterator[bytes]:
    """The streamed answer's bytes as they arrive; a gap longer than `idle_timeout` is a 504."""
    try:
        while True:
            try:
                chunk = await response.content.readany()
            except TimeoutError:
                raise UpstreamTimeout(f"the upstream stream stalled for {idle_timeout:.0f} s") from None
            except aiohttp.ClientError as exc:
                raise UpstreamFailed(f"the upstream stream broke off: {type(exc).__name__}") from exc
            if not chunk:
                return
            yield chunk
    finally:
        response.close()
