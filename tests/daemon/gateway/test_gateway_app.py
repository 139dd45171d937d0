"""The gateway app in this process: `create_app(settings)` under a real uvicorn server on a free port.

Faster than the end-to-end suite and able to look inside (the writer, the settings); the upstream is
still the fake *server*, reached through LiteLLM. Requests that never reach LiteLLM use
`httpx.ASGITransport`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from daemon.gateway.credentials import PLACEHOLDER_KEYS
from tests.support.app import Served, serve_gateway
from tests.support.config import OPENAI_KEY, USER_ID_MAPPING, gateway_config
from tests.support.upstream import FakeUpstream, error, text
from tests.support.upstream.observing import ObservingUpstream, held_mid_stream

MASTER = "mk-master-key-0123456789"
USER = [{"role": "user", "content": "hello gateway"}]


def _config(upstream_url: str, master_key: str | None = None) -> str:
    return gateway_config(upstream_url, master_key=master_key, max_body_bytes=16384, timeout=5, extra=USER_ID_MAPPING)


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(
        tmp_path_factory.mktemp("app-home"),
        _config(upstream.url),
    )


@pytest.fixture(scope="module")
def locked(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The same gateway with a master key."""
    yield from serve_gateway(
        tmp_path_factory.mktemp("locked-home"),
        _config(upstream.url, MASTER),
    )


def _post(url: str, path: str, body: Any, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=15)


# --- info routes -----------------------------------------------------------------------------------


def test_health_and_models(served: Served) -> None:
    health = httpx.get(f"{served.url}/health", timeout=5).json()
    assert health["status"] == "healthy" and "version" in health and health["uptime_s"] >= 0
    models = httpx.get(f"{served.url}/v1/models", timeout=5).json()
    assert models["object"] == "list"
    ids = [m["id"] for m in models["data"]]
    # concrete names a picker can offer: a wildcard lists the provider's models that match it
    assert "gpt-4o" in ids and "claude-sonnet-4-5" in ids
    assert not [i for i in ids if "*" in i or not i.startswith(("gpt-", "claude-"))]


async def test_requests_refused_before_litellm_work_over_asgi_transport(served: Served, fake: FakeUpstream) -> None:
    transport = httpx.ASGITransport(app=served.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8764") as client:
        r = await client.post("/v1/chat/completions", content=b"{oops")
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
        r = await client.post("/v1/messages", json={"model": "nope-1", "messages": USER, "max_tokens": 3})
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
        r = await client.post("/v1/messages/count_tokens", json={"model": "nope-1", "messages": USER})
        assert r.status_code == 404 and r.json()["type"] == "error"
        r = await client.get("/v1/models", headers={"host": "attacker.example"})
        assert r.status_code == 403
    assert not fake.requests


# --- the door --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/chat/completions", {"host": "evil.com"}),
        ("/v1/messages", {"host": "127.0.0.1.evil.com"}),
        ("/v1/chat/completions", {"origin": "https://evil.com"}),
        ("/v1/messages", {"origin": "null"}),
    ],
)
def test_foreign_host_or_origin_is_refused(
    served: Served, fake: FakeUpstream, path: str, headers: dict[str, str]
) -> None:
    r = _post(served.url, path, {"model": "gpt-4o", "messages": USER, "max_tokens": 3}, **headers)
    assert r.status_code == 403
    body = r.json()
    assert body["type"] == "error" if path == "/v1/messages" else body["error"]["type"] == "permission_error"
    assert not fake.requests


def test_master_key_is_required_but_not_for_health(locked: Served, fake: FakeUpstream) -> None:
    assert httpx.get(f"{locked.url}/health", timeout=5).status_code == 200
    assert httpx.get(f"{locked.url}/v1/models", timeout=5).status_code == 401
    r = _post(locked.url, "/v1/messages", {"model": "claude-x", "messages": USER, "max_tokens": 3})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert httpx.get(f"{locked.url}/v1/models", headers={"x-memproxy-key": MASTER}, timeout=5).status_code == 200
    assert not fake.requests


