"""What the upstream-fault modules (tests/hardening/faults/) share: their daemons' router budget, the
(route, model) pairs each dialect is tried in, a project name per test, a request and its final row,
and the message of an error in either dialect."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.daemon import Daemon
from tests.support.databank import db_rows
from tests.support.hardening import MODELS, ROUTES, USER
from tests.support.polling import wait_for

TIMEOUT = 2.0
RETRIES = 2
ANSWER = "one two three four five six seven eight"
# (route, model): each dialect, native and translated by LiteLLM
PAIRS = [
    ("openai", "openai"),
    ("openai", "anthropic"),
    ("anthropic", "anthropic"),
    ("anthropic", "openai"),
]


def pair_id(pair: tuple[str, str]) -> str:
    return f"{ROUTES[pair[0]]}<-{MODELS[pair[1]]}"


_counter = iter(range(1_000_000))


def new_project(tag: str) -> str:
    """A project name no other request of the run has."""
    return f"{tag}-{next(_counter)}"


def post(daemon: Daemon, route: str, model: str, project: str, timeout: float = 30, **extra: Any) -> httpx.Response:
    body = {"model": MODELS[model], "messages": USER, "max_tokens": 20, **extra}
    return httpx.post(
        f"{daemon.url}{ROUTES[route]}", json=body, headers={"x-memproxy-project": project}, timeout=timeout
    )


def final_row(daemon: Daemon, project: str, timeout: float = 15) -> dict[str, Any]:
    """The one final (not in-flight) row of `project`, read from SQLite."""
    rows = wait_for(
        lambda: [r for r in db_rows(daemon.home, "project = ?", (project,)) if r["status"] != "in_flight"], timeout
    )
    assert len(rows) == 1, rows or f"no final row for {project}\n{daemon.log_tail()}"
    return rows[0]


def error_message(route: str, payload: Any) -> str | None:
    """The message of an error body/event in the route's dialect, or None if it is not one."""
    if not isinstance(payload, dict):
        return None
    if route == "anthropic":
        err = payload.get("error") if payload.get("type") == "error" else None
    else:
        err = payload.get("error")
    return str(err.get("message")) if isinstance(err, dict) else None
