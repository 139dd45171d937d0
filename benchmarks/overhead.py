"""The overhead benchmark: what memproxy adds on top of talking to the provider directly.

    python -m benchmarks.overhead [--quick] [--litellm-bin PATH] [--out benchmarks/results.json]

Starts a fast fake upstream (its own process; OpenAI and Anthropic; streams of 64 chunks at a
20 ms cadence), the real memproxy daemon through its CLI (gateway and one project's interceptor
port) and, when the `litellm` proxy binary is installed (`pip install -e '.[bench]'`, or
`--litellm-bin`), the LiteLLM proxy with an equivalent config. Then it measures every path
interleaved in one run and prints one table: added latency per kind of request (small bodies,
a long OpenAI chat, a Claude-Code-sized `/v1/messages`, and requests LiteLLM translates, both
ways), streams, requests/s at c=16 (`wrk`, benchmarks/wrk.py), RSS, `up` and CLI wall times,
each against the issue's target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import bodies, load, wrk
from benchmarks.load import case
from benchmarks.report import report

ROOT = Path(__file__).resolve().parent.parent
CADENCE_S = 0.020
CHUNKS = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 120.0) -> float:
    """Seconds until `url` answers 200."""
    import httpx

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return time.perf_counter() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wall(cmd: list[str], env: dict[str, str], runs: int = 5) -> float:
    """Median wall time in ms of a short command."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return load.median(times)


