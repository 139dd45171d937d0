"""Whether a big databank changes the request path: one daemon on an empty databank, one on a big one.

    python -m benchmarks.profile_databank --databank PATH/memproxy.db [--rounds 300]

Build the big one first (`python -m benchmarks.stats_million --dir PATH --keep`); it is copied, not
changed. Starts the fake upstream and two real daemons through the CLI (`memproxy up`, each with its
own MEMPROXY_HOME and port), then sends requests to both at concurrency 1, interleaved: on the fast
path (a gpt-* model) and through LiteLLM (a claude-* model asked for on /v1/chat/completions, which
LiteLLM translates). It prints each daemon's p50/p99, how long `up` took, and the rows each wrote.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.overhead import ROOT, free_port, wait_http
from tests.support.config import gateway_config

BODIES = {
    "fast path": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]},
    "translated": {"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
}
MEMPROXY = str(Path(sys.executable).with_name("memproxy"))


def up(home: Path, config: str) -> tuple[str, float]:
    """Start a daemon in `home` through the CLI; its base URL and seconds to its first answer."""
    (home / "config.yaml").write_text(config)
    env = {**os.environ, "MEMPROXY_HOME": str(home)}
    env.pop("MEMPROXY_CONFIG", None)
    port = free_port()
    t0 = time.perf_counter()
    done = subprocess.run([MEMPROXY, "up", "--port", str(port)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memproxy up failed: {done.stderr}")
    base = f"http://127.0.0.1:{port}"
    httpx.post(f"{base}/v1/chat/completions", json=BODIES["fast path"], timeout=120).raise_for_status()
    return base, time.perf_counter() - t0


def down(home: Path) -> None:
    env = {**os.environ, "MEMPROXY_HOME": str(home)}
    subprocess.run([MEMPROXY, "down"], env=env, capture_output=True, check=False)


async def measure(bases: dict[str, str], rounds: int) -> dict[tuple[str, str], list[float]]:
    headers = {"x-memproxy-project": "bench"}
    times: dict[tuple[str, str], list[float]] = {(d, p): [] for d in bases for p in BODIES}
    keys = list(times)
    async with httpx.AsyncClient(timeout=30, headers=headers) as client:
        for daemon, path in keys * 5:  # warm-up: connections, LiteLLM's first call
            (await client.post(f"{bases[daemon]}/v1/chat/completions", json=BODIES[path])).raise_for_status()
        for _ in range(rounds):
            random.shuffle(keys)
            for daemon, path in keys:
                t0 = time.perf_counter()
                r = await client.post(f"{bases[daemon]}/v1/chat/completions", json=BODIES[path])
                times[(daemon, path)].append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
    return times


def rows(home: Path) -> tuple[int, int]:
    with sqlite3.connect(home / "memproxy.db") as conn:
        (total,) = conn.execute("SELECT count(*) FROM requests").fetchone()
        (ours,) = conn.execute("SELECT count(*) FROM requests WHERE project = 'bench'").fetchone()
    return int(ours), int(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_databank", description=__doc__)
    parser.add_argument("--databank", type=Path, required=True, help="a big memproxy.db (copied, not changed)")
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="memproxy-databank-"))
    homes = {"empty": root / "empty", "big": root / "big"}
    for home in homes.values():
        home.mkdir()
    shutil.copy(args.databank, homes["big"] / "memproxy.db")
    fake_port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.support.upstream", "--port", str(fake_port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        upstream = f"http://127.0.0.1:{fake_port}"
        wait_http(f"{upstream}/v1/models")
        started = {name: up(home, gateway_config(upstream, memory=False)) for name, home in homes.items()}
        times = asyncio.run(measure({name: base for name, (base, _) in started.items()}, args.rounds))
        for name, (_, seconds) in started.items():
            print(f"{name:5} databank: up to the first answer {seconds:5.2f} s")
        for (daemon, path), values in times.items():
            ordered = sorted(values)
            print(f"{daemon:5} databank, {path:10}  p50 {statistics.median(values):6.2f} ms  "
                  f"p99 {ordered[round(0.99 * (len(ordered) - 1))]:6.2f} ms")  # fmt: skip
    finally:
        for home in homes.values():
            down(home)
        fake.terminate()
        fake.wait(10)
    for name, home in homes.items():
        ours, total = rows(home)
        print(f"{name:5} databank: {ours} rows of project bench written, {total} rows in all")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
