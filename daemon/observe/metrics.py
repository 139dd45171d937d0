"""Prometheus metrics for `GET /metrics`: requests, errors, tokens, cost, latency and TTFT.

`Metrics` is a record sink: the writer thread hands it each finished `UsageRecord` once priced
(daemon.usage.pricing), so the cost counter counts what LiteLLM's cost functions say.
It keeps its own `CollectorRegistry`, so two apps in one process (tests) never
share counters. Labels are project, model and status only: never a key, a user or a prompt.
`FanOut` hands one record to several sinks (writer, metrics, telemetry). `watch_databank` adds the
writer's own state, read at each scrape: rows waiting for the databank, write failures, rows lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from daemon.usage.record import ERROR_STATUSES, UsageRecord

log = logging.getLogger("memproxy.metrics")

LATENCY_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# A client may send any model name (a typo, a probe): past this many (project, model) pairs new
# ones are counted under "other", so /metrics cannot grow without bound.
MAX_SERIES = 500
# ... and any project name (`x-memproxy-project`): 3,000 random ones made /metrics 5.95 MB and each
# scrape held the loop 1.6-2.8 s. Past this many, only registered projects keep their own name.
MAX_PROJECTS = 100
OTHER = "other"
_MAX_LABEL = 120


class Sink(Protocol):
    def submit(self, record: UsageRecord) -> None: ...


class FanOut:
    """Submits each record to every sink in turn; one failing sink never stops the others."""

    def __init__(self, *sinks: Sink | None) -> None:
        self.sinks = tuple(sink for sink in sinks if sink is not None)

    def submit(self, record: UsageRecord) -> None:
        for sink in self.sinks:
            try:
                sink.submit(record)
            except Exception:  # the caller is a request: accounting must never break it
                log.exception("usage sink %s failed", type(sink).__name__)


class Metrics:
    """Counters and histograms fed by finished usage records; `render()` is the /metrics body."""

    def __init__(self, secrets: Iterable[str] = (), registered: Callable[[], Iterable[str]] = tuple) -> None:
        """`registered`: the projects of the port registry, asked once MAX_PROJECTS are counted."""
        self.registry = CollectorRegistry()
        self._secrets = tuple(s for s in secrets if s and len(s) >= 6)
        self._registered = registered
        self._projects: set[str] = set()
        self._series: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        pm = ["project", "model"]
        r = self.registry
        self.requests = Counter("memproxy_requests", "Requests finished, by status.", [*pm, "status"], registry=r)
        self.errors = Counter("memproxy_errors", "Requests that failed (error, interrupted).", pm, registry=r)
        self.tokens = Counter("memproxy_tokens", "Tokens, by kind.", [*pm, "kind"], registry=r)
        self.cost = Counter("memproxy_cost_usd", "Cost in US dollars (LiteLLM's price map).", pm, registry=r)
        self.latency = Histogram(
            "memproxy_request_latency_seconds",
            "Time from request to last byte.",
            pm,
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.ttft = Histogram("memproxy_ttft_seconds", "Time to first token.", pm, buckets=TTFT_BUCKETS_S, registry=r)

    def watch_databank(self, health: Callable[[], Mapping[str, Any]]) -> None:
        """Export the usage writer's state (`UsageWriter.health`) on every scrape."""
        self.registry.register(_DatabankCollector(health))

    def watch_budgets(self, rows: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        """Export `memproxy_budget_ratio` (spent ÷ limit, per project, period and model) on every scrape."""
        self.registry.register(_BudgetCollector(rows))

    def submit(self, record: UsageRecord) -> None:
        """Count a finished request (in-flight records are skipped: their final record follows)."""
        if record.status == "in_flight":
            return
        try:
            self._count(record)
        except Exception:  # a metric must never break a request
            log.exception("could not count request %s in metrics", record.id)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)

    def _count(self, record: UsageRecord) -> None:
        project, model = self._labels(record)
        self.requests.labels(project, model, record.status).inc()
        if record.status in ERROR_STATUSES:
            self.errors.labels(project, model).inc()
        # cache_write_1h is part of cache_write, reasoning part of output: kinds a dashboard prices apart
        for kind in ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning"):
            amount = getattr(record, f"{kind}_tokens") or 0
            if amount > 0:
                self.tokens.labels(project, model, kind).inc(amount)
        if record.cost_usd is not None and record.cost_usd > 0:
            self.cost.labels(project, model).inc(record.cost_usd)
        if record.latency_ms is not None and record.latency_ms >= 0:
            self.latency.labels(project, model).observe(record.latency_ms / 1000.0)
        if record.ttft_ms is not None and record.ttft_ms >= 0:
            self.ttft.labels(project, model).observe(record.ttft_ms / 1000.0)

    def _labels(self, record: UsageRecord) -> tuple[str, str]:
        project = (record.project or "default")[:_MAX_LABEL]
        model = (record.model or record.resolved_model or "unknown")[:_MAX_LABEL]
        if any(secret in model for secret in self._secrets):  # a key pasted as a model name
            model = "redacted"
        with self._lock:
            if project not in self._projects:
                if len(self._projects) >= MAX_PROJECTS and not self._is_registered(project):
                    project = OTHER
                self._projects.add(project)
            if (project, model) not in self._series:
                if len(self._series) >= MAX_SERIES:
                    return project, "other"
                self._series.add((project, model))
        return project, model

    def _is_registered(self, project: str) -> bool:
        try:
            return project in set(self._registered())
        except Exception:  # an unreadable registry: the project is counted as other
            log.warning("could not read the registered projects for /metrics labels", exc_info=True)
            return False


