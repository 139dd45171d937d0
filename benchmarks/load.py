"""Load generators for the overhead benchmark: each measures one figure against a set of paths.

A "path" is a base URL that answers OpenAI chat completions (the fake upstream directly, the
gateway, an interceptor port, the LiteLLM proxy). Paths are measured interleaved so machine noise
hits them alike.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field

import httpx

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "say hello to the benchmark"}]}
STREAM_BODY = {**BODY, "stream": True}
HEADERS = {"authorization": "Bearer sk-bench"}


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def make_client(limit: int = 128) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0), headers=HEADERS)


async def one_request(client: httpx.AsyncClient, base: str) -> float:
    """Seconds for one non-streaming chat completion."""
    t0 = time.perf_counter()
    response = await client.post(f"{base}/v1/chat/completions", json=BODY)
    response.raise_for_status()
    return time.perf_counter() - t0


async def latency_c1(paths: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """Non-streaming latency at concurrency 1, paths interleaved in a fresh random order each round."""
    clients = {name: make_client(4) for name in paths}
    results: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for name, base in paths.items():  # warm-up: connections, LiteLLM's first-call imports
            for _ in range(5):
                await one_request(clients[name], base)
        names = list(paths)
        for _ in range(rounds):
            random.shuffle(names)
            for name in names:
                results[name].append(await one_request(clients[name], paths[name]))
    finally:
        for client in clients.values():
            await client.aclose()
    return results


@dataclass
class StreamTiming:
    ttft: float
    gaps: list[float] = field(default_factory=list)
    chunks: int = 0


async def one_stream(client: httpx.AsyncClient, base: str) -> StreamTiming:
    """Time to first content chunk and the gaps between content chunks of one streamed answer."""
    t0 = time.perf_counter()
    first: float | None = None
    last = t0
    timing = StreamTiming(ttft=float("nan"))
    async with client.stream("POST", f"{base}/v1/chat/completions", json=STREAM_BODY) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]" or '"content"' not in line:
                continue
            now = time.perf_counter()
            if first is None:
                first = now
                timing.ttft = now - t0
            else:
                timing.gaps.append(now - last)
            last = now
            timing.chunks += 1
    return timing


async def streams_c1(paths: dict[str, str], rounds: int) -> dict[str, list[StreamTiming]]:
    """Streaming TTFT and inter-chunk gaps at concurrency 1, interleaved."""
    clients = {name: make_client(4) for name in paths}
    results: dict[str, list[StreamTiming]] = {name: [] for name in paths}
    try:
        for name, base in paths.items():
            await one_stream(clients[name], base)
        names = list(paths)
        for _ in range(rounds):
            random.shuffle(names)
            for name in names:
                results[name].append(await one_stream(clients[name], paths[name]))
    finally:
        for client in clients.values():
            await client.aclose()
    return results


async def streams_concurrent(base: str, n: int) -> list[StreamTiming]:
    """`n` streams at once through one path."""
    client = make_client(n + 8)
    try:
        return list(await asyncio.gather(*(one_stream(client, base) for _ in range(n))))
    finally:
        await client.aclose()


def stalled(timings: list[StreamTiming], cadence_s: float) -> int:
    """Streams with any gap over twice the upstream's cadence."""
    return sum(1 for t in timings if any(g > 2 * cadence_s for g in t.gaps))


async def throughput(base: str, concurrency: int, seconds: float) -> float:
    """Completed non-streaming requests per second with `concurrency` workers."""
    client = make_client(concurrency + 4)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one_request(client, base)
            done += 1

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - t0)
    finally:
        await client.aclose()


async def many_requests(base: str, total: int, concurrency: int) -> None:
    client = make_client(concurrency + 4)
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one_request(client, base)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await client.aclose()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
