"""Who a request is for: project, user and memory scope from headers (pure functions)."""

from __future__ import annotations

import pytest

from daemon.config.settings import HeaderPattern, UserIdMappings
from daemon.errors import InvalidProjectName
from daemon.identity import memory_scope, resolve_identity, validate_project_name

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
    with pytest.raises(InvalidProjectName):
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
