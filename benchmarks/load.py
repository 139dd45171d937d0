"""Load generators for the overhead benchmark: each measures one figure against a set of paths.

A "path" is a base URL (the fake upstream directly, the gateway, an interceptor port, the LiteLLM
proxy); a `Case` is one kind of request (an endpoint and a body, encoded once). Latency is measured
at concurrency 1 with the paths interleaved so machine noise hits them alike. Concurrent streams
are read by several worker processes over raw sockets (`streams_concurrent`), so the generator
keeps up on its own: the benchmark shows it reading the upstream directly with no stall.
Requests/s at a concurrency come from `wrk` (benchmarks/wrk.py).
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from benchmarks import bodies

HEADERS = {
    "authorization": "Bearer sk-bench",
    "x-api-key": "sk-bench",
    "anthropic-version": "2023-06-01",
    "content-type": "application/json",
}


@dataclass(frozen=True)
class Case:
    """One kind of request: where it goes, the body (and its streaming twin), encoded once."""

    name: str
    endpoint: str
    body: bytes
    stream_body: bytes = b""


def case(name: str, endpoint: str, make: bodies.Maker, model: str) -> Case:
    return Case(name, endpoint, bodies.encoded(make(model)), bodies.encoded(make(model, stream=True)))


SMALL = case("small", "/v1/chat/completions", bodies.small_chat, "gpt-4o-mini")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def make_client(limit: int = 128) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit)
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0), headers=HEADERS)


async def one_request(client: httpx.AsyncClient, base: str, kind: Case = SMALL) -> float:
    """Seconds for one non-streaming request."""
    t0 = time.perf_counter()
    response = await client.post(f"{base}{kind.endpoint}", content=kind.body)
    if response.status_code != 200:
        raise RuntimeError(f"{base}{kind.endpoint} ({kind.name}): {response.status_code} {response.text[:300]}")
    return time.perf_counter() - t0


async def latency_c1(paths: dict[str, str], cases: list[Case], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Non-streaming latency at concurrency 1: case by case, paths in a fresh random order each round."""
    clients = {name: make_client(4) for name in paths}
    results: dict[str, dict[str, list[float]]] = {c.name: {name: [] for name in paths} for c in cases}
    try:
        for kind in cases:
            for name, base in paths.items():  # warm-up: connections, LiteLLM's first-call imports
                for _ in range(5):
                    await one_request(clients[name], base, kind)
        names = list(paths)
        for _ in range(rounds):
            for kind in cases:
                random.shuffle(names)
                for name in names:
                    results[kind.name][name].append(await one_request(clients[name], paths[name], kind))
    finally:
        for client in clients.values():
            await client.aclose()
    return results


@dataclass
class StreamTiming:
    ttft: float
    gaps: list[float] = field(default_factory=list)
    chunks: int = 0


async def one_stream(base: str, kind: Case = SMALL) -> StreamTiming:
    """Time to the first content event and the gaps between content events of one streamed answer.

    A raw HTTP/1.1 request over its own connection, read line by line: no client library's
    parsing between the bytes and the clock, so one process can follow many streams."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
    request = (
        f"POST {kind.endpoint} HTTP/1.1\r\nhost: {url.netloc}\r\n{head}"
        f"content-length: {len(kind.stream_body)}\r\nconnection: close\r\n\r\n"
    ).encode() + kind.stream_body
    t0 = time.perf_counter()
    timing = StreamTiming(ttft=float("nan"))
    last = t0
    try:
        writer.write(request)
        await writer.drain()
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"{base}{kind.endpoint}: {status!r}")
        while line := await reader.readline():
            if not line.startswith(b"data: ") or (b'"content"' not in line and b'"text_delta"' not in line):
                continue
            if b'"content":""' in line or b'"content": ""' in line:
                continue  # the role's opening event: no text yet
            now = time.perf_counter()
            if timing.chunks == 0:
                timing.ttft = now - t0
            else:
                timing.gaps.append(now - last)
            last = now
            timing.chunks += 1
    finally:
        writer.close()
    return timing


async def streams_c1(paths: dict[str, str], rounds: int) -> dict[str, list[StreamTiming]]:
    """Streaming TTFT and inter-chunk gaps at concurrency 1, interleaved."""
    results: dict[str, list[StreamTiming]] = {name: [] for name in paths}
    for base in paths.values():
        await one_stream(base)
    names = list(paths)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            results[name].append(await one_stream(paths[name]))
    return results


def _streams_in_process(base: str, n: int) -> list[StreamTiming]:
    async def run() -> list[StreamTiming]:
        return list(await asyncio.gather(*(one_stream(base) for _ in range(n))))

    return asyncio.run(run())


def streams_concurrent(base: str, n: int, processes: int = 4) -> list[StreamTiming]:
    """`n` streams at once through one path, read by `processes` worker processes."""
    per = [n // processes + (1 if i < n % processes else 0) for i in range(processes)]
    with ProcessPoolExecutor(processes) as pool:
        pool.submit(median, [0.0]).result()  # the workers are up (and imported) before the clock starts
        futures = [pool.submit(_streams_in_process, base, k) for k in per if k]
        return [t for f in futures for t in f.result()]


def stalled(timings: list[StreamTiming], cadence_s: float) -> int:
    """Streams with any gap over twice the upstream's cadence."""
    return sum(1 for t in timings if any(g > 2 * cadence_s for g in t.gaps))


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
