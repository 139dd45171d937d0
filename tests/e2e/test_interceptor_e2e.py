"""Issue 3 end to end: project ports from the registry, hosted by the real daemon, used by the real SDKs.

`memproxy ports assign shop|blog` on a daemon started with `memproxy up`; the official OpenAI and
Anthropic SDKs pointed at each port as a tool wrapped by `memproxy intercept` would be; attribution read
back with `memproxy logs --json`. The module's last test stops and restarts the daemon.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.support.config import OPENAI_KEY
from tests.support.daemon import MEMPROXY, Daemon
from tests.support.ports import free_port, listening, wait_port
from tests.support.projects import anthropic_at, assign, openai_at, ports, start
from tests.support.upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e

PROJECTS = ("shop", "blog")
USER = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def gw(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    daemon = start(tmp_path_factory.mktemp("intercept-home"), upstream.url)
    try:
        yield daemon
    finally:
        daemon.down()


@pytest.fixture(scope="module")
def project_ports(gw: Daemon) -> dict[str, int]:
    return {name: assign(gw, name) for name in PROJECTS}


def test_assign_prints_the_port_and_a_recipe_and_listens_at_once(gw: Daemon, project_ports: dict[str, int]) -> None:
    shop, blog = project_ports["shop"], project_ports["blog"]
    assert shop != blog
    again = gw.cli("ports", "assign", "shop")  # idempotent: same port, recipe printed
    assert again.returncode == 0, again.stderr
    assert f"http://127.0.0.1:{shop}/v1" in again.stdout
    assert f"ANTHROPIC_BASE_URL=http://127.0.0.1:{shop}" in again.stdout
    listed = ports(gw)
    assert {n: (r["port"], r["listening"]) for n, r in listed.items()} == {"shop": (shop, True), "blog": (blog, True)}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_sdks_through_project_ports_are_attributed_and_never_mix(
    gw: Daemon, fake: FakeUpstream, project_ports: dict[str, int], stream: bool
) -> None:
    before = {r["id"] for r in gw.rows()}
    for project in PROJECTS:
        port = project_ports[project]
        fake.script(text(f"openai answer for {project}"), text(f"anthropic answer for {project}"))
        with openai_at(port) as oai:
            if stream:
                chunks: Any = oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)  # type: ignore[arg-type]
                got = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            else:
                reply = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
                got = reply.choices[0].message.content or ""
        assert got == f"openai answer for {project}"
        # the tool needs no key: the upstream got the gateway's
        assert fake.last("/v1/chat/completions").headers["authorization"] == f"Bearer {OPENAI_KEY}"
        with anthropic_at(port) as claude:
            if stream:
                with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=USER) as s:  # type: ignore[arg-type]
                    got = s.get_final_text()
            else:
                message = claude.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=USER)  # type: ignore[arg-type]
                got = "".join(b.text for b in message.content if b.type == "text")
        assert got == f"anthropic answer for {project}"

    rows = gw.wait_rows(lambda r: r["id"] not in before, count=4)
    assert len(rows) == 4, rows
    for row in rows:
        assert row["status"] == "ok" and row["stream"] is stream, row
        # the answer text says which project it was for: a row can only be attributed to that project
        assert row["response_text"].endswith(f"answer for {row['project']}"), row
    assert sorted((r["project"], r["endpoint"]) for r in rows) == [
        ("blog", "/v1/chat/completions"),
        ("blog", "/v1/messages"),
        ("shop", "/v1/chat/completions"),
        ("shop", "/v1/messages"),
    ]


def test_models_and_responses_through_a_project_port(
    gw: Daemon, fake: FakeUpstream, project_ports: dict[str, int]
) -> None:
    with openai_at(project_ports["shop"]) as oai:
        assert {"gpt-4o", "claude-sonnet-4-5"} <= {m.id for m in oai.models.list()}
        fake.script(text("responses through shop"))
        response = oai.responses.create(model="gpt-4o-mini", input="hi")
    assert response.output_text == "responses through shop"
    rows = gw.wait_rows(lambda r: r["endpoint"] == "/v1/responses")
    assert [(r["project"], r["status"]) for r in rows] == [("shop", "ok")]


def test_the_port_decides_the_project_whatever_the_client_says(
    gw: Daemon, fake: FakeUpstream, project_ports: dict[str, int]
) -> None:
    shop = f"http://127.0.0.1:{project_ports['shop']}"
    info = httpx.get(f"{shop}/memory-routing/info", headers={"x-memproxy-project": "blog"}, timeout=10).json()
    assert info["project"] == "shop" and info["memory_scope"] == "project:shop", info
    fake.script(text("spoofed?"))
    with openai.OpenAI(
        base_url=f"{shop}/v1", api_key="memproxy", default_headers={"x-memproxy-project": "blog"}, max_retries=0
    ) as oai:
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
    rows = gw.wait_rows(lambda r: r["response_text"] == "spoofed?")
    assert [r["project"] for r in rows] == ["shop"]


def _intercept(
    gw: Daemon, project: str, *cmd: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`memproxy intercept --project <project> -- <cmd>` run to its end."""
    argv = [str(MEMPROXY), "intercept", "--project", project, "--", *cmd]
    return subprocess.run(argv, env=env or gw.env, capture_output=True, text=True, timeout=60, cwd=gw.home)


