"""The overhead benchmark's table: every figure beside the issue's target, met or missed."""

from __future__ import annotations

import math
from typing import Any

OURS, THEIRS = "interceptor+gateway", "litellm-proxy"

# added p50 through a project port as a share of the LiteLLM proxy's (issue 17)
RATIO_TARGETS = {
    "small chat": 1 / 6,
    "small messages": 1 / 6,
    "long chat": 1 / 4,
    "claude-code messages": 1 / 4,
    "small openai->anthropic": 1 / 2,
    "small anthropic->openai": 1 / 2,
    "long chat openai->anthropic": 1 / 2,
    "claude-code anthropic->openai": 1 / 2,
}
CLI = ("help_ms", "status_ms", "ports_ms", "logs_ms")
# figure: (target, "max" = at most / "min" = at least)
LIMITS = {
    "help_ms": (150.0, "max"),
    "status_ms": (150.0, "max"),
    "ports_ms": (150.0, "max"),
    "logs_ms": (150.0, "max"),
    "daemon_rss_idle_mb": (200.0, "max"),
    "up_to_first_answer_ms": (3000.0, "max"),
}


def _verdict(value: float, target: float, way: str) -> str:
    if math.isnan(value):
        return "n/a"
    ok = value <= target if way == "max" else value >= target
    return "met" if ok else "MISSED"


def _cell(value: Any) -> str:
    return f"{value:14.2f}" if isinstance(value, float) else f"{value!s:>14}"


def report(figures: dict[str, Any]) -> str:
    latency: dict[str, dict[str, dict[str, float]]] = figures["latency"]
    cols = list(next(iter(latency.values())))
    short = {"interceptor+gateway": "project port", "litellm-proxy": "litellm"}
    head = "".join(short.get(c, c).rjust(14) for c in cols)
    lines = ["added latency p50 at c=1 (ms)".ljust(32) + head + "ratio".rjust(8) + "target".rjust(8) + "  verdict"]
    for kind, per_path in latency.items():
        cells = "".join(_cell(per_path[c]["added_p50_ms"]) for c in cols)
        ratio = math.nan
        if OURS in per_path and THEIRS in per_path and per_path[THEIRS]["added_p50_ms"] > 0:
            ratio = per_path[OURS]["added_p50_ms"] / per_path[THEIRS]["added_p50_ms"]
        target = RATIO_TARGETS.get(kind, math.nan)
        lines.append(f"{kind.ljust(32)}{cells}{ratio:8.2f}{target:8.2f}  {_verdict(ratio, target, 'max')}")
    paths: dict[str, dict[str, Any]] = figures["paths"]
    lines.append("")
    lines.append("streams, small chat".ljust(32) + head)
    for label, key in (("added TTFT p50 (ms)", "added_ttft_p50_ms"), ("added gap p99 (ms)", "added_gap_p99_ms"),
                       ("stalled of 64 at once", "stalled_of_64"), ("complete of 64", "streams_complete_of_64"),
                       (f"requests/s c=16 ({figures.get('load_generator', '?')[:6]})", "rps_c16")):  # fmt: skip
        lines.append(label.ljust(32) + "".join(_cell(paths[c].get(key, math.nan)) for c in cols))
    lines.append("")
    if OURS in paths and THEIRS in paths:
        rps = paths[OURS]["rps_c16"] / paths[THEIRS]["rps_c16"]
        verdict = _verdict(rps, 5, "min")
        lines.append(f"{'rps c=16: project port / litellm'.ljust(34)}{rps:10.2f}  target >= 5: {verdict}")
    stalls = paths.get(OURS, {}).get("stalled_of_64", math.nan)
    lines.append(f"{'stalled streams, project port'.ljust(34)}{stalls:10}  target 0: {_verdict(stalls, 0, 'max')}")
    lines.append(f"{'stalled streams, upstream direct'.ljust(34)}{paths['direct'].get('stalled_of_64')!s:>10}"
                 "  (the generator keeps up when 0)")  # fmt: skip
    for key in ("daemon_rss_idle_mb", "daemon_rss_64_streams_mb", "daemon_rss_after_requests_mb",
                "up_to_first_answer_ms", "import_litellm_ms", *CLI):  # fmt: skip
        if key not in figures:
            continue
        line = f"{key.ljust(34)}{figures[key]:10.1f}"
        if key in LIMITS:
            target, way = LIMITS[key]
            line += f"  target {'<=' if way == 'max' else '>='} {target:g}: {_verdict(figures[key], target, way)}"
        lines.append(line)
    return "\n".join(lines)
