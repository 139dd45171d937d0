"""Who a request is for: project, user and memory scope, decided by pure functions from headers.

Project: `x-memproxy-project` (set by the interceptor), else `default`.
User: `user_id_mappings.custom_header`, else the first `header_patterns` rule whose regex
matches, else `default_user_id`.
Client: `x-memproxy-client` (a project port sets it from the `/client/<name>` its base URL carries,
which `memproxy intercept` puts there for the command it wraps), else a short name for the
User-Agent (`claude-cli/2.0.1 (external, cli)` -> `claude`, `OpenAI/Python 2.20.0` -> `openai-python`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from daemon.errors import InvalidProjectName, InvalidRequest

if TYPE_CHECKING:
    import regex

    from daemon.config.settings import Settings

PROJECT_HEADER = "x-memproxy-project"
DEFAULT_PROJECT = "default"
PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CLIENT_HEADER = "x-memproxy-client"
# A project port's base URL may carry the client's name: http://127.0.0.1:P/client/aider/v1
CLIENT_PATH = "/client/"


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


# `header_patterns` are the user's regexes run on headers any client (a project port needs no key) sends:
# with Python's backtracking `re`, `^(\w+\s?)+$` on a 26-character User-Agent held the loop for 3.9 s,
# doubling with each character. The `regex` module (already installed with LiteLLM, through tiktoken)
# takes a timeout per match, so no pattern can hold the loop longer than MATCH_TIMEOUT_S, and the same
# engine checks the patterns at config load; google-re2 would be linear but drops backreferences and
# lookarounds that valid configs may use. The cap keeps even a linear scan of a huge header short.
MATCH_TIMEOUT_S = 0.02
MAX_MATCHED_CHARS = 2048
_compiled: dict[str, regex.Pattern[str]] = {}


def _regex(pattern: str) -> regex.Pattern[str]:
    compiled = _compiled.get(pattern)
    if compiled is None:
        import regex  # ~8 ms: imported by the first pattern, not by every CLI command that names a project

        compiled = _compiled[pattern] = regex.compile(pattern)
    return compiled


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether `pattern` is found in `value`; a value over MAX_MATCHED_CHARS, or a match that runs past
    MATCH_TIMEOUT_S, counts as no match (a cut value could match an anchored rule it does not)."""
    if len(value) > MAX_MATCHED_CHARS:
        return False
    try:
        return _regex(pattern).search(value, timeout=MATCH_TIMEOUT_S) is not None
    except TimeoutError:
        return False


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
            if value is not None and pattern_matches(rule.pattern, value):
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


_NOT_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")
# User-Agent product names that are not the name people call the tool by.
_RENAMED = {
    "claude-cli": "claude",
    "claude-code": "claude",
    "codex_cli_rs": "codex",
    "codex_exec": "codex",
    "geminicli": "gemini",
    "gemini-cli": "gemini",
    "asyncopenai-python": "openai-python",
    "asyncanthropic-python": "anthropic-python",
}


def client_label(text: str | None) -> str | None:
    """`text` as a client name: lower-case letters, digits, `.`, `_`, `-`, at most 64; None if nothing is left."""
    if not text:
        return None
    name = _NOT_NAME_CHARS.sub("-", text.strip().lower())[:64].strip("-._")
    return name or None


def client_from_user_agent(user_agent: str | None) -> str | None:
    """The tool a User-Agent names, without its version (`claude-cli/2.0.1 (external, cli)` -> `claude`).

    An SDK names its language where a version would be (`OpenAI/Python 2.20.0`): that is kept, as
    `openai-python`, so the Python and JS SDKs stay apart.
    """
    if not user_agent or not user_agent.strip():
        return None
    product, _, version = user_agent.split()[0].partition("/")
    if version and not version[:1].isdigit():
        product = f"{product}-{version}"
    return _canonical(client_label(product))


def client_name(headers: Mapping[str, str]) -> str | None:
    """Which tool sent a request: the name `x-memproxy-client` gives, else the User-Agent's tool."""
    named = _canonical(client_label(headers.get(CLIENT_HEADER)))
    return named or client_from_user_agent(headers.get("user-agent"))


def _canonical(name: str | None) -> str | None:
    return _RENAMED.get(name, name) if name else None


def split_client_path(path: str) -> tuple[str | None, str]:
    """`/client/aider/v1/chat/completions` -> `("aider", "/v1/chat/completions")`; any other path as it is."""
    if not path.startswith(CLIENT_PATH):
        return None, path
    segment, slash, rest = path[len(CLIENT_PATH) :].partition("/")
    name = client_label(segment)
    if name is None:
        return None, path
    return name, slash + rest if slash else "/"
