"""Issue 4 end to end: project memory retrieved, injected and captured by the real daemon.

Four daemons (started at once) differ only in `context_retrieval`; each test looks at the request the
fake upstream received, and at `memproxy memory list --json` / `memproxy logs --json`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest

from tests.support.daemon import Daemon
from tests.support.polling import wait_for
from tests.support.projects import anthropic_at, assign, memories, openai_at, remember, start_many, wait_memory
from tests.support.upstream import FakeUpstream, text

pytestmark = pytest.mark.e2e

GPT, SONNET, HAIKU = "gpt-4o-mini", "claude-sonnet-4-5", "claude-haiku-4-5"
CONFIGS = {
    "default": "",  # last_user, user_suffix, capture on
    # capture off below, so the seeded memories are all a request can find
    "first_user": (
        "context_retrieval:\n  query_strategy: first_user\n  injection_strategy: user_prefix\n  capture: false\n"
        '  enabled_for_models: ["gpt-*", "claude-sonnet-*"]\n'
    ),
    "all_user": "context_retrieval:\n  query_strategy: all_user\n  injection_strategy: user_suffix\n  capture: false\n",
    "last_assistant": (
        "context_retrieval:\n  query_strategy: last_assistant\n  injection_strategy: system\n  capture: false\n"
    ),
}
SEEDED = "seeded"  # the project holding DB, DEPLOY and LOGO on every daemon but "default"

DB, DEPLOY, LOGO = (
    "The shop database is PostgreSQL 16",
    "Deploys happen on Fridays after lunch",
    "The logo colour is teal",
)
MARKERS = {"db": "PostgreSQL", "deploy": "Fridays", "logo": "teal"}
FIRST_USER = "Tell me about the database setup"
ASSISTANT = "Deploys are handled by the CI pipeline"
LAST_USER = "And what about the logo?"


@pytest.fixture(scope="module")
def daemons(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Daemon]]:
    specs = {name: (tmp_path_factory.mktemp(f"memory-{name}"), upstream.url, extra) for name, extra in CONFIGS.items()}
    started = start_many(specs)
    try:
        with ThreadPoolExecutor(8) as pool:  # seed, and warm each daemon's first call per dialect, at once
            jobs = [pool.submit(remember, d, SEEDED, DB, DEPLOY, LOGO) for n, d in started.items() if n != "default"]
            jobs += [pool.submit(warm, d, dialect) for d in started.values() for dialect in ("openai", "anthropic")]
            for job in jobs:
                job.result()
        yield started
    finally:
        for daemon in started.values():
            daemon.down()


def warm(daemon: Daemon, dialect: str) -> None:
    with client_for(dialect, daemon, "warm-up") as client:
        ask(client, [{"role": "user", "content": "hi"}])


# --- sending and looking ---------------------------------------------------------------------------


def oai_client(daemon: Daemon, project: str) -> openai.OpenAI:
    headers = {"x-memproxy-project": project}
    return openai.OpenAI(base_url=f"{daemon.url}/v1", api_key="x", default_headers=headers, max_retries=0, timeout=30)


def ant_client(daemon: Daemon, project: str) -> anthropic.Anthropic:
    headers = {"x-memproxy-project": project}
    return anthropic.Anthropic(base_url=daemon.url, api_key="x", default_headers=headers, max_retries=0, timeout=30)


def ask(
    client: openai.OpenAI | anthropic.Anthropic,
    messages: list[dict[str, Any]],
    *,
    model: str | None = None,
    system: str | None = None,
    stream: bool = False,
) -> str:
    """One request with an SDK; the answer's text."""
    if isinstance(client, openai.OpenAI):
        msgs = ([{"role": "system", "content": system}] if system else []) + messages
        if stream:
            chunks = client.chat.completions.create(model=model or GPT, messages=msgs, stream=True)  # type: ignore[call-overload]
            return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reply = client.chat.completions.create(model=model or GPT, messages=msgs)  # type: ignore[call-overload]
        return reply.choices[0].message.content or ""
    kwargs: dict[str, Any] = {"model": model or SONNET, "max_tokens": 100, "messages": messages}
    if system:
        kwargs["system"] = system
    if stream:
        with client.messages.stream(**kwargs) as s:
            return s.get_final_text()
    message = client.messages.create(**kwargs)
    return "".join(b.text for b in message.content if b.type == "text")


SENTINEL = "sentinel question: is the capture queue empty"


