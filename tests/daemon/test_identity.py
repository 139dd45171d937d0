"""Who a request is for: project, user and memory scope from headers (pure functions)."""

from __future__ import annotations

import pytest

from daemon.config.settings import HeaderPattern, UserIdMappings
from daemon.errors import InvalidProjectName, InvalidRequest
from daemon.identity import (
    client_from_user_agent,
    client_label,
    client_name,
    memory_scope,
    resolve_identity,
    split_client_path,
    validate_project_name,
)

MAPPINGS = UserIdMappings(
    custom_header="X-Memory-User-Id",
    header_patterns=[
        HeaderPattern(header="User-Agent", pattern=r"^claude-cli/", user_id="claude-code"),
        HeaderPattern(header="user-agent", pattern=r"OpenAI/Python", user_id="openai-sdk"),
        HeaderPattern(header="x-editor", pattern=r"pycharm", user_id="ide"),
    ],
    default_user_id="someone",
)


@pytest.mark.parametrize("name", ["default", "a", "my-app", "My_App.v2", "0day", "x" * 64, "a.b-c_d"])
def test_valid_project_names(name: str) -> None:
    assert validate_project_name(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "-lead", ".hidden", "_x", "a/b", "../etc", "a..b", "a b", "x" * 65, "é", "a;drop", "a\nb", "proj\x00"],
)
def test_invalid_project_names(name: str) -> None:
    with pytest.raises(InvalidProjectName, match="invalid project name"):
        validate_project_name(name)


def test_project_from_header_else_default() -> None:
    assert resolve_identity({"x-memproxy-project": "alpha"}, MAPPINGS).project == "alpha"
    assert resolve_identity({}, MAPPINGS).project == "default"
    assert resolve_identity({"x-memproxy-project": ""}, MAPPINGS).project == "default"


def test_invalid_project_header_is_refused() -> None:
    # the request's fault: the gateway answers it with a 400
    with pytest.raises(InvalidRequest, match="invalid project name"):
        resolve_identity({"x-memproxy-project": "../../etc/passwd"}, MAPPINGS)


def test_custom_header_beats_patterns() -> None:
    ident = resolve_identity({"x-memory-user-id": "alice", "user-agent": "claude-cli/2.1 (external)"}, MAPPINGS)
    assert ident.user_id == "alice"
    assert ident.matched_pattern is None


def test_first_matching_pattern_wins() -> None:
    ident = resolve_identity({"user-agent": "claude-cli/2.1 OpenAI/Python"}, MAPPINGS)
    assert (ident.user_id, ident.matched_pattern) == ("claude-code", r"^claude-cli/")
    ident = resolve_identity({"user-agent": "OpenAI/Python 1.40"}, MAPPINGS)
    assert (ident.user_id, ident.matched_pattern) == ("openai-sdk", r"OpenAI/Python")
    ident = resolve_identity({"user-agent": "curl/8", "x-editor": "pycharm 2025"}, MAPPINGS)
    assert ident.user_id == "ide"


def test_default_user_when_nothing_matches() -> None:
    ident = resolve_identity({"user-agent": "curl/8.0"}, MAPPINGS)
    assert (ident.user_id, ident.matched_pattern) == ("someone", None)
    assert resolve_identity({}, UserIdMappings()).user_id == "default"


def test_empty_custom_header_falls_through() -> None:
    ident = resolve_identity({"x-memory-user-id": "", "user-agent": "claude-cli/1"}, MAPPINGS)
    assert ident.user_id == "claude-code"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("project", "project:p"), ("user", "user:u"), ("project_user", "project:p/user:u")],
)
def test_memory_scope(kind: str, expected: str) -> None:
    assert memory_scope(kind, "p", "u") == expected
    assert resolve_identity({"x-memproxy-project": "p", "x-memory-user-id": "u"}, MAPPINGS, kind).memory_scope == (
        expected
    )


def test_scopes_of_different_projects_and_users_never_collide() -> None:
    scopes = {
        memory_scope(k, p, u) for k in ("project", "user", "project_user") for p in ("a", "b") for u in ("x", "y")
    }
    assert len(scopes) == 2 + 2 + 4


@pytest.mark.parametrize(
    ("user_agent", "client"),
    [
        ("claude-cli/2.0.14 (external, cli)", "claude"),
        ("claude-cli/1.0.83 (external, sdk-ts)", "claude"),
        ("codex_cli_rs/0.169.0 (Ubuntu 24.4.0; x86_64) xterm-256color", "codex"),
        ("codex_exec/0.169.0 (Mac OS 15.1.0; arm64)", "codex"),
        ("opencode/0.15.2 ai-sdk/provider-utils/3.0.9 runtime/bun/1.2.21", "opencode"),
        ("GeminiCLI/0.9.0 (linux; x64)", "gemini"),
        ("OpenAI/Python 2.20.0", "openai-python"),
        ("AsyncOpenAI/Python 1.99.1", "openai-python"),
        ("OpenAI/JS 5.23.0", "openai-js"),
        ("Anthropic/Python 0.69.0", "anthropic-python"),
        ("Anthropic/JS 0.65.0", "anthropic-js"),
        ("llm/0.27.1", "llm"),
        ("aider/0.86.1", "aider"),
        ("curl/8.5.0", "curl"),
        ("python-httpx/0.28.1", "python-httpx"),
        ("Go-http-client/1.1", "go-http-client"),
        ("JetBrains AI Assistant", "jetbrains"),
        ("", None),
        ("   ", None),
        (None, None),
        ("///", None),
    ],
)
def test_client_from_user_agent(user_agent: str | None, client: str | None) -> None:
    assert client_from_user_agent(user_agent) == client


def test_the_named_client_beats_the_user_agent() -> None:
    ua = {"user-agent": "OpenAI/Python 2.20.0"}
    assert client_name({**ua, "x-memproxy-client": "aider"}) == "aider"
    assert client_name({**ua, "x-memproxy-client": "Claude-Code"}) == "claude"  # one name per tool
    assert client_name({**ua, "x-memproxy-client": "  "}) == "openai-python"  # empty: the User-Agent decides
    assert client_name(ua) == "openai-python"
    assert client_name({}) is None


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("aider", "aider"),
        ("My Tool!", "my-tool"),
        ("x" * 90, "x" * 64),
        ("../etc", "etc"),
        ("日本", None),
        (None, None),
    ],
)
def test_client_label_is_safe_anywhere(text: str | None, label: str | None) -> None:
    assert client_label(text) == label


@pytest.mark.parametrize(
    ("path", "split"),
    [
        ("/client/aider/v1/chat/completions", ("aider", "/v1/chat/completions")),
        ("/client/claude/v1/messages", ("claude", "/v1/messages")),
        ("/client/codex", ("codex", "/")),
        ("/client/Some Tool/v1/models", ("some-tool", "/v1/models")),
        ("/client//v1/models", (None, "/client//v1/models")),
        ("/v1/chat/completions", (None, "/v1/chat/completions")),
        ("/clients/x/v1", (None, "/clients/x/v1")),
    ],
)
def test_split_client_path(path: str, split: tuple[str | None, str]) -> None:
    assert split_client_path(path) == split
