"""`memproxy stats` on a million-row databank: must answer in well under a second.

    python -m benchmarks.stats_million [--rows 1000000] [--days 7] [--dir PATH] [--keep]

Generates a databank with the real schema (every migration, index and full-text trigger applied,
rows written in time order as the daemon would), then times `usage_stats` for each grouping over
the whole time range (median of 3, in process) and `memproxy stats --json` through the CLI
(one run each, including interpreter start). Reuses the databank in `--dir` if it is complete.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from daemon.usage.record import COLUMNS, UsageRecord, iso_utc
from daemon.usage.stats import GROUPS, usage_stats
from daemon.usage.store import open_db

PROJECTS = [f"project-{i:02d}" for i in range(20)]
MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-5",
    "o3",
    "claude-sonnet-4",
    "claude-haiku-4",
    "claude-opus-4",
    "gemini-2.5-pro",
]
CLIENTS = [
    "claude-cli/1.0.83 (external, cli)",
    "claude-cli/1.0.90 (external, cli)",
    "OpenAI/Python 1.99.1",
    "aider/0.86.0",
    "codex_cli_rs/0.30.0",
    "curl/8.5.0",
    "JetBrains-AI-Assistant/251.2",
]
WORDS = ["refactor", "the", "parser", "add", "tests", "fix", "flaky", "build", "explain", "stack", "trace", "module"]


def _rows(n: int, days: float, seed: int = 7) -> Iterator[tuple[object, ...]]:
    rng = random.Random(seed)
    end = datetime.now(UTC) - timedelta(minutes=1)
    start = end - timedelta(days=days)
    step = (end - start) / n
    for i in range(n):
        status = rng.choices(("ok", "error", "client_disconnected"), (96, 3, 1))[0]
        prompt = " ".join(rng.choices(WORDS, k=8))
        values: dict[str, object] = {
            "id": uuid.uuid4().hex,
            "started_at": iso_utc(start + step * i),
            "project": rng.choice(PROJECTS),
            "user_id": "default",
            "client": rng.choice(CLIENTS),
            "endpoint": "/v1/messages",
            "model": rng.choice(MODELS),
            "stream": True,
            "status": status,
            "http_status": 200 if status == "ok" else 429,
            "input_tokens": rng.randint(50, 60_000),
            "output_tokens": rng.randint(1, 4_000),
            "cache_read_tokens": rng.randint(0, 120_000),
            "cache_write_tokens": rng.randint(0, 8_000),
            "cost_usd": round(rng.random() * 0.2, 6),
            "latency_ms": round(rng.lognormvariate(7.2, 0.9), 3),
            "ttft_ms": round(rng.lognormvariate(6.3, 0.7), 3),
            "request_json": json.dumps({"messages": [{"role": "user", "content": prompt}]}),
            "response_text": "ok, " + " ".join(rng.choices(WORDS, k=6)),
        }
        yield UsageRecord(**values).as_row()  # type: ignore[arg-type]


def generate(db_file: Path, n: int, days: float) -> float:
    """Write `n` rows over the last `days` days; return the seconds it took."""
    t0 = time.perf_counter()
    conn = open_db(db_file)
    conn.execute("PRAGMA cache_size = -262144")  # 256 MB: eight indexes take turns in the cache
    insert = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"
    rows = _rows(n, days)
    while chunk := list(itertools.islice(rows, 50_000)):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(insert, chunk)
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - t0


def _count(db_file: Path) -> int:
    if not db_file.exists():
        return 0
    conn = open_db(db_file)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=7.0, help="spread the rows over this many days")
    parser.add_argument("--dir", type=Path, help="databank folder (MEMPROXY_HOME); reused when complete")
    parser.add_argument("--keep", action="store_true", help="keep a generated temporary folder")
    args = parser.parse_args()

    home = args.dir or Path(tempfile.mkdtemp(prefix="memproxy-stats-"))
    home.mkdir(parents=True, exist_ok=True)
    db_file = home / "memproxy.db"
    if _count(db_file) != args.rows:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        print(f"generating {args.rows:,} rows over {args.days:g} days in {db_file} ...", flush=True)
        print(f"  generated in {generate(db_file, args.rows, args.days):.1f} s", flush=True)
    size_mb = db_file.stat().st_size / 1e6
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs" if hasattr(os, "getloadavg") else ""
    print(f"databank: {args.rows:,} rows, {size_mb:,.0f} MB; {load}")

    since = datetime.now(UTC) - timedelta(days=args.days + 1)
    env = {**os.environ, "MEMPROXY_HOME": str(home)}
    cli = [sys.executable, "-c", "from memproxy_cli.main import app; app()"]
    if (Path(sys.executable).parent / "memproxy").exists():
        cli = [str(Path(sys.executable).parent / "memproxy")]
    for by in GROUPS:
        wall, cpu = [], []
        for _ in range(3):
            w0, c0 = time.perf_counter(), time.process_time()
            result = usage_stats(db_file, by=by, since=since)
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
        assert result["total"]["requests"] == args.rows, result["total"]
        w0 = time.perf_counter()
        done = subprocess.run(
            [*cli, "stats", "--by", by, "--since", f"{args.days + 1:g}d", "--json"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        cli_s = time.perf_counter() - w0
        assert json.loads(done.stdout)["total"]["requests"] == args.rows
        print(
            f"stats --by {by:<7} rows={len(result['rows']):>3}  query {statistics.median(wall):.3f} s"
            f" (cpu {statistics.median(cpu):.3f} s)  cli {cli_s:.3f} s"
        )
    if args.dir is None and not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
