"""One row of the usage databank: what a request was, who made it, what it cost.

Stdlib only, so the request path and the CLI can import it for free.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

STATUSES = ("ok", "error", "client_disconnected", "interrupted", "in_flight")
# A client that hangs up chose to; only these count as failures (logs --errors, stats error rate).
ERROR_STATUSES = ("error", "interrupted")


def iso_utc(moment: datetime | None = None) -> str:
    """`moment` (default now) as ISO 8601 UTC with milliseconds and `Z`, e.g. `2025-01-31T09:15:02.123Z`.

    One fixed width format, so text order in SQLite is time order.
    """
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive datetimes are taken as UTC, never as local time
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class UsageRecord:
    """A row of table `requests` (SPEC, "Usage databank")."""

    id: str = field(default_factory=_new_id)
    started_at: str = field(default_factory=iso_utc)
    project: str = "default"
    user_id: str | None = None
    client: str | None = None  # the tool's short name: `aider`, `claude`, `openai-python` (daemon.identity)
    endpoint: str = ""
    model: str | None = None
    resolved_model: str | None = None
    provider: str | None = None
    stream: bool = False
    status: str = "ok"
    http_status: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    memory_hits: int = 0
    tool_rounds: int = 0
    error: str | None = None
    request_json: str | None = None
    response_text: str | None = None
    user_agent: str | None = None  # as the client sent it (m005); later columns in the order ALTER TABLE adds them
    # m006: what pricing needs beyond the four buckets (daemon.cost.Usage)
    cache_write_1h_tokens: int = 0  # of cache_write_tokens, written with the 1-hour TTL
    reasoning_tokens: int = 0  # of output_tokens
    service_tier: str | None = None  # as the provider says it served the request
    memory_ids: str | None = None  # m007: the ids of the memories injected, comma-separated

    def as_row(self) -> tuple[object, ...]:
        """The values in `COLUMNS` order, ready for an INSERT."""
        return tuple(getattr(self, name) for name in COLUMNS)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(UsageRecord))
