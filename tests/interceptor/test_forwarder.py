"""The edge forwarder over real sockets: headers in and out, status codes, SSE timing, failures."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
import pytest

from interceptor.forwarder import downstream_headers, make_forwarder, make_gateway_client, upstream_headers
from tests.support.ports import free_port
from tests.support.serving import serving
from tests.support.upstream import FakeUpstream, error, text
from tests.support.upstream.observing import ObservingUpstream, held_mid_stream

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@asynccontextmanager
async def forwarding(gateway_url: str, master_key: str | None = None) -> AsyncIterator[tuple[int, httpx.AsyncClient]]:
    """shop's forwarder to `gateway_url` on a real port, and a client for the tool: (port, client)."""
    async with (
        make_gateway_client() as gw,
        serving(make_forwarder("shop", gateway_url, gw, master_key)) as port,
        httpx.AsyncClient() as tool,
    ):
        yield port, tool


async def test_upstream_headers_pure() -> None:
    raw = [
        (b"host", b"127.0.0.1:8800"),
        (b"connection", b"keep-alive, x-secret-hop"),
        (b"x-secret-hop", b"1"),
        (b"keep-alive", b"timeout=5"),
        (b"te", b"trailers"),
        (b"proxy-authorization", b"Basic abc"),
        (b"authorization", b"Bearer sk-tool"),
        (b"x-api-key", b"sk-ant-tool"),
        (b"x-memproxy-project", b"someone-else"),
        (b"x-memproxy-key", b"tool-supplied"),
        (b"content-length", b"12"),
    ]
    out = upstream_headers(raw, "shop", "mk")
    assert out == [
        (b"authorization", b"Bearer sk-tool"),
        (b"x-api-key", b"sk-ant-tool"),
        (b"content-length", b"12"),
        (b"x-memproxy-project", b"shop"),
        (b"x-memproxy-key", b"mk"),
    ]
    # without a master key the tool's own x-memproxy-key passes (it may talk to a keyed gateway)
    assert (b"x-memproxy-key", b"tool-supplied") in upstream_headers(raw, "shop", None)
    assert downstream_headers([(b"transfer-encoding", b"chunked"), (b"x-request-id", b"r1")]) == [
        (b"x-request-id", b"r1")
    ]


async def test_headers_arrive_and_hop_by_hop_do_not(upstream: FakeUpstream) -> None:
    async with forwarding(upstream.url, "mk-secret") as (port, tool):
        r = await tool.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json=CHAT,
            headers={
                "authorization": "Bearer sk-tool",
                "x-memproxy-project": "not-shop",
                "connection": "keep-alive, x-hop",
                "x-hop": "1",
                "proxy-authorization": "Basic x",
                "te": "trailers",
                "user-agent": "claude-cli/1.0",
            },
        )
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"]
    assert "x-request-id" in r.headers
    seen = upstream.last("/v1/chat/completions")
    assert seen.headers["x-memproxy-project"] == "shop"
    assert seen.headers["x-memproxy-key"] == "mk-secret"
    assert seen.headers["authorization"] == "Bearer sk-tool"
    assert seen.headers["user-agent"] == "claude-cli/1.0"
    assert seen.headers["host"] == upstream.url.removeprefix("http://")
    for hop in ("x-hop", "proxy-authorization", "te"):
        assert hop not in seen.headers
    assert seen.body == CHAT


async def test_any_path_method_and_query_pass(upstream: FakeUpstream) -> None:
    async with forwarding(upstream.url) as (port, tool):
        models = await tool.get(f"http://127.0.0.1:{port}/v1/models?limit=5")
        missing = await tool.delete(f"http://127.0.0.1:{port}/v1/nope")
    assert models.status_code == 200 and models.json()["data"]
    assert upstream.last("/v1/models").query == "limit=5"
    assert "x-memproxy-key" not in upstream.last("/v1/models").headers
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (DELETE /v1/nope)"


async def test_a_client_named_in_the_base_url_reaches_the_gateway_as_a_header(upstream: FakeUpstream) -> None:
    async with forwarding(upstream.url) as (port, tool):
        named = await tool.post(
            f"http://127.0.0.1:{port}/client/aider/v1/chat/completions?x=1",
            json=CHAT,
            headers={"x-memproxy-client": "spoofed", "user-agent": "OpenAI/Python 2.20.0"},
        )
        seen_named = upstream.last("/v1/chat/completions")
        anthropic = await tool.post(f"http://127.0.0.1:{port}/client/claude/v1/messages", json=MESSAGES)
        seen_anthropic = upstream.last("/v1/messages")
        own = await tool.post(
            f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, headers={"x-memproxy-client": "my-ide"}
        )
        seen_own = upstream.last("/v1/chat/completions")
    assert named.status_code == anthropic.status_code == own.status_code == 200
    # the path the gateway sees is the API's; the name is a header, and the base URL's name wins
    assert (seen_named.query, seen_named.headers["x-memproxy-client"]) == ("x=1", "aider")
    assert seen_named.headers["user-agent"] == "OpenAI/Python 2.20.0"
    assert seen_anthropic.headers["x-memproxy-client"] == "claude"
    assert seen_own.headers["x-memproxy-client"] == "my-ide"  # a tool may name itself