class _DatabankCollector:
    """Reads the writer's counts when /metrics is scraped: they change off the request path."""

    def __init__(self, health: Callable[[], Mapping[str, Any]]) -> None:
        self._health = health

    def describe(self) -> list[Metric]:
        return []  # nothing to read at registration: the writer may not have started yet

    def collect(self) -> Iterator[Metric]:
        try:
            state = self._health()
        except Exception:  # a scrape must never fail for this
            log.exception("could not read the usage writer's state")
            return
        yield GaugeMetricFamily(
            "memproxy_databank_rows_waiting",
            "Usage rows the databank has not taken yet (in memory or in the spool file).",
            value=state["rows_waiting"],
        )
        yield GaugeMetricFamily(
            "memproxy_databank_degraded", "1 while the databank is not taking rows.", value=state["status"] != "healthy"
        )
        yield CounterMetricFamily(
            "memproxy_databank_write_failures",
            "Usage-row transactions the databank refused.",
            value=state["write_failures"],
        )
        yield CounterMetricFamily(
            "memproxy_databank_rows_lost", "Usage rows neither written nor kept.", value=state["rows_lost"]
        )


class _BudgetCollector:
    """Each budget limit's spent ÷ limit, read from the ledger when /metrics is scraped."""

    def __init__(self, rows: Callable[[], Iterable[Mapping[str, Any]]]) -> None:
        self._rows = rows

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "memproxy_budget_ratio",
            "Spent this period ÷ the budget limit (1 is the whole budget), per project, period and model.",
            labels=["project", "period", "model"],
        )
        spent = GaugeMetricFamily(
            "memproxy_budget_spent_usd",
            "USD spent this period against each budget limit.",
            labels=["project", "period", "model"],
        )
        try:
            rows = list(self._rows())
        except Exception:  # a scrape must never fail for this
            log.exception("could not read the budget ledger")
            rows = []
        for row in rows:
            labels = [row["project"], row["period"], row["model"] or ""]
            limit = row["limit_usd"]
            gauge.add_metric(labels, row["spent_usd"] / limit if limit else float(row["spent_usd"] > 0))
            spent.add_metric(labels, row["spent_usd"])
        yield gauge
        yield spent