class Stack:
    """The processes under test, started and stopped together."""

    def __init__(self, litellm_bin: str | None) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="memproxy-bench-"))
        self.env = {**os.environ, "MEMPROXY_HOME": str(self.home)}
        self.env.pop("MEMPROXY_CONFIG", None)
        # an installed memproxy runs from cached bytecode: without it every CLI run compiles its modules again
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.memproxy = [str(Path(sys.executable).with_name("memproxy"))]
        self.fake_port, self.gateway_port, self.litellm_port = free_port(), free_port(), free_port()
        self.litellm_bin = litellm_bin
        self.procs: list[subprocess.Popen[bytes]] = []
        self.paths: dict[str, str] = {}
        self.figures: dict[str, Any] = {}

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.memproxy, *args], env=self.env, capture_output=True, text=True, check=False)

    def start(self) -> None:
        fake = f"http://127.0.0.1:{self.fake_port}"
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.support.upstream", "--port", str(self.fake_port), "--latency-ms", "1",
                 "--chunks", str(CHUNKS), "--chunk-interval-ms", str(CADENCE_S * 1000)],
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        wait_http(f"{fake}/v1/models")
        self.paths["direct"] = fake
        config = {
            "model_list": [
                {"model_name": "gpt-*", "litellm_params": {"model": "openai/gpt-*", "api_base": f"{fake}/v1",
                                                            "api_key": "sk-bench-upstream"}},
                {"model_name": "claude-*", "litellm_params": {"model": "anthropic/claude-*", "api_base": fake,
                                                               "api_key": "sk-ant-bench-upstream"}},
            ],
            "router_settings": {"num_retries": 0},
        }  # fmt: skip
        (self.home / "config.yaml").write_text(json.dumps(config))
        self._start_memproxy()
        self._start_litellm(config)

    def _start_memproxy(self) -> None:
        import httpx

        t0 = time.perf_counter()
        up = self.cli("up", "--port", str(self.gateway_port))
        if up.returncode != 0:
            raise RuntimeError(f"memproxy up failed: {up.stderr}")
        gateway = f"http://127.0.0.1:{self.gateway_port}"
        first = httpx.post(f"{gateway}/v1/chat/completions", content=load.SMALL.body, headers=load.HEADERS, timeout=60)
        first.raise_for_status()
        self.figures["up_to_first_answer_ms"] = (time.perf_counter() - t0) * 1000
        self.paths["gateway"] = gateway
        status = json.loads(self.cli("status", "--json").stdout)
        self.daemon_pid = int(status["pid"])
        assign = self.cli("ports", "assign", "bench")
        ports = json.loads(self.cli("ports", "--json").stdout or "[]") if assign.returncode == 0 else []
        bench = [p for p in ports if p.get("name") == "bench"]
        if bench:
            wait_http(f"http://127.0.0.1:{bench[0]['port']}/health")
            self.paths["interceptor+gateway"] = f"http://127.0.0.1:{bench[0]['port']}"

    def _start_litellm(self, config: dict[str, Any]) -> None:
        binary = self.litellm_bin or shutil.which("litellm")
        if not binary:
            print("LiteLLM proxy not installed (pip install -e '.[bench]'): its column is skipped", file=sys.stderr)
            return
        path = self.home / "litellm.json"
        path.write_text(json.dumps({**config, "litellm_settings": {"drop_params": True}}))
        env = {**self.env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_MASTER_KEY": "sk-bench"}
        self.procs.append(
            subprocess.Popen(
                [binary, "--config", str(path), "--port", str(self.litellm_port), "--num_workers", "1"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
        base = f"http://127.0.0.1:{self.litellm_port}"
        wait_http(f"{base}/health/liveliness", timeout=180)
        self.paths["litellm-proxy"] = base

    def stop(self) -> None:
        self.cli("down")
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.home, ignore_errors=True)


CASES = [  # name, endpoint, body, model: the model picks the deployment (gpt-* OpenAI, claude-* Anthropic)
    case("small chat", "/v1/chat/completions", bodies.small_chat, "gpt-4o-mini"),
    case("small messages", "/v1/messages", bodies.small_messages, "claude-sonnet-4-5"),
    case("long chat", "/v1/chat/completions", bodies.long_chat, "gpt-4o-mini"),
    case("claude-code messages", "/v1/messages", bodies.claude_code, "claude-sonnet-4-5"),
    case("small openai->anthropic", "/v1/chat/completions", bodies.small_chat, "claude-sonnet-4-5"),
    case("small anthropic->openai", "/v1/messages", bodies.small_messages, "gpt-4o-mini"),
    case("long chat openai->anthropic", "/v1/chat/completions", bodies.long_chat, "claude-sonnet-4-5"),
    case("claude-code anthropic->openai", "/v1/messages", bodies.claude_code, "gpt-4o-mini"),
]


def _latency(lat: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, dict[str, float]]]:
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for kind, per_path in lat.items():
        direct = per_path["direct"]
        figures[kind] = {
            name: {"p50_ms": load.pct(v, 50) * 1000, "added_p50_ms": (load.pct(v, 50) - load.pct(direct, 50)) * 1000,
                   "added_p99_ms": (load.pct(v, 99) - load.pct(direct, 99)) * 1000}
            for name, v in per_path.items()
        }  # fmt: skip
    return figures


async def _streams(stack: Stack, quick: bool, per_path: dict[str, dict[str, Any]]) -> None:
    streams = await load.streams_c1(stack.paths, 5 if quick else 15)
    direct_ttft = load.median([t.ttft for t in streams["direct"]])
    direct_gap99 = load.pct([g for t in streams["direct"] for g in t.gaps], 99)
    for name, timings in streams.items():
        gaps = [g for t in timings for g in t.gaps]
        per_path[name]["added_ttft_p50_ms"] = (load.median([t.ttft for t in timings]) - direct_ttft) * 1000
        per_path[name]["added_gap_p99_ms"] = (load.pct(gaps, 99) - direct_gap99) * 1000
    peak_rss = 0.0
    for name, base in stack.paths.items():
        task = asyncio.ensure_future(asyncio.to_thread(load.streams_concurrent, base, 64))
        while not task.done():
            if name in ("gateway", "interceptor+gateway"):
                peak_rss = max(peak_rss, rss_mb(stack.daemon_pid))
            await asyncio.sleep(0.1)
        timings = task.result()
        per_path[name]["stalled_of_64"] = load.stalled(timings, CADENCE_S)
        per_path[name]["streams_complete_of_64"] = sum(1 for t in timings if t.chunks == CHUNKS)
    stack.figures["daemon_rss_64_streams_mb"] = peak_rss


async def measure(stack: Stack, quick: bool) -> dict[str, Any]:
    figures = stack.figures
    figures["daemon_rss_idle_mb"] = rss_mb(stack.daemon_pid)
    figures["latency"] = _latency(await load.latency_c1(stack.paths, CASES, 60 if quick else 300))
    per_path: dict[str, dict[str, Any]] = {name: {} for name in stack.paths}
    await _streams(stack, quick, per_path)
    for name, base in stack.paths.items():
        per_path[name]["rps_c16"] = await asyncio.to_thread(wrk.throughput, base, 16, 3.0 if quick else 8.0)
    figures["load_generator"] = "wrk" if wrk.available() else "python (wrk not installed: apt-get install wrk)"
    total = 2000 if quick else 10_000
    await load.many_requests(stack.paths["gateway"], total, 16)
    figures["daemon_rss_after_requests_mb"] = rss_mb(stack.daemon_pid)
    figures["requests_for_rss"] = total
    figures["paths"] = per_path
    return figures


def cli_times(stack: Stack) -> dict[str, float]:
    """Median wall time (ms, 9 runs, Python's start included) of the CLI commands people type most."""
    commands = {"help_ms": ["--help"], "status_ms": ["status"], "ports_ms": ["ports"], "logs_ms": ["logs", "-n", "5"]}
    return {key: wall([*stack.memproxy, *args], stack.env, runs=9) for key, args in commands.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overhead", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run, about a minute)")
    parser.add_argument("--litellm-bin", help="path of the `litellm` proxy binary (default: on PATH)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args(argv)
    stack = Stack(args.litellm_bin)
    try:
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        stack.figures["import_litellm_ms"] = wall([sys.executable, "-c", "import litellm"], env, runs=3)
        stack.start()
        stack.figures.update(cli_times(stack))
        figures = asyncio.run(measure(stack, args.quick))
    finally:
        stack.stop()
    print(report(figures))
    Path(args.out).write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
