"""Project ports on a machine shared with other users (issue 16, item 13): by default any local user
can use a project port, and so the owner's provider keys. With `interceptor.auth: token` a port
serves only requests presenting the owner's port token (kept 0600 in the 0700 home) as their key;
the port takes the token off, so the gateway and the upstream never see it. `memproxy intercept`
hands it to the command. The other user is played by uid 65534 when the tests run as root (it cannot
read the token), and by a client without the token otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.config import OPENAI_KEY
from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import USER, assigned_port, config_text, figure
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e

NOBODY = 65534
# the other user runs the system's Python: the venv's may live where only its owner can read
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or "python3"
CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"
ORIGIN = "http://localhost:3000"
MASTER_KEY = "sk-memproxy-shared-machine"
OPENAI_BODY = {"model": "gpt-4o", "messages": USER, "max_tokens": 5}
ANTHROPIC_BODY = {"model": "claude-sonnet-4-5", "messages": USER, "max_tokens": 5}


@pytest.fixture(scope="module")
def shared(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, int]]:
    home = tmp_path_factory.mktemp("token-home")
    os.chmod(home.parent, 0o755)  # the other user may walk up to the home (and no further)
    # the token guards the ports; the master key (required beside it) the gateway port
    origins = f'general_settings:\n  allowed_origins: ["{ORIGIN}"]\n  master_key: {MASTER_KEY}\n'
    config = origins + config_text(upstream.url, extra="  auth: token\n")
    daemon = start_daemon(home, config)
    try:
        yield daemon, assigned_port(daemon, "shared")
    finally:
        daemon.down()


def _token(daemon: Daemon) -> str:
    return (daemon.home / "port-token").read_text().strip()


def _post(port: int, path: str, body: dict[str, object], headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{port}{path}", json=body, headers=headers, timeout=20)


def test_the_token_is_made_at_start_readable_by_its_owner_alone(shared: tuple[Daemon, int]) -> None:
    daemon, _port = shared
    path = daemon.home / "port-token"
    mode = stat.S_IMODE(path.stat().st_mode)
    figure("test_port_token_file", mode=oct(mode), home=oct(stat.S_IMODE(daemon.home.stat().st_mode)))
    assert mode == 0o600
    assert _token(daemon).startswith("mpt-") and len(_token(daemon)) > 40
    assert daemon.cli("ports", "token").stdout.strip() == _token(daemon)


@pytest.mark.regression(reason="BUG: on a shared machine any local user could use a project port and the owner's keys")
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer memproxy"}, {"x-api-key": "sk-guess"}, {"Authorization": f"Bearer {OPENAI_KEY}"}],
    ids=["no-key", "placeholder", "guess", "a-provider-key"],
)
def test_a_request_without_the_token_is_401_in_its_dialect(
    shared: tuple[Daemon, int], upstream: ObservingUpstream, headers: dict[str, str]
) -> None:
    _daemon, port = shared
    seen = len(upstream.requests)
    chat = _post(port, CHAT, OPENAI_BODY, headers)
    messages = _post(port, MESSAGES, ANTHROPIC_BODY, headers)
    figure("test_port_token_refused", key=next(iter(headers.values()), "none")[:12], chat=chat.status_code)
    assert (chat.status_code, messages.status_code) == (401, 401)
    assert chat.json()["error"]["type"] == "authentication_error"  # OpenAI's error shape
    assert messages.json()["type"] == "error" and messages.json()["error"]["type"] == "authentication_error"
    assert "port token" in chat.json()["error"]["message"]
    assert len(upstream.requests) == seen


@pytest.mark.skipif(os.geteuid() != 0, reason="playing another local user needs root")
def test_another_local_user_cannot_read_the_token_nor_use_the_port(
    shared: tuple[Daemon, int], upstream: ObservingUpstream
) -> None:
    daemon, port = shared
    seen = len(upstream.requests)
    script = f"""
import json, urllib.request, urllib.error
try:
    open({str(daemon.home / "port-token")!r}).read(); read = "read"
