"""`POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`: Google's Gemini API
(gemini-cli's), through the Router's Gemini-format interface (`agenerate_content`, `_stream`).

A `gemini/` deployment gets the body natively; any other provider gets it through LiteLLM's adapter
(translated to Chat Completions and back). Gemini names the model and whether to stream in the URL,
and the key in `x-goog-api-key` or `?key=`: the route puts the model and stream into the body the
pipeline handles, and the key where the gateway reads a client's key (`x-api-key`), out of the
query string, so a key in the URL is treated (and redacted) like any other and never reaches a row.

Streams are SSE whatever `alt` says (gemini-cli asks for `alt=sse`; Google's JSON-array framing
without it is not spoken here). Usage is read from `usageMetadata`: `promptTokenCount` includes
`cachedContentTokenCount`, and `thoughtsTokenCount` is output billed beside `candidatesTokenCount`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from daemon.cost import usage_from_gemini
from daemon.dialects import Dialect
from daemon.errors import InvalidRequest, UpstreamFailed
from daemon.gateway.endpoint import Endpoint, Plain, Tally
from daemon.gateway.exchange import Exchange
from daemon.gateway.llm import genai_chat_stream, provider_finished
from daemon.gateway.pipeline import generate
from daemon.gateway.sse import SseSplitter, data_event
from daemon.gateway.validation import check_types, refuse_redirect_fields, require_model

router = APIRouter()

GENERATE_PATH = "/v1beta/models/{model}:generateContent"
STREAM_PATH = "/v1beta/models/{model}:streamGenerateContent"
KEY_HEADER = "x-goog-api-key"

TYPES: dict[str, tuple[type, ...]] = {
    "systemInstruction": (dict, str),
    "system_instruction": (dict, str),
    "generationConfig": (dict,),
    "generation_config": (dict,),
    "tools": (list,),
    "toolConfig": (dict,),
    "tool_config": (dict,),
    "safetySettings": (list,),
    "safety_settings": (list,),
    "cachedContent": (str,),
    "cached_content": (str,),
}


def validate_gemini_request(body: Mapping[str, Any]) -> str:
    """Check a generateContent body (with the URL's model in it); return the requested model."""
    model = require_model(body)
    contents = body.get("contents")
    if contents is None:
        raise InvalidRequest("field 'contents' is required")
    if not isinstance(contents, list) or not contents:
        raise InvalidRequest("field 'contents' must be a non-empty array")
    for i, content in enumerate(contents):
        if not isinstance(content, dict):
            raise InvalidRequest(f"contents[{i}] must be an object")
        if not isinstance(content.get("parts"), list):
            raise InvalidRequest(f"contents[{i}].parts must be an array")
    check_types(body, TYPES)
    refuse_redirect_fields(body)
    return model


def with_key_from_gemini(request: Request) -> Request:
    """`request` with Gemini's key (`x-goog-api-key`, else `?key=`) as `x-api-key`, where the gateway
    reads a client's key, and `key` taken out of the query string."""
    query = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    in_query = [value for name, value in query if name == "key"]
    key = request.headers.get(KEY_HEADER) or next((v for v in in_query if v), None)
    if key is None and not in_query:
        return request
    headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != KEY_HEADER.encode()]
    if key is not None and "x-api-key" not in request.headers:
        headers.append((b"x-api-key", key.encode("latin-1")))
    kept = urlencode([(name, value) for name, value in query if name != "key"]).encode("latin-1")
    return Request({**request.scope, "headers": headers, "query_string": kept}, request.receive)