def test_intercept_runs_the_command_with_the_spec_environment_and_its_exit_code(
    gw: Daemon, project_ports: dict[str, int]
) -> None:
    script = (
        "import os, sys\n"
        "for k in ('OPENAI_BASE_URL', 'OPENAI_API_BASE', 'ANTHROPIC_BASE_URL', 'MEMPROXY_PROJECT', 'MEMPROXY_URL',"
        " 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY'):\n"
        "    print(k + '=' + os.environ.get(k, '<unset>'))\n"
        "sys.exit(3)\n"
    )
    # a key the user set is kept
    result = _intercept(gw, "shop", sys.executable, "-c", script, env={**gw.env, "ANTHROPIC_API_KEY": "sk-ant-mine"})
    assert result.returncode == 3, result.stderr
    url = f"http://127.0.0.1:{project_ports['shop']}"
    tool = f"{url}/client/{Path(sys.executable).name.lower()}"  # `python -c`: the interpreter names the client
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert seen["OPENAI_BASE_URL"] == seen["OPENAI_API_BASE"] == f"{tool}/v1"
    assert seen["ANTHROPIC_BASE_URL"] == tool
    assert seen["MEMPROXY_URL"] == url
    assert seen["MEMPROXY_PROJECT"] == "shop"
    assert seen["OPENAI_API_KEY"] not in ("", "<unset>")  # a placeholder so the SDK starts
    assert seen["ANTHROPIC_API_KEY"] == "sk-ant-mine"


def test_intercept_assigns_a_port_to_a_new_project_and_the_command_can_use_it(gw: Daemon, fake: FakeUpstream) -> None:
    script = (
        "import openai\n"
        "c = openai.OpenAI(max_retries=0)\n"
        "print(c.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}])"
        ".choices[0].message.content)\n"
    )
    fake.script(text("wrapped tool answered"))
    result = _intercept(gw, "wrapped", sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    assert "wrapped tool answered" in result.stdout
    assert ports(gw)["wrapped"]["listening"] is True
    assert gw.project_rows("wrapped")[0]["status"] == "ok"


def test_a_wrapped_commands_rows_say_its_name_and_keep_its_user_agent(
    gw: Daemon, fake: FakeUpstream, tmp_path: Path
) -> None:
    script = tmp_path / "ask_model.py"
    script.write_text(
        "import anthropic, openai\n"
        "c = openai.OpenAI(max_retries=0)\n"
        "c.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'hi'}])\n"
        "anthropic.Anthropic(max_retries=0).messages.create(\n"
        "    model='claude-sonnet-4-5', max_tokens=5, messages=[{'role': 'user', 'content': 'hi'}])\n"
    )
    fake.script(text("one"), text("two"))
    result = _intercept(gw, "named", sys.executable, str(script))
    assert result.returncode == 0, result.stderr
    rows = gw.project_rows("named", count=2)
    assert sorted((r["endpoint"], r["client"]) for r in rows) == [
        ("/v1/chat/completions", "ask_model"),
        ("/v1/messages", "ask_model"),
    ]
    assert {r["user_agent"].split("/")[0] for r in rows} == {"OpenAI", "Anthropic"}
    found = gw.cli("logs", "--json", "--client", "ask_model")
    assert found.returncode == 0 and len(json.loads(found.stdout)) == 2, found.stderr
    by_client = json.loads(gw.cli("stats", "--by", "client", "--project", "named", "--json").stdout)
    assert [(r["key"], r["requests"]) for r in by_client["rows"]] == [("ask_model", 2)]


@pytest.mark.parametrize("argv", [("ports", "assign", "a/b"), ("intercept", "--project", "a/b", "--", "true")])
def test_a_project_name_with_a_slash_is_refused_clearly(gw: Daemon, argv: tuple[str, ...]) -> None:
    result = gw.cli(*argv)
    assert result.returncode == 1, result
    assert "a/b" in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert "a/b" not in ports(gw)


def test_release_stops_the_listener_at_once(gw: Daemon, project_ports: dict[str, int]) -> None:
    port = assign(gw, "temporary")
    assert listening(port)
    result = gw.cli("ports", "release", "temporary")
    assert result.returncode == 0, result.stderr
    assert not listening(port)  # no waiting: closed before `release` returned
    assert "temporary" not in ports(gw)
    assert all(listening(p) for p in project_ports.values())  # the others are untouched


def _standalone(gw: Daemon, project: str, port: int, gateway: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(MEMPROXY), "intercept", "--project", project, "--port", str(port), "--gateway", gateway],
        env=gw.env,
        cwd=gw.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not wait_port(port, timeout=20):
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"standalone interceptor did not listen on {port}:\n{out}\n{err}")
    return proc


