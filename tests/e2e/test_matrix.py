"""The compatibility matrix: every real client × every kind of deployment, through a project port.

Each cell runs the client as a user does (`memproxy intercept --project P -- <tool>`) against one
model and checks what the user sees: the tool printed the answer, and `memproxy logs --json` has the
request under P, with the client's name and the model it asked for. docs/recipes.md carries the
table; a cell there is a test here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clients import CLIENTS
from tests.support.config import gateway_config
from tests.support.daemon import Daemon, start_daemon
from tests.support.upstream import FakeUpstream, text
from tests.support.upstream.local import LocalUpstream

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANSWER = "Matrix answer from the fake provider"
# deployment kind -> the model a client asks for
MODELS = {
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o",
    "chat-only": "vllm-llama-3.1-8b",
    "keyless": "local-qwen",
}
LOCAL_MODELS = """  - model_name: vllm-llama-3.1-8b
    litellm_params: {{model: openai/meta-llama/Llama-3.1-8B, api_base: "{url}/v1", api_key: sk-local-vllm-0451}}
  - model_name: local-qwen
    litellm_params: {{model: openai/qwen2.5-coder, api_base: "{url}/v1"}}
"""


@pytest.fixture(scope="module")
def gw(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    config = gateway_config(upstream.url, timeout=30).replace(
        "model_list:\n", "model_list:\n" + LOCAL_MODELS.format(url=local_upstream.url), 1
    )
    daemon = start_daemon(tmp_path_factory.mktemp("matrix-home"), config)
    try:
        yield daemon
    finally:
        daemon.down()


@pytest.mark.parametrize("kind", list(MODELS))
@pytest.mark.parametrize("client_id", list(CLIENTS))
def test_cell(
    gw: Daemon, upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path: Path, client_id: str, kind: str
) -> None:
    client, model = CLIENTS[client_id], MODELS[kind]
    upstream.default = local_upstream.default = text(ANSWER)
    project = f"matrix-{client_id}"  # one project (one port) per client; its cells apart by model
    result = client.run(gw, project, model, tmp_path)
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}\n{gw.log_tail()}"
    assert ANSWER in result.stdout, f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    asked = gw.wait_rows(lambda r: r["project"] == project and r["model"] == model)
    assert asked, gw.rows()
    assert {r["endpoint"] for r in asked} >= {client.endpoint_for(model)}, asked
    assert all(r["status"] == "ok" and r["client"] == client.name for r in asked), asked
