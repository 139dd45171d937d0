"""What memproxy adds to a Codex-sized Responses request, on the fast path and through LiteLLM.

    python -m benchmarks.responses_path [--rounds 200]

Starts the fake upstream and two daemons (`memproxy up` in temporary homes): one as configured by
default, where `/v1/responses` to a deployment with the Responses API takes the fast path, and one
with `general_settings.fast_path: false`, where LiteLLM's `aresponses` carries it (as every Responses
request went before the fast path covered them). Both run the same `gpt-*` deployment, declared to
have the Responses API (`use_chat_completions_api: false`), as OpenAI's does. Non-streamed and
streamed requests at concurrency 1, paths interleaved; prints each path's p50 and what it adds to
the upstream's own time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import bodies, load
from benchmarks.overhead import ROOT, free_port, wait_http


def _daemon(fake: str, fast_path: bool) -> tuple[str, dict[str, str]]:
    home = Path(tempfile.mkdtemp(prefix="memproxy-bench-responses-"))
    config = {
        "general_settings": {"fast_path": fast_path},
        "model_list": [
            {"model_name": "gpt-*", "litellm_params": {"model": "openai/gpt-*", "api_base": f"{fake}/v1",
                                                        "api_key": "sk-bench-upstream",
                                                        "use_chat_completions_api": False}},
        ],
        "router_settings": {"num_retries": 0},
    }  # fmt: skip
    (home / "config.yaml").write_text(json.dumps(config))
    env = {**os.environ, "MEMPROXY_HOME": str(home)}
    env.pop("MEMPROXY_CONFIG", None)
    port = free_port()
    memproxy = str(Path(sys.executable).with_name("memproxy"))
    up = subprocess.run([memproxy, "up", "--port", str(port)], env=env, capture_output=True, text=True, check=False)
    if up.returncode != 0:
        raise RuntimeError(f"memproxy up failed: {up.stderr}")
    return f"http://127.0.0.1:{port}", env


async def _streamed(client: httpx.AsyncClient, base: str, body: bytes) -> float:
    t0 = time.perf_counter()
    async with client.stream("POST", f"{base}/v1/responses", content=body) as response:
        async for _ in response.aiter_raw():
            pass
        if response.status_code != 200:
            raise RuntimeError(f"{base}: {response.status_code}")
    return time.perf_counter() - t0


async def _stream_latency(paths: dict[str, str], body: bytes, rounds: int) -> dict[str, list[float]]:
    import random

    clients = {name: load.make_client(4) for name in paths}
    results: dict[str, list[float]] = {name: [] for name in paths}
    try:
        for name, base in paths.items():
            for _ in range(5):
                await _streamed(clients[name], base, body)
        names = list(paths)
        for _ in range(rounds):
            random.shuffle(names)
            for name in names:
                results[name].append(await _streamed(clients[name], paths[name], body))
    finally:
        for client in clients.values():
            await client.aclose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.responses_path", description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    fake_port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.support.upstream", "--port", str(fake_port), "--chunks", "20"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    daemons: list[dict[str, str]] = []
    try:
        direct = f"http://127.0.0.1:{fake_port}"
        wait_http(f"{direct}/v1/models")
        paths = {"direct": direct}
        for name, fast in (("fast path", True), ("through LiteLLM", False)):
            paths[name], env = _daemon(direct, fast)
            daemons.append(env)
        plain = load.case("codex responses", "/v1/responses", bodies.codex, "gpt-5-codex")
        print(f"body: {len(plain.body) / 1024:.0f} KiB, {args.rounds} rounds each")
        latency = asyncio.run(load.latency_c1(paths, [plain], args.rounds))[plain.name]
        streamed = asyncio.run(_stream_latency(paths, plain.stream_body, args.rounds))
        for label, figures in (("plain", latency), ("streamed", streamed)):
            floor = load.median(figures["direct"])
            for name, values in figures.items():
                p50 = load.median(values)
                added = "" if name == "direct" else f", adds {(p50 - floor) * 1000:.2f} ms"
                print(f"{label:9} {name:16} p50 {p50 * 1000:.2f} ms{added}")
    finally:
        memproxy = str(Path(sys.executable).with_name("memproxy"))
        for env in daemons:
            subprocess.run([memproxy, "down"], env=env, capture_output=True, check=False)
            shutil.rmtree(env["MEMPROXY_HOME"], ignore_errors=True)
        fake.terminate()
        fake.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