def test_restart_keeps_every_port_and_a_standalone_interceptor_answers_502_while_the_gateway_is_down(
    gw: Daemon, fake: FakeUpstream, project_ports: dict[str, int], tmp_path: Path
) -> None:
    """Runs last in this module: it stops and restarts the module's daemon."""
    before = {n: r["port"] for n, r in ports(gw).items()}
    assert before["shop"] == project_ports["shop"] and before["blog"] == project_ports["blog"]
    edge_port = free_port()
    edge = _standalone(gw, "team-edge", edge_port, gw.url)
    try:
        fake.script(text("via the standalone interceptor"))
        with openai_at(edge_port) as oai:
            reply = oai.chat.completions.create(model="gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
        assert reply.choices[0].message.content == "via the standalone interceptor"
        assert gw.project_rows("team-edge")[0]["status"] == "ok"

        down = gw.down()
        assert down.returncode == 0, down.stderr
        assert not any(listening(p) for p in before.values())

        with openai_at(edge_port) as oai, pytest.raises(openai.APIStatusError) as oai_err:
            oai.chat.completions.create(model="gpt-4o-mini", messages=USER)  # type: ignore[arg-type]
        assert oai_err.value.status_code == 502
        body = oai_err.value.response.json()
        assert set(body) == {"error"} and body["error"]["message"], body
        with anthropic_at(edge_port) as claude, pytest.raises(anthropic.APIStatusError) as ant_err:
            claude.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=USER)  # type: ignore[arg-type]
        assert ant_err.value.status_code == 502
        body = ant_err.value.response.json()
        assert body["type"] == "error" and body["error"]["type"] and body["error"]["message"], body
        assert edge.poll() is None  # the interceptor itself is still up

        started = time.monotonic()
        up = gw.up()
        assert up.returncode == 0, up.stderr + gw.log_tail()
        after = ports(gw)
        assert {n: r["port"] for n, r in after.items()} == before
        assert all(r["listening"] for r in after.values()), after
        print(f"restart took {time.monotonic() - started:.1f}s")

        # the project ports and the standalone interceptor answer again
        fake.script(text("shop is back"), text("edge is back"))
        with openai_at(project_ports["shop"]) as oai:
            assert oai.chat.completions.create(model="gpt-4o-mini", messages=USER).choices[0].message.content == (  # type: ignore[arg-type]
                "shop is back"
            )
        with openai_at(edge_port) as oai:
            assert oai.chat.completions.create(model="gpt-4o-mini", messages=USER).choices[0].message.content == (  # type: ignore[arg-type]
                "edge is back"
            )
    finally:
        edge.terminate()
        try:
            edge.wait(timeout=10)
        except subprocess.TimeoutExpired:
            edge.kill()
            edge.wait()
