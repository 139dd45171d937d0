"""OpenTelemetry traces: one span per finished request, sent over OTLP/HTTP.

Only when an endpoint is given (the daemon passes `OTEL_EXPORTER_OTLP_ENDPOINT` or the config's);
otherwise nothing of OpenTelemetry is imported. The SDK is the optional extra `memproxy[otel]`:
without it, one warning and no traces. `Telemetry` is a record sink, fed beside the usage writer.
Spans carry project, model, tokens, cost and status: never a key, a user or a prompt.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from daemon.usage.record import ERROR_STATUSES, UsageRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("memproxy.telemetry")


class Telemetry:
    """Turns each finished `UsageRecord` into a span, timed from its start and latency."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._provider = provider
        self._tracer = provider.get_tracer("memproxy")
        self._error = Status(StatusCode.ERROR)

    def submit(self, record: UsageRecord) -> None:
        if record.status == "in_flight":
            return
        try:
            self._span(record)
        except Exception:  # tracing must never break a request
            log.exception("could not trace request %s", record.id)

    def close(self) -> None:
        """Send what is buffered and stop the exporter."""
        self._provider.shutdown()

    def _span(self, record: UsageRecord) -> None:
        start_ns = int(datetime.fromisoformat(record.started_at).timestamp() * 1e9)
        end_ns = start_ns + int((record.latency_ms or 0.0) * 1e6)
        attributes: dict[str, Any] = {
            "memproxy.project": record.project,
            "memproxy.status": record.status,
            "memproxy.endpoint": record.endpoint,
            "gen_ai.request.model": record.model or "",
            "gen_ai.response.model": record.resolved_model or "",
            "gen_ai.provider.name": record.provider or "",
            "gen_ai.usage.input_tokens": record.input_tokens,
            "gen_ai.usage.output_tokens": record.output_tokens,
            "gen_ai.usage.cache_read_input_tokens": record.cache_read_tokens,
            "gen_ai.usage.cache_creation_input_tokens": record.cache_write_tokens,
            "memproxy.stream": record.stream,
        }
        optional = {
            "memproxy.cost_usd": record.cost_usd,
            "memproxy.ttft_ms": record.ttft_ms,
            "http.response.status_code": record.http_status,
        }
        attributes.update({name: value for name, value in optional.items() if value is not None})
        span = self._tracer.start_span(
            f"{record.endpoint or 'request'} {record.model or ''}".strip(), start_time=start_ns, attributes=attributes
        )
        if record.status in ERROR_STATUSES:
            span.set_status(self._error)
        span.end(end_time=end_ns)


def start_telemetry(
    endpoint: str | None, *, service_name: str = "memproxy", exporter: SpanExporter | None = None
) -> Telemetry | None:
    """A `Telemetry` exporting to the OTLP/HTTP `endpoint` (a base URL), or None when there is none.

    `exporter` replaces the OTLP exporter (tests). Returns None, with one warning, when the
    OpenTelemetry SDK is not installed.
    """
    if not endpoint and exporter is None:
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        log.warning(
            "OpenTelemetry endpoint %s is set but the SDK is missing (%s): pip install 'memproxy[otel]'",
            endpoint,
            exc.name,
        )
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        assert endpoint is not None
        url = endpoint.rstrip("/")
        url = url if url.endswith("/v1/traces") else url + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return Telemetry(provider)
