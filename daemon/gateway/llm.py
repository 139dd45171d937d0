"""The boundary with the LiteLLM SDK: set it up once, build the Router, map its errors, and every
other thing memproxy asks of LiteLLM (its parameter names, what its stream wrappers know about how a
stream ended); `token_count` asks it to count.

Nothing else in memproxy imports LiteLLM or touches its module globals (`llm_setup` and `token_count`
get it through `import_litellm`). `LITELLM_LOCAL_MODEL_COST_MAP` is set
before the import so LiteLLM never fetches its price map over the network at start.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from daemon.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    UpstreamFailed,
    UpstreamTimeout,
    for_upstream_status,
    upstream_message,
)
from daemon.gateway import chat_only, llm_setup
from daemon.gateway.answers import unreadable

if TYPE_CHECKING:
    from litellm import Router

    from daemon.config.settings import Settings
    from daemon.gateway.credentials import Needs

log = logging.getLogger("memproxy.llm")

# litellm_settings keys that only tune behaviour; anything else (callbacks that would send data to
# third parties, verbose modes that print keys) is ignored with a warning.
SAFE_LITELLM_SETTINGS = frozenset({"drop_params", "modify_params", "request_timeout", "use_client_cache"})


# Set before LiteLLM (and Hugging Face's hub client) is imported: nothing on the request path may
# reach the network but the upstream. Offline, LiteLLM reads its bundled price map and Anthropic
# beta-header table, and counts llama/cohere tokens with its bundled tiktoken instead of downloading
# a Hugging Face tokenizer (with retries, ~23 s on a machine without network, on the event loop).
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


def import_litellm() -> Any:
    """Import LiteLLM offline (local price map, bundled tokenizers) with quiet logging."""
    os.environ.update(OFFLINE_ENV)
    os.environ.setdefault("LITELLM_LOG", "ERROR")
    import litellm

    return litellm


def configure_litellm(settings: Settings) -> list[str]:
    """Apply the safe part of `litellm_settings` once; return warnings about the rest."""
    litellm = import_litellm()
    litellm.telemetry = False
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    litellm.callbacks = []
    litellm.success_callback = []
    litellm.failure_callback = []
    litellm.drop_params = True
    llm_setup.quiet_genai_logging()
    llm_setup.skip_request_pricing(litellm)  # memproxy prices rows in its writer thread
    warnings = []
    for key, value in settings.litellm_settings.items():
        if key in SAFE_LITELLM_SETTINGS:
            if key != "use_client_cache":
                setattr(litellm, key, value)
        else:
            warnings.append(f"litellm_settings.{key} is not applied by memproxy (only {sorted(SAFE_LITELLM_SETTINGS)})")
    return warnings


def router_kwargs(settings: Settings) -> dict[str, Any]:
    """The `litellm.Router` arguments `settings` describe (a pure function)."""
    rs = settings.router_settings
    model_list = []
    for entry in settings.model_list:
        deployment: dict[str, Any] = {
            "model_name": entry.model_name,
            "litellm_params": chat_only.router_params(entry.litellm_params),
        }
        if entry.model_info:
            deployment["model_info"] = dict(entry.model_info)
        model_list.append(deployment)
    kwargs: dict[str, Any] = {
        "model_list": model_list,
        "num_retries": rs.num_retries,
        "timeout": rs.timeout,
        "fallbacks": list(rs.fallbacks),
        "allowed_fails": rs.allowed_fails,
        "cooldown_time": rs.cooldown_time,
        "retry_after": int(rs.retry_after),
    }
    if rs.stream_timeout is not None:
        kwargs["stream_timeout"] = rs.stream_timeout
    return kwargs


def build_router(settings: Settings) -> Router:
    """One Router for the daemon's life: connection pools and cooldowns live in it."""
    import_litellm()
    from litellm import Router

    return Router(**router_kwargs(settings))