async def test_error_status_and_body_kept(upstream: FakeUpstream) -> None:
    upstream.script(error(429, "slow down"))
    async with forwarding(upstream.url) as (port, tool):
        r = await tool.post(f"http://127.0.0.1:{port}/v1/messages", json=MESSAGES)
    assert r.status_code == 429
    assert r.json()["error"]["message"] == "slow down"


async def test_sse_streams_chunk_by_chunk() -> None:
    # the upstream sends its first word, then holds the rest until the tool has seen it (at most 10 s):
    # a forwarder that buffered would pass nothing on before the hold ended, however loaded the machine
    with ObservingUpstream(chunks=5) as upstream:
        upstream.script(held_mid_stream(1, 10, text("one two three four five")))
        async with forwarding(upstream.url) as (port, tool):
            seen_while_held: list[bool] = []
            body = b""
            async with tool.stream(
                "POST", f"http://127.0.0.1:{port}/v1/chat/completions", json={**CHAT, "stream": True}
            ) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                async for chunk in r.aiter_raw():
                    seen_while_held.append(upstream.holding)
                    body += chunk
                    if b"one" in body:
                        upstream.release.set()
    assert seen_while_held[0], "the first chunk came only once the upstream had sent the rest: buffered"
    assert len(seen_while_held) >= 2 and b"five" in body
    assert body.rstrip().endswith(b"data: [DONE]")


async def test_request_body_streams_up(upstream: FakeUpstream) -> None:
    async def body() -> AsyncIterator[bytes]:
        text = json.dumps(CHAT).encode()
        for i in range(0, len(text), 7):
            yield text[i : i + 7]
            await asyncio.sleep(0.005)

    async with forwarding(upstream.url) as (port, tool):
        r = await tool.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            content=body(),
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 200
    assert upstream.last("/v1/chat/completions").body == CHAT


@pytest.mark.parametrize(
    ("path", "payload", "shape"),
    [
        ("/v1/chat/completions", CHAT, "openai"),
        ("/v1/messages", MESSAGES, "anthropic"),
        ("/v1/models", None, "openai"),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", GEMINI, "gemini"),
        ("/client/gemini/v1beta/models/gemini-2.5-flash:generateContent", GEMINI, "gemini"),
    ],
)
async def test_gateway_down_is_502_in_the_dialect(path: str, payload: object, shape: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with forwarding(dead) as (port, tool):
        r = await tool.request("POST" if payload else "GET", f"http://127.0.0.1:{port}{path}", json=payload)
    assert r.status_code == 502
    data = r.json()
    if shape == "anthropic":
        assert data["type"] == "error"
        message = data["error"]["message"]
    elif shape == "gemini":  # Google's error object
        assert (data["error"]["code"], data["error"]["status"]) == (502, "UNAVAILABLE")
        message = data["error"]["message"]
    else:
        assert data["error"]["type"] == "api_error"
        message = data["error"]["message"]
    assert f"the memproxy gateway at {dead} is not reachable" in message
    assert "memproxy up" in message


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:8800", "10.0.0.5"])
async def test_foreign_host_is_403(upstream: FakeUpstream, host: str) -> None:
    async with forwarding(upstream.url) as (port, tool):
        r = await tool.post(f"http://127.0.0.1:{port}/v1/messages", json=MESSAGES, headers={"host": host})
        ok = await tool.get(f"http://localhost:{port}/v1/models")
    assert r.status_code == 403
    assert r.json()["error"]["type"] == "permission_error"
    assert ok.status_code == 200
    assert [rec.path for rec in upstream.requests] == ["/v1/models"]


async def test_client_hang_up_closes_the_upstream_stream() -> None:
    hung_up = asyncio.Event()

    async def slow_sse(scope, receive, send):  # type: ignore[no-untyped-def]
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            hung_up.set()

        watcher = asyncio.ensure_future(watch())
        for i in range(200):
            await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True})
            await asyncio.sleep(0.05)
        watcher.cancel()

    async with serving(slow_sse) as gateway_port, make_gateway_client() as gw:
        forwarder = make_forwarder("shop", f"http://127.0.0.1:{gateway_port}", gw, None)
        async with serving(forwarder) as port:
            async with httpx.AsyncClient() as tool, tool.stream("GET", f"http://127.0.0.1:{port}/stream") as r:
                async for chunk in r.aiter_raw():
                    assert chunk.startswith(b"data: 0")
                    break
            await asyncio.wait_for(hung_up.wait(), timeout=3)


async def test_gateway_client_sets_tcp_nodelay(upstream: FakeUpstream) -> None:
    upstream.chunk_interval_ms = 100  # the stream stays open (and its connection taken) while we look
    async with make_gateway_client() as gw:
        async with gw.post(f"{upstream.url}/v1/chat/completions", json={**CHAT, "stream": True}) as r:
            assert r.connection is not None and r.connection.transport is not None
            sock = r.connection.transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        # no cookies kept between tools, no proxies from the environment, bytes passed still encoded
        assert gw.trust_env is False
        assert isinstance(gw.cookie_jar, aiohttp.DummyCookieJar)
        assert gw.auto_decompress is False