def captured_so_far(gw: Daemon, fake: FakeUpstream, project: str) -> list[dict[str, Any]]:
    """The project's memories (the sentinel's left out) once every exchange asked before this call is
    captured: capture is one queue, handled in order, so once one more exchange asked now is a memory,
    those before it are done (a sleep only guessed how long that takes)."""
    fake.script(text("Noted."))
    with oai_client(gw, project) as oai:
        ask(oai, [{"role": "user", "content": SENTINEL}])
    stored = wait_memory(gw, project, lambda m: SENTINEL in m["text"], timeout=30)
    assert any(SENTINEL in m["text"] for m in stored), stored
    return [m for m in stored if SENTINEL not in m["text"]]


def upstream_body(fake: FakeUpstream, client: openai.OpenAI | anthropic.Anthropic) -> dict[str, Any]:
    path = "/v1/chat/completions" if isinstance(client, openai.OpenAI) else "/v1/messages"
    body: dict[str, Any] = fake.last(path).body
    return body


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def system_text(body: dict[str, Any]) -> str:
    """The system prompt the upstream got, in either dialect."""
    if "system" in body:
        return content_text(body["system"])
    return "\n".join(content_text(m["content"]) for m in body["messages"] if m["role"] in ("system", "developer"))


def user_turns(body: dict[str, Any]) -> list[Any]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def seen_markers(body: dict[str, Any]) -> set[str]:
    dumped = json.dumps(body)
    return {name for name, marker in MARKERS.items() if marker in dumped}


def conversation(dialect: str) -> list[dict[str, Any]]:
    """Two user turns and an assistant turn between; Anthropic user turns as content blocks."""

    def user(s: str) -> Any:
        return s if dialect == "openai" else [{"type": "text", "text": s}]

    return [
        {"role": "user", "content": user(FIRST_USER)},
        {"role": "assistant", "content": ASSISTANT},
        {"role": "user", "content": user(LAST_USER)},
    ]


def client_for(dialect: str, daemon: Daemon, project: str) -> openai.OpenAI | anthropic.Anthropic:
    return oai_client(daemon, project) if dialect == "openai" else ant_client(daemon, project)


# --- the story: what was said on shop is known on shop, never on blog ------------------------------


def test_what_shop_was_told_reaches_a_new_shop_conversation_and_never_blog(
    daemons: dict[str, Daemon], fake: FakeUpstream
) -> None:
    gw = daemons["default"]
    shop, blog = assign(gw, "shop"), assign(gw, "blog")

    # morning: a Claude-Code-like Anthropic client on shop
    fake.script(text("Nice to meet you, Alice."))
    with anthropic_at(shop) as claude:
        ask(claude, [{"role": "user", "content": "my name is Alice and I deploy on Fridays"}])
    stored = wait_memory(gw, "shop", lambda m: "I deploy on Fridays" in m["text"])
    assert any("I deploy on Fridays" in m["text"] for m in stored), stored
    assert memories(gw, "blog") == []

    before = {r["id"] for r in gw.rows()}
    question = [{"role": "user", "content": "when do I deploy?"}]
    # afternoon: a new conversation on shop, from either kind of tool
    for make in (openai_at, anthropic_at):
        with make(shop) as client:
            fake.script(text("On Fridays."))
            assert ask(client, question) == "On Fridays."
            body = upstream_body(fake, client)
        # after the question, in its own turn (the default, user_suffix): the cached prefix stays as it was
        assert "I deploy on Fridays" not in system_text(body), body
        sent = content_text(user_turns(body)[-1])
        assert sent.startswith("when do I deploy?") and "I deploy on Fridays" in sent, body
    # the same question on blog: nothing of shop's
    for make in (openai_at, anthropic_at):
        with make(blog) as client:
            fake.script(text("I don't know."))
            ask(client, question)
            body = upstream_body(fake, client)
        assert "Fridays" not in json.dumps(body) and "Alice" not in json.dumps(body), body

    rows = gw.wait_rows(lambda r: r["id"] not in before, count=4)
    hits = {(r["project"], r["endpoint"]): r["memory_hits"] for r in rows}
    assert hits[("shop", "/v1/chat/completions")] >= 1 and hits[("shop", "/v1/messages")] >= 1, rows
    assert hits[("blog", "/v1/chat/completions")] == 0, rows  # blog's own first exchange is all it may recall
    assert not any("Fridays" in m["text"] or "Alice" in m["text"] for m in memories(gw, "blog"))


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_a_streamed_answer_is_captured_once_complete(
    daemons: dict[str, Daemon], fake: FakeUpstream, project: str, dialect: str
) -> None:
    gw = daemons["default"]
    answer = "The staging server is called zeppelin and it restarts nightly"
    fake.script(text(answer))
    with client_for(dialect, gw, project) as client:
        got = ask(client, [{"role": "user", "content": "what is the staging server called?"}], stream=True)
    assert got == answer
    stored = wait_memory(gw, project, lambda m: "zeppelin" in m["text"])
    captured = [m["text"] for m in stored if "zeppelin" in m["text"]]
    assert len(captured) == 1, stored
    assert "what is the staging server called?" in captured[0] and answer in captured[0]  # whole, not a prefix
    assert len(captured_so_far(gw, fake, project)) == 1  # nothing more arrives for the same exchange