def find_deployment(model_list: Sequence[Any], model: str) -> Any | None:
    """The first `model_list` entry whose `model_name` (exact, then wildcard) serves `model`."""
    for entry in model_list:
        if entry.model_name == model:
            return entry
    for entry in model_list:
        if "*" in entry.model_name and fnmatch.fnmatchcase(model, entry.model_name):
            return entry
    return None


def deployment_provider(entry: Any) -> str | None:
    params: Mapping[str, Any] = entry.litellm_params
    provider = params.get("custom_llm_provider")
    if provider:
        return str(provider)
    model = str(params.get("model", ""))
    return model.split("/", 1)[0] if "/" in model else None


# LiteLLM's own route markers after a provider prefix (`bedrock/converse/<model id>`): not the provider's name.
_ROUTE_MARKERS = {"bedrock": ("converse/", "invoke/")}


def provider_model(model: str | None, provider: str | None) -> str | None:
    """`model` as the provider names it: without LiteLLM's `provider/` prefix (`openai/gpt-4o` → `gpt-4o`).

    LiteLLM prefixes some answers' model with the provider (fireworks_ai, ollama, ollama_chat, ...);
    only the deployment's own provider is taken off, so `openrouter/anthropic/claude-x` keeps `anthropic/`.
    """
    if not model or not provider:
        return model or None
    bare = model.removeprefix(f"{provider}/")
    for marker in _ROUTE_MARKERS.get(provider, ()):
        bare = bare.removeprefix(marker)
    return bare or None


def map_exception(exc: BaseException) -> GatewayError:
    """A LiteLLM/httpx exception as the GatewayError the client should see (status per SPEC)."""
    if isinstance(exc, GatewayError):
        return exc
    litellm = import_litellm()

    message = _clean_message(exc)
    status = getattr(exc, "status_code", None)
    url, said = _upstream_answer(exc)
    # LiteLLM sometimes wraps a provider's 401/403/429 in a class that says otherwise
    # (a BadRequestError with status_code 401): the provider's status decides
    if status in (401, 403, 429):
        return for_upstream_status(status, said or message, url)
    unparsed = unreadable(exc)
    if unparsed is not None:
        return unparsed  # an answer no parser takes (LiteLLM wraps it as a local or connection error)
    if _local_failure(exc, litellm.APIConnectionError):
        # LiteLLM failing on a field it could not translate (it may wrap that as a connection error):
        # the request's fault, not the upstream's
        return InvalidRequest(f"the request could not be translated for the provider: {message}")
    if isinstance(exc, litellm.Timeout):
        return UpstreamTimeout(f"upstream timed out: {message}")
    if isinstance(exc, litellm.APIConnectionError):
        return UpstreamFailed(f"cannot reach the upstream: {message}")
    if isinstance(exc, litellm.BadRequestError) and (
        "Invalid model name" in message or "no deployments" in message.lower()
    ):
        return ModelNotFound(message)
    if isinstance(status, int) and 400 <= status < 600:
        return for_upstream_status(status, said or message, url)
    if isinstance(exc, litellm.APIError):
        return UpstreamFailed(f"upstream failed: {message}")
    broken = _broken_connection(exc, message or type(exc).__name__)
    if broken is not None:
        return broken
    log.exception("unexpected error calling the upstream", exc_info=exc)
    return UpstreamFailed(f"upstream call failed: {type(exc).__name__}: {message}")


def _broken_connection(exc: BaseException, message: str) -> GatewayError | None:
    """An upstream stream that stalled or broke, as LiteLLM's Router lets it through unwrapped (httpx's
    errors over its aiohttp transport): an upstream fault like any other, not an unexpected one."""
    import aiohttp
    import httpx

    if isinstance(exc, httpx.TimeoutException | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"the upstream stopped sending: {message}")
    if isinstance(exc, httpx.TransportError | aiohttp.ClientError):
        return UpstreamFailed(f"the connection to the upstream broke: {message}")
    return None