def test_master_key_never_goes_upstream(locked: Served, fake: FakeUpstream, project: str) -> None:
    body = {"model": "gpt-4o", "messages": USER}
    r = _post(
        locked.url, "/v1/chat/completions", body, authorization=f"Bearer {MASTER}", **{"x-memproxy-project": project}
    )
    assert r.status_code == 200, r.text
    assert fake.last().headers["authorization"] == f"Bearer {OPENAI_KEY}"
    # keyless model, only the master key presented: no key to pass on
    r = _post(locked.url, "/v1/chat/completions", {**body, "model": "byok-1"}, authorization=f"Bearer {MASTER}")
    assert r.status_code == 401
    r = _post(locked.url, "/v1/messages", {**body, "model": "byok-1", "max_tokens": 3}, **{"x-api-key": MASTER})
    assert r.status_code == 401
    # the master key in its own header, the client's provider key in Authorization
    r = _post(
        locked.url,
        "/v1/chat/completions",
        {**body, "model": "byok-1"},
        authorization="Bearer sk-client-777777",
        **{"x-memproxy-key": MASTER},
    )
    assert r.status_code == 200, r.text
    assert fake.last().headers["authorization"] == "Bearer sk-client-777777"
    assert all(MASTER not in json.dumps(rec.headers) for rec in fake.requests)


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDER_KEYS))
def test_placeholder_keys_are_never_passed_on(served: Served, fake: FakeUpstream, placeholder: str) -> None:
    r = _post(
        served.url, "/v1/chat/completions", {"model": "byok-1", "messages": USER}, authorization=f"Bearer {placeholder}"
    )
    assert r.status_code == 401
    r = _post(
        served.url, "/v1/messages", {"model": "byok-1", "messages": USER, "max_tokens": 3}, **{"x-api-key": placeholder}
    )
    assert r.status_code == 401
    assert not fake.requests


# --- identity --------------------------------------------------------------------------------------


def test_project_and_user_are_recorded(served: Served, fake: FakeUpstream, project: str) -> None:
    body = {"model": "gpt-4o", "messages": USER}
    assert _post(served.url, "/v1/chat/completions", body, **{"x-memproxy-project": project}).status_code == 200
    headers = {"x-memproxy-project": project, "user-agent": "pytest-agent/1.0"}
    assert _post(served.url, "/v1/chat/completions", body, **headers).status_code == 200
    headers["x-memory-user-id"] = "alice"
    assert _post(served.url, "/v1/chat/completions", body, **headers).status_code == 200
    rows = served.wait_final(project)
    assert [r["user_id"] for r in rows] == ["default", "tester", "alice"]
    assert (rows[1]["client"], rows[1]["user_agent"]) == ("pytest-agent", "pytest-agent/1.0")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_invalid_project_header_is_a_400(served: Served, fake: FakeUpstream, path: str) -> None:
    body = {"model": "gpt-4o", "messages": USER, "max_tokens": 3}
    r = _post(served.url, path, body, **{"x-memproxy-project": "../../etc"})
    assert r.status_code == 400
    assert "invalid project name" in r.text
    assert not fake.requests


# --- limits and secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_body_larger_than_the_limit_is_413(served: Served, fake: FakeUpstream, path: str) -> None:
    big = {"model": "gpt-4o", "max_tokens": 3, "messages": [{"role": "user", "content": "x" * 20000}]}
    r = _post(served.url, path, big)
    assert r.status_code == 413, r.text
    assert ("request_too_large" in r.text) and not fake.requests
    # without a Content-Length (chunked), the limit still holds
    chunks = iter([json.dumps(big).encode()])
    r = httpx.post(f"{served.url}{path}", content=chunks, headers={"content-type": "application/json"}, timeout=15)
    assert r.status_code == 413, r.text


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_upstream_error_text_in_the_databank_never_shows_the_configured_key(
    served: Served, fake: FakeUpstream, project: str, path: str
) -> None:
    fake.script(error(500, message=f"key {OPENAI_KEY} is broken"))
    r = _post(
        served.url, path, {"model": "gpt-4o", "messages": USER, "max_tokens": 3}, **{"x-memproxy-project": project}
    )
    assert r.status_code == 502
    rows = served.wait_final(project)
    assert rows and rows[0]["error"] and OPENAI_KEY not in json.dumps(rows)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_upstream_error_text_sent_to_the_client_never_shows_the_configured_key(
    served: Served, fake: FakeUpstream, path: str
) -> None:
    fake.script(error(500, message=f"key {OPENAI_KEY} is broken"))
    r = _post(served.url, path, {"model": "gpt-4o", "messages": USER, "max_tokens": 3})
    assert r.status_code == 502
    assert OPENAI_KEY not in r.text