# --- query strategies: which memory the search finds ------------------------------------------------


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("default", {"logo"}),  # last_user: "And what about the logo?"
        ("first_user", {"db"}),  # "Tell me about the database setup"
        ("all_user", {"db", "logo"}),  # both user turns, not the assistant's
        ("last_assistant", {"deploy"}),  # "Deploys are handled by the CI pipeline"
    ],
    ids=["last_user", "first_user", "all_user", "last_assistant"],
)
def test_query_strategy_decides_which_memories_reach_the_upstream(
    daemons: dict[str, Daemon], fake: FakeUpstream, project: str, strategy: str, expected: set[str], dialect: str
) -> None:
    gw = daemons[strategy]
    if strategy == "default":  # this one captures: a project of its own, seeded here
        remember(gw, project, DB, DEPLOY, LOGO)
    else:
        project = SEEDED
    before = {r["id"] for r in gw.rows()}
    fake.script(text("ok"))
    with client_for(dialect, gw, project) as client:
        ask(client, conversation(dialect))
        body = upstream_body(fake, client)
    assert seen_markers(body) == expected, body
    rows = gw.wait_rows(lambda r: r["id"] not in before and r["project"] == project)
    assert [r["memory_hits"] for r in rows] == [len(expected)]


def test_last_assistant_falls_back_to_the_user_on_a_first_turn(daemons: dict[str, Daemon], fake: FakeUpstream) -> None:
    gw = daemons["last_assistant"]
    fake.script(text("ok"))
    with oai_client(gw, SEEDED) as client:
        ask(client, [{"role": "user", "content": LAST_USER}])
        assert seen_markers(upstream_body(fake, client)) == {"logo"}


# --- injection strategies: where the memories are placed -------------------------------------------


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
@pytest.mark.parametrize("with_system", [False, True], ids=["no-system", "own-system"])
def test_system_injection_puts_memories_in_the_system_prompt(
    daemons: dict[str, Daemon], fake: FakeUpstream, project: str, dialect: str, with_system: bool
) -> None:
    gw = daemons["last_assistant"]  # injection_strategy: system
    remember(gw, project, LOGO)
    own = "You are a terse assistant." if with_system else None
    fake.script(text("ok"))
    with client_for(dialect, gw, project) as client:
        ask(client, [{"role": "user", "content": "what colour is the logo?"}], system=own)
        body = upstream_body(fake, client)
    system = system_text(body)
    assert LOGO in system, body
    if own:
        assert system.index(own) < system.index(LOGO)  # the client's own prompt stays first
    assert user_turns(body) in (["what colour is the logo?"], [[{"type": "text", "text": "what colour is the logo?"}]])
    if dialect == "openai":
        assert [m["role"] for m in body["messages"]] == ["system", "user"]  # one system message, not two


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
@pytest.mark.parametrize("blocks", [False, True], ids=["string", "blocks"])
@pytest.mark.parametrize("strategy", ["user_prefix", "user_suffix"])
def test_user_injection_puts_memories_around_the_last_user_text(
    daemons: dict[str, Daemon], fake: FakeUpstream, dialect: str, blocks: bool, strategy: str
) -> None:
    gw = daemons["first_user" if strategy == "user_prefix" else "all_user"]
    question = "what colour is the logo?"
    content: Any = [{"type": "text", "text": question}] if blocks else question
    fake.script(text("ok"))
    with client_for(dialect, gw, SEEDED) as client:
        ask(client, [{"role": "user", "content": content}], system="Be brief.")
        body = upstream_body(fake, client)
    assert LOGO not in system_text(body), body
    sent = content_text(user_turns(body)[-1])
    assert LOGO in sent and question in sent, body
    assert DB not in json.dumps(body) and DEPLOY not in json.dumps(body)
    if strategy == "user_prefix":
        assert sent.index(LOGO) < sent.index(question)
    else:
        assert sent.index(question) < sent.index(LOGO)


# --- switches ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_a_model_outside_enabled_for_models_gets_no_memory(
    daemons: dict[str, Daemon], fake: FakeUpstream, dialect: str
) -> None:
    gw = daemons["first_user"]  # enabled_for_models: gpt-*, claude-sonnet-*
    question = [{"role": "user", "content": "what colour is the logo?"}]
    before = {r["id"] for r in gw.rows()}
    with client_for(dialect, gw, SEEDED) as client:
        fake.script(text("ok"), text("ok"))
        ask(client, question, model=HAIKU)  # through either route, haiku goes to the Anthropic upstream
        assert fake.last().path == "/v1/messages" and "teal" not in json.dumps(fake.last().body)
        ask(client, question, model=GPT if dialect == "openai" else SONNET)  # an enabled model does get it
        assert "teal" in json.dumps(upstream_body(fake, client))
    rows = gw.wait_rows(lambda r: r["id"] not in before and r["project"] == SEEDED, count=2)
    assert [(r["model"], r["memory_hits"]) for r in rows] == [(HAIKU, 0), (GPT if dialect == "openai" else SONNET, 1)]