def _as_dict(response: Any) -> dict[str, Any]:
    """A native answer is LiteLLM's GenerateContentResponse (pydantic), a translated one a dict."""
    dump = getattr(response, "model_dump", None)
    data = dump(mode="json", exclude_none=True) if dump is not None else response
    if not isinstance(data, dict):
        raise UpstreamFailed("the upstream answered with something other than a generateContent response")
    # LiteLLM leaves its own bookkeeping (`_hidden_params`: deployment ids, headers) in the dict
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _candidate_text(chunk: Mapping[str, Any]) -> tuple[str, bool, bool]:
    """The answer text in a response (or stream chunk), whether it has any content, whether it finished."""
    texts, content, finished = [], False, False
    for candidate in chunk.get("candidates") or []:
        if not isinstance(candidate, dict):
            continue
        finished = finished or bool(candidate.get("finishReason"))
        for part in (candidate.get("content") or {}).get("parts") or []:
            if not isinstance(part, dict):
                continue
            if part.get("text") or part.get("functionCall"):
                content = True
            if isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
        break  # the first candidate is the answer
    return "".join(texts), content, finished


def _plain(response: Any) -> Plain:
    body = _as_dict(response)
    if isinstance(body.get("error"), dict):
        raise UpstreamFailed(str(body["error"].get("message") or "the upstream answered with an error"))
    text, _, _ = _candidate_text(body)
    return Plain(body, usage_from_gemini(body.get("usageMetadata")), text, body.get("modelVersion"))


def _as_bytes(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, str):
        return item.encode()
    return data_event(item)  # a chunk dict, as some LiteLLM paths yield


async def relay_gemini(stream: Any, ex: Exchange, tally: Tally, _client_wants_usage: bool) -> AsyncIterator[bytes]:
    """A generateContent stream (unnamed SSE events, one response chunk each), passed on as it comes;
    ended properly only once a candidate finished, and (translated) its provider's stream did."""
    chat_stream = genai_chat_stream(stream)
    splitter, finished = SseSplitter(), False
    async for item in stream:
        chunk = _as_bytes(item)
        for event in splitter.feed(chunk):
            if event.data is None:
                continue
            try:
                payload = json.loads(event.data)
            except ValueError:
                raise UpstreamFailed("the upstream sent a malformed stream event") from None
            if not isinstance(payload, dict):
                raise UpstreamFailed("the upstream sent a malformed stream event")
            if isinstance(payload.get("error"), dict):
                tally.reported = UpstreamFailed(str(payload["error"].get("message") or "the upstream stream failed"))
            text, content, done = _candidate_text(payload)
            if content:
                ex.first_token()
            tally.add_text(text)
            if payload.get("usageMetadata"):
                tally.usage = usage_from_gemini(payload["usageMetadata"])
            tally.model = payload.get("modelVersion") or tally.model
            finished = finished or done
        yield chunk
    if tally.reported is not None:
        return
    if not finished or (chat_stream is not None and not provider_finished(chat_stream)):
        raise UpstreamFailed("the upstream stream ended before the answer was complete")


def _router_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's body (+ credentials) as the Router's generate_content arguments."""
    kwargs = dict(kwargs)
    kwargs.pop("stream", None)
    config = kwargs.pop("generationConfig", None) or kwargs.pop("generation_config", None)
    if config is not None:
        kwargs["config"] = config
    return kwargs


async def _generate(router: Any, kwargs: dict[str, Any]) -> Any:
    return await router.agenerate_content(**_router_kwargs(kwargs))


async def _stream(router: Any, kwargs: dict[str, Any]) -> Any:
    return await router.agenerate_content_stream(stream=True, **_router_kwargs(kwargs))


def _endpoint(path: str, stream: bool) -> Endpoint:
    def framed(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "model": request.path_params.get("model"), "stream": stream}

    return Endpoint(
        dialect=Dialect.GEMINI,
        path=path,
        validate=validate_gemini_request,
        call=_stream if stream else _generate,
        relay=relay_gemini,
        plain=_plain,
        framed=framed,
    )


GENERATE = _endpoint(GENERATE_PATH, stream=False)
STREAM = _endpoint(STREAM_PATH, stream=True)


@router.post(GENERATE_PATH)
async def generate_content(request: Request) -> Response:
    return await generate(with_key_from_gemini(request), GENERATE)


@router.post(STREAM_PATH)
async def stream_generate_content(request: Request) -> Response:
    return await generate(with_key_from_gemini(request), STREAM)