except OSError as exc:
    read = type(exc).__name__
request = urllib.request.Request("http://127.0.0.1:{port}{CHAT}", data=json.dumps({OPENAI_BODY!r}).encode(),
                                 headers={{"Content-Type": "application/json", "Authorization": "Bearer x"}})
try:
    status = urllib.request.urlopen(request, timeout=20).status
except urllib.error.HTTPError as exc:
    status = exc.code
print(json.dumps({{"read": read, "status": status}}))
"""
    other = subprocess.run(
        [SYSTEM_PYTHON, "-I", "-c", script], user=NOBODY, group=NOBODY, capture_output=True, text=True, timeout=60
    )
    assert other.returncode == 0, other.stderr
    result = json.loads(other.stdout)
    figure("test_port_token_other_user", **result)
    assert result == {"read": "PermissionError", "status": 401}
    assert len(upstream.requests) == seen


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_the_token_is_accepted_as_the_key_and_never_forwarded(
    shared: tuple[Daemon, int], upstream: ObservingUpstream, header: str
) -> None:
    daemon, port = shared
    token = _token(daemon)
    headers = {"Authorization": f"Bearer {token}"} if header == "bearer" else {"x-api-key": token}
    upstream.fresh()
    chat = _post(port, CHAT, OPENAI_BODY, headers)
    messages = _post(port, MESSAGES, ANTHROPIC_BODY, headers)
    assert (chat.status_code, messages.status_code) == (200, 200), chat.text + messages.text
    assert len(upstream.requests) == 2
    for seen in upstream.requests:
        assert token not in json.dumps(seen.headers) and token.encode() not in seen.raw
    assert upstream.requests[0].headers["authorization"] == f"Bearer {OPENAI_KEY}"  # the gateway's own key


def test_the_token_reaches_no_file_but_its_own(shared: tuple[Daemon, int]) -> None:
    daemon, port = shared
    token = _token(daemon)
    assert _post(port, CHAT, OPENAI_BODY, {"Authorization": f"Bearer {token}"}).status_code == 200
    daemon.project_rows("shared")
    leaks = [
        p.name
        for p in daemon.home.rglob("*")
        if p.is_file() and p.name != "port-token" and token.encode() in p.read_bytes()
    ]
    assert leaks == []


def test_intercept_hands_the_token_to_the_command(shared: tuple[Daemon, int]) -> None:
    daemon, _port = shared
    script = (
        "import os, httpx; r = httpx.post(os.environ['OPENAI_BASE_URL'] + '/chat/completions', "
        "headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY']}, "
        f"json={OPENAI_BODY!r}, timeout=20); print(r.status_code)"
    )
    env = {**daemon.env, "OPENAI_API_KEY": "sk-the-users-own"}  # the port would refuse it: replaced
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("memproxy")),
            "intercept",
            "--project",
            "shared",
            "--",
            sys.executable,
            "-c",
            script,
        ],
        env=env,
        cwd=daemon.home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    figure("test_port_token_intercept", rc=result.returncode, status=result.stdout.strip())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "200"


def test_a_browsers_preflight_needs_no_token_but_its_request_does(shared: tuple[Daemon, int]) -> None:
    daemon, port = shared
    asked = {"Origin": ORIGIN, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
    preflight = httpx.request("OPTIONS", f"http://127.0.0.1:{port}{CHAT}", headers=asked, timeout=10)
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == ORIGIN
    assert _post(port, CHAT, OPENAI_BODY, {"Origin": ORIGIN}).status_code == 401
    keyed = _post(port, CHAT, OPENAI_BODY, {"Origin": ORIGIN, "x-api-key": _token(daemon)})
    assert keyed.status_code == 200 and keyed.headers["access-control-allow-origin"] == ORIGIN


def test_the_gateway_port_needs_the_master_key_beside_the_token(shared: tuple[Daemon, int]) -> None:
    daemon, _port = shared
    refused = httpx.post(daemon.url + CHAT, json=OPENAI_BODY, timeout=10)
    assert refused.status_code == 401
