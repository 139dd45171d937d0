"""`Metrics`, `FanOut` and `GET /metrics`: valid Prometheus text whose counters match the records."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from daemon.observe import metrics as metrics_module
from daemon.observe.metrics import FanOut, Metrics
from daemon.routes.metrics import router
from daemon.usage.record import UsageRecord
from daemon.usage.stats import usage_stats
from daemon.usage.writer import UsageWriter

SECRET = "sk-live-abcdef123456"


def _records() -> list[UsageRecord]:
    return [
        UsageRecord(
            project="shop",
            model="gpt-4o",
            input_tokens=100,
            output_tokens=20,
            cache_read_tokens=50,
            cost_usd=0.01,
            latency_ms=800,
            ttft_ms=120,
        ),
        UsageRecord(project="shop", model="gpt-4o", input_tokens=10, output_tokens=2, cost_usd=0.002, latency_ms=3200),
        UsageRecord(project="shop", model="claude", status="error", http_status=429, latency_ms=40),
        UsageRecord(project="blog", model="claude", cache_write_tokens=7, cost_usd=0.5, status="interrupted"),
        UsageRecord(project="blog", model="claude", status="client_disconnected", input_tokens=5),
        UsageRecord(project="blog", model="claude", status="in_flight", input_tokens=999),  # not counted
    ]


def _samples(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    return samples[name].get(tuple(sorted(labels.items())), 0.0)


def test_counters_match_the_records_submitted() -> None:
    metrics = Metrics()
    records = _records()
    for record in records:
        metrics.submit(record)
    samples = _samples(metrics.render().decode())
    finished = [r for r in records if r.status != "in_flight"]
    for project, model, status in {(r.project, r.model or "", r.status) for r in finished}:
        expected = sum(1 for f in finished if (f.project, f.model, f.status) == (project, model, status))
        assert _value(samples, "memproxy_requests_total", project=project, model=model, status=status) == expected
    assert sum(samples["memproxy_requests_total"].values()) == len(finished)
    assert _value(samples, "memproxy_errors_total", project="shop", model="claude") == 1
    assert _value(samples, "memproxy_errors_total", project="blog", model="claude") == 1  # interrupted
    assert sum(samples["memproxy_errors_total"].values()) == 2  # a client hanging up is no error
    for kind in ("input", "output", "cache_read", "cache_write"):
        total = sum(v for labels, v in samples["memproxy_tokens_total"].items() if ("kind", kind) in labels)
        assert total == sum(getattr(r, f"{kind}_tokens") for r in finished), kind
    assert _value(samples, "memproxy_cost_usd_total", project="shop", model="gpt-4o") == pytest.approx(0.012)
    assert _value(samples, "memproxy_cost_usd_total", project="blog", model="claude") == pytest.approx(0.5)
    latency = "memproxy_request_latency_seconds"
    assert _value(samples, f"{latency}_count", project="shop", model="gpt-4o") == 2
    assert _value(samples, f"{latency}_sum", project="shop", model="gpt-4o") == pytest.approx(4.0)
    assert _value(samples, f"{latency}_bucket", project="shop", model="gpt-4o", le="1.0") == 1
    assert _value(samples, "memproxy_ttft_seconds_count", project="shop", model="gpt-4o") == 1


def test_fanned_out_with_the_writer_the_counters_match_the_databank(tmp_path: Path) -> None:
    db = tmp_path / "memproxy.db"
    writer, metrics = UsageWriter(db), Metrics()
    writer.start()
    sink = FanOut(writer, metrics)
    for record in _records():
        if record.status != "in_flight":  # as an Exchange does: in flight first, then the end
            sink.submit(replace(record, status="in_flight"))
        sink.submit(record)
    assert writer.close()
    samples = _samples(metrics.render().decode())
    report = usage_stats(db, by="project", since=datetime(2000, 1, 1, tzinfo=UTC))
    for row in report["rows"]:
        counted = sum(
            v for labels, v in samples["memproxy_requests_total"].items() if ("project", row["key"]) in labels
        )
        cost = sum(v for labels, v in samples["memproxy_cost_usd_total"].items() if ("project", row["key"]) in labels)
        inputs = sum(
            v
            for labels, v in samples["memproxy_tokens_total"].items()
            if ("project", row["key"]) in labels and ("kind", "input") in labels
        )
        assert (counted, inputs) == (row["requests"], row["input_tokens"])
        assert cost == pytest.approx(row["cost_usd"])
    assert sum(samples["memproxy_requests_total"].values()) == report["total"]["requests"] == 5


def test_each_metrics_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.submit(UsageRecord(project="a", model="m"))
    assert _value(_samples(two.render().decode()), "memproxy_requests_total", project="a", model="m", status="ok") == 0
    assert _value(_samples(one.render().decode()), "memproxy_requests_total", project="a", model="m", status="ok") == 1


def test_no_key_reaches_the_metrics_and_series_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = Metrics(secrets=[SECRET])
    metrics.submit(
        UsageRecord(project="a", model=f"openai/{SECRET}", request_json=SECRET, error=SECRET, user_id=SECRET)
    )
    text = metrics.render().decode()
    assert SECRET not in text and 'model="redacted"' in text
    monkeypatch.setattr(metrics_module, "MAX_SERIES", 3)
    for i in range(10):
        metrics.submit(UsageRecord(project="a", model=f"typo-{i}"))
    models = {dict(k)["model"] for k in _samples(metrics.render().decode())["memproxy_requests_total"]}
    assert models == {"redacted", "typo-0", "typo-1", "other"}


def test_made_up_projects_past_the_bound_count_as_other_but_registered_ones_keep_their_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics_module, "MAX_PROJECTS", 3)
    metrics = Metrics(registered=lambda: ["shop"])
    for name in [*(f"made-up-{i}" for i in range(10)), "shop"]:
        metrics.submit(UsageRecord(project=name, model="gpt-4o"))
    projects = {dict(k)["project"] for k in _samples(metrics.render().decode())["memproxy_requests_total"]}
    assert projects == {"made-up-0", "made-up-1", "made-up-2", "other", "shop"}


def test_a_bad_record_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    Metrics().submit(UsageRecord(input_tokens="many"))  # type: ignore[arg-type]
    assert "could not count" in caplog.text


def test_fan_out_feeds_every_sink_even_after_one_fails() -> None:
    got: list[str] = []

    class Broken:
        def submit(self, record: UsageRecord) -> None:
            raise RuntimeError("disk on fire")

    class Keep:
        def submit(self, record: UsageRecord) -> None:
            got.append(record.id)

    fan = FanOut(Broken(), None, Keep())
    record = UsageRecord()
    fan.submit(record)
    assert got == [record.id] and len(fan.sinks) == 2


def test_the_metrics_route_serves_prometheus_text() -> None:
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404  # no metrics object: said plainly
        app.state.metrics = Metrics()
        for record in _records():
            app.state.metrics.submit(record)
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert sum(samples["memproxy_requests_total"].values()) == 5
