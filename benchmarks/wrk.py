"""Requests/s at a concurrency, measured by `wrk`, a compiled load generator that keeps up on its own.

`wrk` is Debian's package (`apt-get install wrk`; other systems: the `wrk` package of their
distribution, or build it from its sources). The benchmark is not in CI, and without `wrk` it
falls back to a Python generator and says so in its output (that figure then also measures
the generator: one Python process tops out near what it is asked to measure).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.load import HEADERS, SMALL, Case, make_client, one_request

_SCRIPT = """wrk.method = "POST"
wrk.body = io.open("{body}", "rb"):read("*a")
{headers}
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def _rate(output: str) -> float:
    found = re.search(r"Requests/sec:\s+([0-9.]+)", output)
    if not found:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    if bad or errors:
        raise RuntimeError(f"wrk saw failed requests:\n{output}")
    return float(found.group(1))


def throughput(base: str, concurrency: int, seconds: float, kind: Case = SMALL) -> float:
    """Completed requests per second with `concurrency` connections (wrk, 2 threads)."""
    if not available():
        return asyncio.run(_python_throughput(base, concurrency, seconds, kind))
    with tempfile.TemporaryDirectory(prefix="memproxy-wrk-") as folder:
        body = Path(folder) / "body.json"
        body.write_bytes(kind.body)
        headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in HEADERS.items())
        script = Path(folder) / "post.lua"
        script.write_text(_SCRIPT.format(body=body, headers=headers))
        threads = min(2, concurrency)
        command = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds:g}s", "-s", str(script)]
        command.append(base + kind.endpoint)
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=seconds + 60)
        return _rate(done.stdout + done.stderr)


async def _python_throughput(base: str, concurrency: int, seconds: float, kind: Case) -> float:
    client = make_client(concurrency + 4)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one_request(client, base, kind)
            done += 1

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - t0)
    finally:
        await client.aclose()