def _upstream_answer(exc: BaseException) -> tuple[str | None, str | None]:
    """The URL that answered with an error status and what its body said, from the httpx error
    LiteLLM wraps (its own exceptions carry a placeholder request)."""
    import httpx

    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            break
        if isinstance(current, httpx.HTTPStatusError):
            response = current.response
            try:
                said = upstream_message(response.status_code, response.content)
            except httpx.ResponseNotRead:
                said = None
            return str(current.request.url), said
        current = current.__cause__ or current.__context__
    return None, None


_LOCAL = (TypeError, AttributeError, KeyError, ValueError)


def _local_failure(exc: BaseException, wrapper: type[BaseException]) -> bool:
    """True when the failure happened in this process, before any byte went upstream: a local
    exception, or LiteLLM's connection error wrapping one."""
    if isinstance(exc, _LOCAL) and not isinstance(exc, UnicodeError):
        return True
    if not isinstance(exc, wrapper) or getattr(exc, "status_code", 500) not in (None, 500):
        return False
    seen = 0
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and seen < 6:
        if isinstance(current, _LOCAL) and not isinstance(current, UnicodeError):
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


# LiteLLM's internals in its messages: object reprs, aiohttp's ssl context, "Handle with litellm.X",
# its router's trailer, exception class names in front of the provider's words
_INTERNALS = (
    re.compile(r"\s*ssl:(?:<[^>]*>|\S+)"),
    re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>"),
    re.compile(r"\.?\s*Handle with `?litellm\.\w+`?\.?"),
    re.compile(r"\s*LiteLLM: model group .*", re.DOTALL),
    re.compile(r"\s*Received Model Group=.*", re.DOTALL),
    re.compile(r"^(?:(?:litellm\.)?[A-Z]\w*(?:Error|Exception)(?::| -) )+"),
)
_REFUSED = re.compile(r"\s*\[Connect call failed \([^)]*\)\]")


def _clean_message(exc: BaseException) -> str:
    message = str(getattr(exc, "message", None) or exc) or type(exc).__name__
    # never show a client the daemon's own traceback (file paths, code)
    message = message.split("\nTraceback", 1)[0].split("Traceback (most recent call last)", 1)[0]
    # LiteLLM prefixes messages with its own class path; the client wants the provider's words
    for prefix in ("litellm.", "LiteLLM."):
        if message.startswith(prefix) and ": " in message:
            message = message.split(": ", 1)[1]
    for internal in _INTERNALS:
        message = internal.sub("", message.strip())
    message = _REFUSED.sub(": the connection failed", message)
    return message.strip()[:2000] or type(exc).__name__


def deployment_target(entry: Any, requested: str) -> tuple[str, str | None, str | None]:
    """The concrete LiteLLM model, key and api_base `entry` uses for `requested` (wildcards filled in)."""
    params: Mapping[str, Any] = entry.litellm_params
    target = str(params.get("model", ""))
    pattern = entry.model_name
    if "*" in target and "*" in pattern:
        head = pattern.split("*", 1)[0]
        target = target.replace("*", requested[len(head) :] if requested.startswith(head) else requested, 1)
    provider = params.get("custom_llm_provider")
    if provider and not target.startswith(f"{provider}/"):
        target = f"{provider}/{target}"
    return target, params.get("api_key"), params.get("api_base")


# litellm_params that stand in for a variable LiteLLM's validate_environment looks for
_PARAM_FOR_VAR = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "VERTEXAI_PROJECT": "vertex_project",
    "VERTEXAI_LOCATION": "vertex_location",
}
# litellm_params that are a whole credential on their own (a profile, a role, a token)
_CREDENTIAL_PARAMS = ("aws_profile_name", "aws_role_name", "aws_web_identity_token", "vertex_credentials")


