"""Credentials in `litellm_params.extra_headers` are secrets everywhere (issue 16, item 4), against the
real daemon: `config show` masks them, and an upstream error quoting them reaches neither the client
nor the databank in clear.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.databank import db_rows
from tests.support.hardening import USER, config_text, figure
from tests.support.upstream import error
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

TENANT = "tt-hardening-TENANT-5be1c0d2e9a4"
GATEWAY_TOKEN = "gwt-hardening-GATEWAY-93f0aa61c7d2"
HEADER_SECRETS = (TENANT, GATEWAY_TOKEN)


def _with_header_models(config: str, url: str) -> str:
    """`tenant-*` (OpenAI) and `tclaude-*` (Anthropic) deployments, each sending two credential headers."""
    headers = f"""      extra_headers:
        x-tenant-token: {TENANT}
        x-gateway-authorization: "Bearer {GATEWAY_TOKEN}"
"""
    entries = f"""  - model_name: "tenant-*"
    litellm_params:
      model: "openai/tenant-*"
      api_base: "{url}/v1"
      api_key: sk-tenant-plain-key-000
      use_chat_completions_api: false
{headers}  - model_name: "tclaude-*"
    litellm_params:
      model: "anthropic/tclaude-*"
      api_base: "{url}"
      api_key: sk-ant-tenant-plain-key-000
{headers}"""
    return config.replace("model_list:\n", "model_list:\n" + entries, 1)


@pytest.fixture(scope="module")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("extra-headers-home")
    d = start_daemon(home, _with_header_models(config_text(upstream.url, log_level="debug"), upstream.url))
    try:
        yield d
    finally:
        d.down()


def _leaks(blob: bytes) -> list[str]:
    return [s for s in HEADER_SECRETS if s.encode() in blob]


def test_config_show_masks_extra_header_values(daemon: Daemon) -> None:
    shown = daemon.cli("config", "show")
    assert shown.returncode == 0, shown.stderr
    assert "x-tenant-token" in shown.stdout
    assert _leaks(shown.stdout.encode()) == [], shown.stdout


CASES = [
    (path, model, stream)
    for path in ("/v1/chat/completions", "/v1/messages")
    for model in ("tenant-gpt-4o", "tclaude-sonnet-4-5")
    for stream in (False, True)
]


@pytest.mark.parametrize(("path", "model", "stream"), CASES)
def test_upstream_error_quoting_extra_headers_is_redacted_for_the_client_and_the_databank(
    daemon: Daemon, fake: ObservingUpstream, path: str, model: str, stream: bool
) -> None:
    fake.script(error(401, message=f"tenant {TENANT} with Bearer {GATEWAY_TOKEN} is not allowed"))
    project = f"xh-{len(fake.requests)}-{path.rsplit('/', 1)[-1]}-{model.split('-')[0]}-{int(stream)}"
    answer = httpx.post(
        f"{daemon.url}{path}",
        json={"model": model, "messages": USER, "max_tokens": 5, "stream": stream},
        headers={"x-memproxy-project": project},
        timeout=20,
    )
    assert answer.status_code in (400, 401), answer.text
    sent = fake.last().headers
    assert sent["x-tenant-token"] == TENANT, sent  # the header did reach the upstream
    assert answer.content and _leaks(answer.content) == [], answer.text
    (row,) = daemon.project_rows(project)
    assert row["status"] == "error", row
    stored = json.dumps(db_rows(daemon.home, "project = ?", (project,))).encode()
    assert _leaks(stored) == [], stored[:2000]
    figure(
        "test_upstream_error_quoting_extra_headers_is_redacted",
        case=f"{path}<-{model}:{'stream' if stream else 'plain'}",
        status=answer.status_code,
        leaks=len(_leaks(answer.content) + _leaks(stored)),
    )


def test_extra_header_values_never_reach_a_file_in_the_home(daemon: Daemon) -> None:
    """Run last in the module: a byte grep of every file memproxy wrote (the config aside)."""
    scanned, found = 0, []
    for path in sorted(Path(daemon.home).rglob("*")):
        if path.is_file() and path.name != "config.yaml":
            blob = path.read_bytes()
            scanned += len(blob)
            found += [f"{path.name}:{s}" for s in _leaks(blob)]
    figure("test_extra_header_values_never_reach_a_file_in_the_home", bytes_scanned=scanned, leaks=len(found))
    assert found == []
