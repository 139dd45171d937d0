"""What a request may ask for: body fields that would redirect or re-key the upstream call, or send data
to a third party (CVE-2024-6587, and the LiteLLM keyword arguments of the same kind), are a 400 on
every route, at the top level, in extra_body and in metadata; nothing goes upstream or to the attacker."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.daemon import Daemon
from tests.support.hardening import USER
from tests.support.security import CHAT, KEYED, MESSAGES
from tests.support.upstream import FakeUpstream
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e


# --- fields that would redirect or re-key the upstream call (CVE-2024-6587) ---------------------------

REQUIRED_FIELDS = ["api_base", "base_url", "api_key", "extra_headers", "user_config", "callbacks"]
# LiteLLM keyword arguments that also redirect the call, re-key it, send data to a third party,
# read local files or weaken TLS; LiteLLM accepts them all from a request body.
LITELLM_FIELDS = [
    "headers",
    "api_version",
    "organization",
    "custom_llm_provider",
    "model_list",
    "success_callback",
    "failure_callback",
    "azure_ad_token",
    "aws_access_key_id",
    "vertex_credentials",
    "mock_response",
    "use_litellm_proxy",
    "ssl_verify",
    "langfuse_host",
    "langsmith_base_url",
    "posthog_api_url",
    "s3_endpoint_url",
    "anthropic_identity_token_file",
    "anthropic_keycloak_token_url",
    "input_cost_per_token",
]
# the deny-list's misses: LITELLM_FIELDS from use_litellm_proxy on
NOT_REFUSED_YET = set(LITELLM_FIELDS[LITELLM_FIELDS.index("use_litellm_proxy") :])
BUG_DENY_LIST = pytest.mark.regression(
    reason="BUG: daemon/validation.py FORBIDDEN_FIELDS/_PREFIXES is a deny-list; LiteLLM's own "
    "litellm.types.utils.all_litellm_params holds ~300 more kwargs (callback hosts, identity token files, "
    "ssl_verify, use_litellm_proxy, per-request prices) that pass through to acompletion",
    strict=True,
)


def _hostile_value(field: str, attacker_url: str) -> Any:
    if field in ("extra_headers", "headers"):
        return {"Authorization": "Bearer sk-attacker", "x-forwarded-host": "evil.com"}
    if field in ("callbacks", "success_callback", "failure_callback"):
        return ["langfuse", "webhook"]
    if field in ("user_config", "model_list"):
        return {"model_list": [{"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o"}}]}
    if field in ("ssl_verify", "use_litellm_proxy"):
        return field != "ssl_verify"  # ssl_verify: false, use_litellm_proxy: true
    if field == "input_cost_per_token":
        return 0
    if field.endswith("_file"):
        return "/etc/hostname"
    return f"{attacker_url}/v1"


def _field_cases() -> list[Any]:
    cases = []
    for field in REQUIRED_FIELDS + LITELLM_FIELDS:
        for where in ("top", "extra_body", "metadata"):
            marks = BUG_DENY_LIST if field in NOT_REFUSED_YET else ()
            cases.append(pytest.param(field, where, marks=marks, id=f"{where}.{field}"))
    return cases


@pytest.mark.parametrize(("field", "where"), _field_cases())
def test_redirect_fields_are_refused(
    daemon: Daemon, fake: ObservingUpstream, attacker: FakeUpstream, field: str, where: str
) -> None:
    attacker.reset()
    value = _hostile_value(field, attacker.url)
    statuses = []
    for path, model in ((CHAT, "gpt-4o"), (MESSAGES, "claude-sonnet-4-5"), (MESSAGES, "gpt-4o")):
        body: dict[str, Any] = {"model": model, "messages": USER, "max_tokens": 5}
        if where == "top":
            body[field] = value
        else:
            body[where] = {field: value}
        r = httpx.post(f"{daemon.url}{path}", json=body, headers=KEYED, timeout=20)
        statuses.append(r.status_code)
        assert r.status_code == 400, f"{path} {model} {where}.{field}: {r.status_code} {r.text[:300]}"
        assert field in r.json()["error"]["message"]
    assert fake.requests == [] and attacker.requests == []
