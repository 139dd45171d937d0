"""OpenTelemetry spans per finished request; nothing loaded without an endpoint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from daemon.observe.telemetry import start_telemetry
from daemon.usage.record import UsageRecord


def test_no_endpoint_means_no_telemetry_and_nothing_imported() -> None:
    code = (
        "import sys\n"
        "from daemon.observe.telemetry import start_telemetry\n"
        "assert start_telemetry(None) is None and start_telemetry('') is None\n"
        "loaded = [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_missing_sdk_is_one_warning_and_no_telemetry(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    assert start_telemetry("http://127.0.0.1:4318") is None
    assert "pip install 'memproxy[otel]'" in caplog.text
    assert len(caplog.records) == 1


def test_one_span_per_finished_request() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    exporter = InMemorySpanExporter()
    telemetry = start_telemetry(None, exporter=exporter)
    assert telemetry is not None
    ok = UsageRecord(
        started_at="2025-03-01T10:00:00.000Z",
        project="shop",
        endpoint="/v1/messages",
        model="claude-sonnet-4",
        input_tokens=12,
        output_tokens=3,
        cache_read_tokens=100,
        cache_write_tokens=20,
        cost_usd=0.002,
        latency_ms=1500,
        request_json='{"secret": "prompt"}',
    )
    telemetry.submit(UsageRecord(status="in_flight"))
    telemetry.submit(ok)
    telemetry.submit(UsageRecord(project="shop", model="gpt-4o", status="error", http_status=502, latency_ms=10))
    telemetry.close()
    first, second = exporter.get_finished_spans()
    assert first.attributes is not None and second.attributes is not None
    # the GenAI convention's span name: "{gen_ai.operation.name} {gen_ai.request.model}"
    assert first.name == "chat claude-sonnet-4"
    assert first.attributes["gen_ai.operation.name"] == "chat"
    assert first.attributes["memproxy.project"] == "shop"
    assert first.attributes["memproxy.endpoint"] == "/v1/messages"
    assert first.attributes["gen_ai.request.model"] == "claude-sonnet-4"
    # input_tokens includes the cache tokens, as the convention defines it (the databank keeps them apart)
    assert first.attributes["gen_ai.usage.input_tokens"] == 12 + 100 + 20
    assert first.attributes["gen_ai.usage.output_tokens"] == 3
    assert first.attributes["gen_ai.usage.cache_read.input_tokens"] == 100
    assert first.attributes["gen_ai.usage.cache_creation.input_tokens"] == 20
    old_names = {"gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_creation_input_tokens"}
    assert not old_names & set(first.attributes)
    assert first.attributes["memproxy.cost_usd"] == 0.002
    assert first.end_time is not None and first.start_time is not None
    assert first.end_time - first.start_time == 1_500_000_000
    assert "prompt" not in str(dict(first.attributes))
    assert second.status.status_code == StatusCode.ERROR
    assert second.attributes["http.response.status_code"] == 502
    assert second.attributes["error.type"] == "502"
    assert "error.type" not in first.attributes


@pytest.mark.parametrize(
    ("endpoint", "operation"),
    [
        ("/v1/chat/completions", "chat"),
        ("/v1/responses", "chat"),
        ("/v1/embeddings", "embeddings"),
        ("/v1beta/models/gemini-2.5-flash:streamGenerateContent", "generate_content"),
    ],
)
def test_the_operation_name_follows_the_endpoint(endpoint: str, operation: str) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    telemetry = start_telemetry(None, exporter=exporter)
    assert telemetry is not None
    telemetry.submit(UsageRecord(endpoint=endpoint, model="m", status="client_disconnected", latency_ms=5))
    telemetry.close()
    (span,) = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["gen_ai.operation.name"] == operation
    assert span.name == f"{operation} m"
    assert "error.type" not in span.attributes  # a client hanging up is not the model's error
