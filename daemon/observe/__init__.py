"""Observability beside the databank: each finished record also goes to these sinks.

metrics     Prometheus counters and histograms for `GET /metrics`; FanOut (writer + sinks)
telemetry   OpenTelemetry: one span per finished request over OTLP/HTTP (optional extra)
logfile     the daemon log: one rotating 0600 file, every line through one handler
"""
