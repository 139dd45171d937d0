"""Answers that are no answer: an error in a 200 is an error in the client's dialect, and a body no
parser takes (nested 50,000 deep, a 100,000-digit number, invalid UTF-8) a 502 with a row and no
traceback, through the fast path and through LiteLLM's Router."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.daemon import Daemon
from tests.support.faults import PAIRS, RETRIES, error_message, final_row, new_project, pair_id, post
from tests.support.hardening import figure
from tests.support.upstream import raw
from tests.support.upstream.observing import ObservingUpstream

pytestmark = pytest.mark.e2e


# --- answers that are no answer: an error in a 200, a body no parser takes ----------------------------------

ERROR_IN_A_200 = {
    "openai": b'{"error": {"message": "quota exhausted for org-7", "type": "insufficient_quota", "code": null}}',
    "anthropic": b'{"type": "error", "error": {"type": "overloaded_error", "message": "quota exhausted for org-7"}}',
}
PATHOLOGICAL = {
    "nested-50000": b'{"id": "x", "choices": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "huge-number": b'{"id": "x", "usage": {"prompt_tokens": 1' + b"0" * 100_000 + b"}}",
    "invalid-utf8": b'{"id": "x", "choices": [{"message": {"role": "assistant", "content": "\xff\xfe\xc3"}}]}',
}
BUG_ERROR_IN_A_200 = pytest.mark.regression(
    reason="BUG: the fast path passed an OpenAI upstream's 200 with an {'error': ...} body on as a 200 and an ok row "
    "(routes/chat.py _plain read it as an answer with no choices)",
    strict=True,
)
BUG_PATHOLOGICAL = pytest.mark.regression(
    reason="BUG: JSON nested 50,000 deep was a 500 'RecursionError', a traceback in the daemon log (fast path: "
    "passthrough.read_json caught ValueError only); a 100,000-digit number through LiteLLM a 400 'could not be "
    "translated' (map_exception took int()'s ValueError for a local failure)",
    strict=True,
)


def _answer_cases() -> list[Any]:
    return [
        pytest.param(pair, gateway, id=f"{pair_id(pair)}-{gateway}")
        for pair in PAIRS
        for gateway in ("daemon", "router_daemon")
    ]


@BUG_ERROR_IN_A_200
@pytest.mark.parametrize(("pair", "gateway"), _answer_cases())
def test_an_error_in_a_200_is_an_error_in_the_clients_dialect(
    request: pytest.FixtureRequest, fake: ObservingUpstream, pair: tuple[str, str], gateway: str
) -> None:
    daemon: Daemon = request.getfixturevalue(gateway)
    route, model = pair
    project = new_project("error-200")
    fake.script(*[raw(ERROR_IN_A_200[model])] * (RETRIES + 1))  # the Router retries it; the fast path does not
    r = post(daemon, route, model, project)
    row = final_row(daemon, project)
    figure(f"error_in_a_200[{pair_id(pair)}-{gateway}]", status=r.status_code, row_status=row["status"])
    assert r.status_code == 502, r.text
    assert "quota exhausted for org-7" in (error_message(route, r.json()) or ""), r.text
    assert (row["status"], row["http_status"]) == ("error", 502)
    assert "quota exhausted for org-7" in row["error"]


@BUG_PATHOLOGICAL
@pytest.mark.parametrize("shape", list(PATHOLOGICAL))
@pytest.mark.parametrize(("pair", "gateway"), _answer_cases())
def test_a_pathological_answer_is_a_502_with_a_row_and_no_traceback(
    request: pytest.FixtureRequest, fake: ObservingUpstream, pair: tuple[str, str], gateway: str, shape: str
) -> None:
    daemon: Daemon = request.getfixturevalue(gateway)
    route, model = pair
    project = new_project("pathological")
    log = daemon.home / "daemon.log"
    seen = log.stat().st_size if log.exists() else 0
    fake.script(*[raw(PATHOLOGICAL[shape])] * (RETRIES + 1))  # the Router retries it; the fast path does not
    r = post(daemon, route, model, project)
    row = final_row(daemon, project)
    with log.open("rb") as f:
        f.seek(seen)
        written = f.read().decode(errors="replace")
    ours = [line for line in written.splitlines() if "Traceback" in line or "memproxy failed unexpectedly" in line]
    figure(f"pathological[{shape}-{pair_id(pair)}-{gateway}]", status=r.status_code, row_status=row["status"])
    assert r.status_code == 502, r.text[:300]
    assert error_message(route, r.json()), r.text[:300]
    assert (row["status"], row["http_status"]) == ("error", 502)
    assert not ours, written[-2000:]
