"""OpenTelemetry traces: one span per finished request, sent over OTLP/HTTP.

Only when an endpoint is given (the daemon passes `OTEL_EXPORTER_OTLP_ENDPOINT` or the config's);
otherwise nothing of OpenTelemetry is imported. The SDK is the optional extra `memproxy[otel]`:
without it, one warning and no traces. `Telemetry` is a record sink, fed beside the usage writer.
Spans carry project, model, tokens, cost and status: never a key, a user or a prompt. Attribute names
are the GenAI semantic conventions' constants (`opentelemetry-semantic-conventions`, in the extra), with
their meanings: `gen_ai.usage.input_tokens` counts every input token, cache reads and writes included,
while the databank's `input_tokens` holds only those billed at the full rate (docs/analytics.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
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

        self._names = _attribute_names()
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
        n = self._names
        operation = operation_name(record.endpoint)
        attributes: dict[str, Any] = {
            "memproxy.project": record.project,
            "memproxy.status": record.status,
            "memproxy.endpoint": record.endpoint,
            n.request_model: record.model or "",
            n.response_model: record.resolved_model or "",
            n.provider: record.provider or "",
            # the convention's input_tokens include cache reads and writes; the databank's do not
            n.input_tokens: record.input_tokens + record.cache_read_tokens + record.cache_write_tokens,
            n.output_tokens: record.output_tokens,
            n.cache_read: record.cache_read_tokens,
            n.cache_creation: record.cache_write_tokens,
            "memproxy.usage.cache_creation_1h_input_tokens": record.cache_write_1h_tokens,
            n.reasoning: record.reasoning_tokens,
            "memproxy.stream": record.stream,
        }
        failed = record.status in ERROR_STATUSES
        optional = {
            n.operation: operation,
            "memproxy.cost_usd": record.cost_usd,
            "memproxy.service_tier": record.service_tier,
            "memproxy.ttft_ms": record.ttft_ms,
            n.http_status: record.http_status,
            # low-cardinality, as the convention asks: the HTTP status the client got, else memproxy's status
            n.error_type: str(record.http_status or record.status) if failed else None,
        }
        attributes.update({name: value for name, value in optional.items() if value is not None})
        # the convention's span name: "{gen_ai.operation.name} {gen_ai.request.model}"
        name = f"{operation or record.endpoint or 'request'} {record.model or ''}".strip()
        span = self._tracer.start_span(name, start_time=start_ns, attributes=attributes)
        if failed:
            span.set_status(self._error)
        span.end(end_time=end_ns)


@dataclass(frozen=True)
class _Names:
    """The semantic-convention attribute names a span uses, read from the package once."""

    operation: str
    request_model: str
    response_model: str
    provider: str
    input_tokens: str
    output_tokens: str
    cache_read: str
    cache_creation: str
    reasoning: str
    http_status: str
    error_type: str


def _attribute_names() -> _Names:
    # GenAI attributes live only in the package's incubating module (the convention is still in development)
    from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
    from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
    from opentelemetry.semconv.attributes.http_attributes import HTTP_RESPONSE_STATUS_CODE

    return _Names(
        operation=gen_ai.GEN_AI_OPERATION_NAME,
        request_model=gen_ai.GEN_AI_REQUEST_MODEL,
        response_model=gen_ai.GEN_AI_RESPONSE_MODEL,
        provider=gen_ai.GEN_AI_PROVIDER_NAME,
        input_tokens=gen_ai.GEN_AI_USAGE_INPUT_TOKENS,
        output_tokens=gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS,
        cache_read=gen_ai.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        cache_creation=gen_ai.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        reasoning=gen_ai.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        http_status=HTTP_RESPONSE_STATUS_CODE,
        error_type=ERROR_TYPE,
    )


def operation_name(endpoint: str) -> str | None:
    """The convention's `gen_ai.operation.name` for a databank endpoint; None for one that generates nothing.

    Spelled here once: the package's `GenAiOperationNameValues` enum is marked deprecated (moved to the
    GenAI conventions' own repository) and warns when used.
    """
    if not endpoint or endpoint.endswith("/count_tokens"):
        return None
    if endpoint == "/v1/embeddings":
        return "embeddings"
    if endpoint.endswith(("generateContent", "GenerateContent")):
        return "generate_content"
    return "chat"


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
        import opentelemetry.semconv._incubating.attributes.gen_ai_attributes  # noqa: F401 - part of the extra
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
