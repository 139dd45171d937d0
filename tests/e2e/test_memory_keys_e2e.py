"""Issue 15, Done-when 3, end to end: a pasted key never reaches the memory store, any other request
or `memory list`.

The real daemon (`memproxy up`) with the project on a project port. A Claude request (Anthropic SDK)
pastes a configured key (by value: one that has no key shape), and every common key shape, into the
prompt, and the answer echoes them. Then the project's next requests go to OpenAI, in both its
dialects (Chat Completions and Responses, as Codex sends): memory is injected into them, no key is.
The file bytes of memory.db (and its WAL) hold no key, nor does `memory list` or `memory search`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.support.config import OPENAI_KEY, gateway_config, with_local_server
from tests.support.daemon import Daemon, start_daemon
from tests.support.projects import anthropic_at, assign, openai_at, wait_memory
from tests.support.upstream import FakeUpstream, LocalUpstream, text

pytestmark = pytest.mark.e2e

# a configured key with no key shape: only its value can find it
LOCAL_KEY = "plainvalue-9d41c0e7a2b3f58"
PASTED = {
    "configured": LOCAL_KEY,
    "configured-openai": OPENAI_KEY,
    "openai": "sk-proj-Q1w2E3r4T5y6U7i8O9p0AaSsDdFf",
    "anthropic": "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_0123456789abcdefghijABCDEFGHIJ0123",
    "slack": "xoxb-123456789012-abcdefABCDEF",
    "pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzq9Xv3\n-----END RSA PRIVATE KEY-----",
    "bearer": "Authorization: Bearer abcdefghijklmnopqrstuvwx0123",
}
# what of each must never be seen again: the secret part (a PEM's body, a bearer's token)
NEEDLES = {
    **PASTED,
    "pem": "MIIEowIBAAKCAQEAzq9Xv3",
    "bearer": "abcdefghijklmnopqrstuvwx0123",
}
FACT = "the release train of the shop leaves on Thursdays at noon"


@pytest.fixture(scope="module")
def daemon(
    upstream: FakeUpstream, local_upstream: LocalUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Daemon]:
    config = with_local_server(gateway_config(upstream.url), local_upstream.url, api_key=LOCAL_KEY)
    started = start_daemon(tmp_path_factory.mktemp("memory-keys"), config)
    try:
        yield started
    finally:
        started.down()


def _leaks(haystack: str) -> list[str]:
    return [name for name, needle in NEEDLES.items() if needle in haystack]


def test_a_key_pasted_into_claude_never_travels(daemon: Daemon, fake: FakeUpstream, project: str) -> None:
    port = assign(daemon, project)
    pasted = "\n".join(PASTED.values())
    fake.script(text(f"Noted: {FACT}. I will keep these safe:\n{pasted}"))
    reply = anthropic_at(port).messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        messages=[{"role": "user", "content": f"Remember: {FACT}. My credentials are:\n{pasted}"}],
    )
    assert reply.content
    found = wait_memory(daemon, project, lambda m: "Thursdays" in m["text"])
    assert any("Thursdays" in m["text"] and "[redacted]" in m["text"] for m in found), found

    fake.script(text("On Thursdays."), text("At noon."))
    openai_at(port).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "when does the shop release train leave?"}]
    )
    openai_at(port).responses.create(
        model="gpt-4o-mini", instructions="You are Codex.", input="which day does the shop release train leave?"
    )
    later = [r for r in fake.requests if r.path.endswith(("/chat/completions", "/responses"))]
    assert len(later) == 2, [r.path for r in fake.requests]
    for request in later:
        sent = json.dumps(request.body)
        assert "Thursdays" in sent, f"memory was not injected into {request.path}: the test means nothing"
        assert not _leaks(sent), (request.path, _leaks(sent))

    for suffix in ("", "-wal", "-shm"):
        path = daemon.home / f"memory.db{suffix}"
        if path.exists():
            raw = path.read_bytes().decode("latin-1")
            assert not _leaks(raw), (path.name, _leaks(raw))
    assert (daemon.home / "memory.db").exists()

    for args in (
        ("memory", "list", "--project", project),
        ("memory", "list", "--project", project, "--json"),
        ("memory", "search", "release train Thursdays", "--project", project, "--json"),
    ):
        shown = daemon.cli(*args)
        assert shown.returncode == 0, shown.stderr
        assert "Thursdays" in shown.stdout, (args, shown.stdout)
        assert not _leaks(shown.stdout + shown.stderr), (args, _leaks(shown.stdout))