def provider_needs(params: Mapping[str, Any]) -> Needs:
    """A deployment's provider and the environment variables LiteLLM looks for to call it that are not
    set, as `validate_environment` knows them. It reads this process's environment, the one LiteLLM
    reads when it makes the call; nothing is resolved over the network (github_copilot and chatgpt,
    which sign in with a device flow when asked for their provider, are not asked)."""
    from daemon.gateway.credentials import Needs

    litellm = import_litellm()
    from litellm.litellm_core_utils.get_llm_provider_logic import (
        PROVIDERS_THAT_AUTHENTICATE_ON_PROVIDER_INFO,
        inferred_provider,
    )

    model = str(params.get("model", ""))
    declared = params.get("custom_llm_provider")
    if declared and not model.startswith(f"{declared}/"):
        model = f"{declared}/{model}"
    provider = inferred_provider(model)
    if provider is None or provider in PROVIDERS_THAT_AUTHENTICATE_ON_PROVIDER_INFO:
        return Needs(provider, None)
    checked = litellm.validate_environment(
        model=model, api_base=params.get("api_base"), api_version=params.get("api_version")
    )
    if any(params.get(name) for name in _CREDENTIAL_PARAMS):
        return Needs(provider, ())
    # LiteLLM names a pair (Vertex's project and location) when either is unset: keep the unset one
    missing = [var for var in checked["missing_keys"] if var not in os.environ]
    missing = [var for var in missing or checked["missing_keys"] if not params.get(_PARAM_FOR_VAR.get(var, ""))]
    return Needs(provider, tuple(missing))


_param_names: frozenset[str] | None = None


def litellm_param_names() -> frozenset[str]:
    """Keyword arguments LiteLLM itself understands (credentials, endpoints, callbacks, prices, ...):
    none of them is an API field a provider documents (`metadata` aside)."""
    global _param_names
    if _param_names is None:
        import_litellm()
        from litellm.types.utils import all_litellm_params

        _param_names = frozenset(all_litellm_params) - {"metadata"}
    return _param_names


def provider_finished(stream: Any) -> bool:
    """Whether the upstream itself ended the answer, rather than LiteLLM on its behalf.

    When a provider's stream stops without its final event (cut, truncated, or corrupted and then
    dropped), LiteLLM's CustomStreamWrapper still ends it with a chunk saying finish_reason="stop".
    It keeps every chunk it hands out in `chunks`, except that made-up one, so a real end is a
    finish_reason in that list. (The Router's wrapper shares the inner wrapper's list.)
    """
    chunks = getattr(stream, "chunks", None)
    if not isinstance(chunks, list):
        return True  # not a LiteLLM stream (a replayed answer): its finish_reason is its own
    return any(c.choices and c.choices[0].finish_reason for c in reversed(chunks))


def responses_provider_finished(stream: Any) -> bool:
    """`provider_finished` for a Responses stream LiteLLM built from a chat stream (Anthropic, ...).

    LiteLLM's bridge emits `response.completed` when its chat stream ends, however it ended. The
    Router's wrapper keeps the bridge it wraps as `_billing_source`; a native Responses stream has no
    chat stream inside, and its `response.completed` is the provider's own.
    """
    source = getattr(stream, "_billing_source", stream)
    chat_stream = getattr(source, "litellm_custom_stream_wrapper", None)
    return chat_stream is None or provider_finished(chat_stream)


def genai_chat_stream(stream: Any) -> Any | None:
    """The chat stream inside a `generateContent` stream LiteLLM translates from another provider
    (Anthropic, OpenAI, ...); None for a native Gemini stream.

    LiteLLM's adapter is an async generator over the chat stream, ending with `finishReason` however
    that stream ended; the Router wraps it as `inner`. Take it before reading the stream: a
    generator's frame (which holds it) is gone once the generator has finished.
    """
    inner = getattr(stream, "inner", stream)
    frame = getattr(inner, "ag_frame", None)
    adapter = frame.f_locals.get("self") if frame is not None else None
    return getattr(adapter, "completion_stream", None)
