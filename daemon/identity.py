"""Who a request is for: project, user and memory scope, decided by pure functions from headers.

Project: `x-memproxy-project` (set by the interceptor), else `default`.
User: `user_id_mappings.custom_header`, else the first `header_patterns` rule whose regex
matches, else `default_user_id`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from daemon.errors import InvalidProjectName, InvalidRequest

if TYPE_CHECKING:
    from daemon.config.settings import Settings

PROJECT_HEADER = "x-memproxy-project"
DEFAULT_PROJECT = "default"
PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_project_name(name: str) -> str:
    """Return `name` if it is a valid project name, else raise InvalidProjectName saying why."""
    if PROJECT_NAME_RE.fullmatch(name) and ".." not in name:
        return name
    shown = name if len(name) <= 40 else name[:37] + "..."
    raise InvalidProjectName(
        f"invalid project name {shown!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    )


class HeaderRule(Protocol):
    header: str
    pattern: str
    user_id: str


class UserMappings(Protocol):
    custom_header: str
    default_user_id: str

    @property
    def header_patterns(self) -> Sequence[HeaderRule]: ...


@dataclass(frozen=True, slots=True)
class Identity:
    project: str
    user_id: str
    matched_pattern: str | None
    memory_scope: str


def memory_scope(scope_kind: str, project: str, user_id: str) -> str:
    """The memory container a request reads and writes; scopes never overlap."""
    if scope_kind == "user":
        return f"user:{user_id}"
    if scope_kind == "project_user":
        return f"project:{project}/user:{user_id}"
    return f"project:{project}"


_compiled: dict[str, re.Pattern[str]] = {}


def _regex(pattern: str) -> re.Pattern[str]:
    compiled = _compiled.get(pattern)
    if compiled is None:
        compiled = _compiled[pattern] = re.compile(pattern)
    return compiled


def resolve_identity(headers: Mapping[str, str], mappings: UserMappings, scope_kind: str = "project") -> Identity:
    """Attribute a request to a project, a user and a memory scope. `headers` keys are lower-case;
    a malformed project name is the request's fault (InvalidRequest)."""
    project = headers.get(PROJECT_HEADER) or DEFAULT_PROJECT
    try:
        validate_project_name(project)
    except InvalidProjectName as exc:
        raise InvalidRequest(str(exc)) from None
    user_id: str | None = headers.get(mappings.custom_header.lower()) or None
    matched: str | None = None
    if user_id is None:
        for rule in mappings.header_patterns:
            value = headers.get(rule.header.lower())
            if value is not None and _regex(rule.pattern).search(value):
                user_id, matched = rule.user_id, rule.pattern
                break
    user = user_id or mappings.default_user_id
    return Identity(
        project=project,
        user_id=user,
        matched_pattern=matched,
        memory_scope=memory_scope(scope_kind, project, user),
    )


def identify(headers: Mapping[str, str], settings: Settings) -> Identity:
    """`resolve_identity` with the rules `settings` give."""
    return resolve_identity(headers, settings.user_id_mappings, settings.context_retrieval.scope)