# --- streams ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/messages", "claude-sonnet-4-5"),
        ("/v1/chat/completions", "claude-x"),
    ],
)
def test_streams_are_passed_on_as_they_arrive(
    served: Served, fake: ObservingUpstream, project: str, path: str, model: str
) -> None:
    # the upstream sends two words, then holds the rest until this test has seen them (at most 10 s): a
    # gateway that buffered would show them only after the hold, whatever the machine's load
    fake.script(held_mid_stream(2, 10, text("early words then a pause then more")))
    body = {"model": model, "messages": USER, "max_tokens": 30, "stream": True}
    t0 = time.monotonic()
    early_while_held: bool | None = None
    released_ms = 0.0
    data = b""
    with httpx.stream(
        "POST", f"{served.url}{path}", json=body, headers={"x-memproxy-project": project}, timeout=15
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for chunk in r.iter_raw():
            data += chunk
            if early_while_held is None and b"early" in data:
                early_while_held = fake.holding
                released_ms = (time.monotonic() - t0) * 1000
                fake.release.set()
    assert early_while_held is not None and b"more" in data
    assert early_while_held, "the first words arrived only after the upstream sent the rest: the stream was buffered"
    rows = served.wait_final(project)
    assert [(r["status"], r["stream"]) for r in rows] == [("ok", True)]  # one row, the in-flight one replaced
    assert rows[0]["ttft_ms"] <= released_ms  # the first token is noted when it passes, not at the end


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_client_disconnect_is_recorded_at_once(
    served: Served, fake: ObservingUpstream, project: str, path: str
) -> None:
    # the upstream holds the rest of its answer until the test ends (at most 30 s): the row is final
    # while it still holds, not when the upstream's answer is over
    fake.script(held_mid_stream(1, 30, text("one two three")))
    model = "gpt-4o" if path == "/v1/chat/completions" else "claude-sonnet-4-5"
    body = {"model": model, "messages": USER, "max_tokens": 30, "stream": True}
    try:
        with httpx.stream(
            "POST", f"{served.url}{path}", json=body, headers={"x-memproxy-project": project}, timeout=15
        ) as r:
            next(r.iter_raw())
        rows = served.wait_final(project, timeout=20)
        still_held = fake.holding
    finally:
        fake.release.set()
    assert [r["status"] for r in rows] == ["client_disconnected"], rows
    assert still_held, "the row was written only once the upstream's answer was over"


async def test_stream_bytes_lets_a_hang_up_cancel_it() -> None:
    from daemon.gateway import passthrough

    consumer: asyncio.Task[None] | None = None
    received: list[bytes] = []

    class Content:
        def __init__(self) -> None:
            self.calls = 0

        async def readany(self) -> bytes:
            self.calls += 1
            if self.calls == 1:
                return b"event: one\n\n"
            if self.calls == 2:
                # the client hangs up exactly as the next chunk arrives (the watcher cancels the pump)
                assert consumer is not None
                consumer.cancel()
                return b"event: two\n\n"
            await asyncio.sleep(30)  # a slow upstream: nobody should still be waiting here
            return b""

    class Upstream:
        content = Content()

        def close(self) -> None:
            pass

    async def pump() -> None:
        async for chunk in passthrough.stream_bytes(Upstream(), 60):  # type: ignore[arg-type]
            received.append(chunk)

    consumer = asyncio.ensure_future(pump())
    done, _ = await asyncio.wait({consumer}, timeout=2)
    if not done:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    assert done and consumer.cancelled(), f"still pumping after the hang-up; got {received}"
