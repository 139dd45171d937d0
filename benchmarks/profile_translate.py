"""Where a translated request's time goes: memproxy's Router against the fake upstream, in-process.

    python -m benchmarks.profile_translate [--calls 300] [--profile] [--stream]

Starts the fake upstream (its own process), builds the Router memproxy builds (`daemon.gateway.llm`)
and times, interleaved, for both directions of translation:

- direct: the same request straight to the fake upstream over one httpx client (the floor);
- openai→anthropic: `router.acompletion` for a `claude-*` deployment (LiteLLM translates);
- anthropic→openai: `router.aanthropic_messages` for a `gpt-*` deployment (LiteLLM translates);
- the same two "(stock)": with LiteLLM's per-call pricing back on, as it is without memproxy's set-up
  (`daemon.gateway.llm_setup`), so one run shows what the set-up saves.

It prints each path's wall p50 and the p50 of the CPU this process's loop thread spent on a call
(steadier than wall time on a busy machine), and what each adds over direct. `--profile` runs cProfile over the
translated calls and prints the top functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAI_BODY = {"messages": [{"role": "user", "content": "say hello to the benchmark"}], "max_tokens": 64}
ANTHROPIC_BODY = {"messages": [{"role": "user", "content": "say hello to the benchmark"}], "max_tokens": 64}


def start_upstream() -> tuple[subprocess.Popen[bytes], str]:
    from benchmarks.overhead import free_port, wait_http

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.upstream", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v1/models")
    return proc, base


def build(base: str) -> Any:
    """The Router memproxy builds for the tests' config (gpt-* → openai, claude-* → anthropic)."""
    import tempfile

    from daemon.config.settings import load_settings
    from daemon.gateway.llm import build_router, configure_litellm
    from tests.support.config import gateway_config

    home = Path(tempfile.mkdtemp(prefix="memproxy-profile-"))
    (home / "config.yaml").write_text(gateway_config(base))
    settings = load_settings(env={"MEMPROXY_HOME": str(home)})
    shutil.rmtree(home)  # the settings are read: nothing else is kept there
    configure_litellm(settings)
    return build_router(settings)


async def _drain(response: Any) -> None:
    async for _ in response:
        pass


async def run(calls: int, profile: bool, stream: bool, claude: str) -> None:
    import httpx

    from daemon.gateway.llm import import_litellm

    import_litellm()  # offline first: LiteLLM would fetch its price map
    from litellm.litellm_core_utils.litellm_logging import Logging

    stock_pricing = Logging.response_cost_calculator  # before memproxy's set-up turns it off
    proc, base = start_upstream()
    try:
        router = build(base)
        lean_pricing = Logging.response_cost_calculator
        client = httpx.AsyncClient(timeout=30)

        async def direct_openai() -> None:
            body = {"model": "gpt-4o-mini", "stream": stream, **OPENAI_BODY}
            (await client.post(f"{base}/v1/chat/completions", json=body)).raise_for_status()

        async def direct_anthropic() -> None:
            body = {"model": claude, "stream": stream, **ANTHROPIC_BODY}
            headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
            (await client.post(f"{base}/v1/messages", json=body, headers=headers)).raise_for_status()

        async def openai_to_anthropic() -> None:
            response = await router.acompletion(model=claude, stream=stream, **OPENAI_BODY)
            if stream:
                await _drain(response)

        async def anthropic_to_openai() -> None:
            response = await router.aanthropic_messages(model="gpt-4o-mini", stream=stream, **ANTHROPIC_BODY)
            if stream:
                await _drain(response)

        def stock(call: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
            async def with_litellm_pricing() -> None:
                Logging.response_cost_calculator = stock_pricing  # type: ignore[method-assign]
                try:
                    await call()
                finally:
                    Logging.response_cost_calculator = lean_pricing  # type: ignore[method-assign]

            return with_litellm_pricing

        paths = {
            "direct openai": direct_openai,
            "direct anthropic": direct_anthropic,
            "openai→anthropic": openai_to_anthropic,
            "anthropic→openai": anthropic_to_openai,
            "openai→anthropic (stock)": stock(openai_to_anthropic),
            "anthropic→openai (stock)": stock(anthropic_to_openai),
        }
        for fn in paths.values():  # warm-up: connections, LiteLLM's first-call imports
            for _ in range(10):
                await fn()
        times: dict[str, list[float]] = {name: [] for name in paths}
        cpu: dict[str, list[float]] = {name: [] for name in paths}
        names = list(paths)
        for _ in range(calls):
            random.shuffle(names)  # interleaved, so machine noise hits every path alike
            for name in names:
                t0, c0 = time.perf_counter(), time.thread_time()
                await paths[name]()
                for _ in range(3):  # LiteLLM's success logging runs as a task: in this call's window
                    await asyncio.sleep(0)
                times[name].append((time.perf_counter() - t0) * 1000)
                cpu[name].append((time.thread_time() - c0) * 1000)
        p50 = {name: statistics.median(v) for name, v in times.items()}
        cpu50 = {name: statistics.median(v) for name, v in cpu.items()}
        print(f"{calls} calls each, stream={stream}, claude model {claude!r}")
        for name in paths:
            floor = "direct anthropic" if "→anthropic" in name else "direct openai"
            added = f"  added p50 {p50[name] - p50[floor]:6.2f} ms, CPU {cpu50[name] - cpu50[floor]:5.2f} ms"
            print(f"{name:26} p50 {p50[name]:6.2f} ms  CPU p50 {cpu50[name]:5.2f} ms{added if '→' in name else ''}")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(calls):
                await openai_to_anthropic()
                await anthropic_to_openai()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        await client.aclose()
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_translate", description=__doc__)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--claude", default="claude-sonnet-4-5", help="a name outside the price map costs more")
    args = parser.parse_args(argv)
    asyncio.run(run(args.calls, args.profile, args.stream, args.claude))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
