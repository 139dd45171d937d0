"""What the gateway end-to-end modules (tests/e2e/gateway/) share: the question they ask, the client's
own key, the price a row should carry, and checks of a row and of an error in the route's dialect."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
from openai.types.chat import ChatCompletionMessageParam

from tests.support.daemon import Daemon

CLIENT_KEY = "sk-client-own-key-123"
QUESTION = "What is the weather in Paris today?"
USER = [{"role": "user", "content": QUESTION}]  # as the gateway and the upstream see it
OPENAI_USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
CLAUDE_USER: list[anthropic.types.MessageParam] = [{"role": "user", "content": QUESTION}]


def price(model_cost: dict[str, Any], model: str, inp: int, out: int, read: int = 0, write: int = 0) -> float:
    """What the request should cost, straight from LiteLLM's local price map."""
    p = model_cost[model]
    return (
        inp * p["input_cost_per_token"]
        + out * p["output_cost_per_token"]
        + read * p.get("cache_read_input_token_cost", p["input_cost_per_token"])
        + write * p.get("cache_creation_input_token_cost", p["input_cost_per_token"])
    )


def one_row(gateway: Daemon, project: str) -> dict[str, Any]:
    rows = gateway.project_rows(project)
    assert len(rows) == 1, rows
    return rows[0]


def assert_ok_row(row: dict[str, Any], endpoint: str, model: str, stream: bool, inp: int, out: int) -> None:
    assert row["status"] == "ok", row
    assert row["http_status"] == 200
    assert row["endpoint"] == endpoint
    assert row["model"] == model
    assert row["stream"] is stream
    assert (row["input_tokens"], row["output_tokens"]) == (inp, out)
    assert row["latency_ms"] > 0
    if stream:
        assert row["ttft_ms"] is not None
        assert 0 < row["ttft_ms"] <= row["latency_ms"]


def post(gateway: Daemon, path: str, project: str, **kwargs: Any) -> httpx.Response:
    """A JSON POST to `path` on `gateway` for `project` (content= or json= in kwargs)."""
    headers = {"x-memproxy-project": project, "content-type": "application/json", **kwargs.pop("headers", {})}
    return httpx.post(f"{gateway.url}{path}", headers=headers, timeout=15, **kwargs)


def assert_dialect_error(r: httpx.Response, path: str, status: int) -> str:
    """`r` is a `status` error in the dialect of `path`; its message."""
    assert r.status_code == status, r.text
    body = r.json()
    if path.startswith("/v1/messages"):
        assert body["type"] == "error" and set(body["error"]) >= {"type", "message"}, body
        return str(body["error"]["message"])
    assert set(body["error"]) >= {"message", "type", "code"}, body
    return str(body["error"]["message"])