@pytest.mark.regression(
    reason="BUG: Gateway.remember() armed capture for every model, so a model outside enabled_for_models got no "
    "memory but had its exchanges stored as memories for the others",
    strict=True,
)
def test_a_model_outside_enabled_for_models_is_not_captured(
    daemons: dict[str, Daemon], fake: FakeUpstream, project: str
) -> None:
    gw = daemons["first_user"]  # enabled_for_models: gpt-*, claude-sonnet-*
    fake.script(text("The haiku answer mentions walrus"), text("The gpt answer mentions narwhal"))
    with oai_client(gw, project) as oai:
        ask(oai, [{"role": "user", "content": "which animal, haiku?"}], model=HAIKU)
        ask(oai, [{"role": "user", "content": "which animal, gpt?"}], model=GPT)
    stored = wait_memory(gw, project, lambda m: "narwhal" in m["text"])
    assert not [m for m in stored if "walrus" in m["text"]], stored


@pytest.mark.regression(
    reason="BUG: the same exchange (a tool retrying, a benchmark, a question asked every session) was stored as a "
    "new memory every time, so one project's memory filled with copies and every search ranked them all",
    strict=True,
)
def test_the_same_exchange_is_remembered_once(daemons: dict[str, Daemon], fake: FakeUpstream, project: str) -> None:
    gw = daemons["default"]
    fake.script(*[text("The build cache lives in /var/cache/quokka")] * 3)
    with oai_client(gw, project) as oai:
        for _ in range(3):
            ask(oai, [{"role": "user", "content": "where is the build cache?"}])
    gw.project_rows(project, 3)
    stored = captured_so_far(gw, fake, project)  # all three exchanges handled
    assert len([m for m in stored if "quokka" in m["text"]]) == 1, stored


def test_capture_false_stores_nothing(daemons: dict[str, Daemon], fake: FakeUpstream, project: str) -> None:
    gw = daemons["all_user"]  # capture: false
    fake.script(text("The staging server is zeppelin"), text("The staging server is zeppelin"))
    with oai_client(gw, project) as oai:
        ask(oai, [{"role": "user", "content": "staging server name?"}])
        ask(oai, [{"role": "user", "content": "staging server name?"}], stream=True)
    with ant_client(gw, project) as claude:
        ask(claude, [{"role": "user", "content": "staging server name?"}])
    rows = gw.project_rows(project, 3)
    assert all(r["status"] == "ok" for r in rows)
    time.sleep(1.0)  # capture runs off the request path: give it the time it takes elsewhere (ms)
    assert memories(gw, project) == []


def test_memory_list_shows_how_often_and_when_each_memory_was_used(
    daemons: dict[str, Daemon], fake: FakeUpstream, project: str
) -> None:
    """Each request a memory goes into counts once (counted off the request path); `memory list`
    and `--json` show the count and the last time, a memory never used says so."""
    gw = daemons["first_user"]  # capture off: the seeded memories are all there is
    remember(gw, project, DB, LOGO)
    for n in range(3):
        fake.script(text("PostgreSQL 16."))
        with client_for("openai", gw, project) as client:
            ask(client, [{"role": "user", "content": f"which version is the shop database, take {n}?"}])

    def counted() -> dict[str, dict[str, Any]]:
        return {m["text"]: m for m in memories(gw, project)}

    listed = wait_for(lambda: (found := counted()) and found[DB]["used_count"] >= 3 and found, 10, 0.1)
    assert listed, counted()
    assert listed[DB]["used_count"] == 3 and listed[DB]["last_used_at"] >= listed[DB]["created_at"], listed
    assert (listed[LOGO]["used_count"], listed[LOGO]["last_used_at"]) == (0, None), listed
    table = gw.cli("memory", "list", "--project", project)
    assert table.returncode == 0, table.stderr
    assert "used" in table.stdout and "last used" in table.stdout, table.stdout
    db_line = next(line for line in table.stdout.splitlines() if "PostgreSQL" in line)
    logo_line = next(line for line in table.stdout.splitlines() if "teal" in line)
    assert " 3 " in db_line and listed[DB]["last_used_at"][:16].replace("T", " ") in db_line, table.stdout
    assert " 0 " in logo_line and "never" in logo_line, table.stdout
