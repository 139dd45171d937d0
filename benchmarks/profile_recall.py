"""What memory costs a request when the project holds 10,000 memories (the local FTS5 store).

    python -m benchmarks.profile_recall [--memories 10000] [--rounds 300]

Fills a local store in a temporary folder with `--memories` exchanges drawn from a small coding
vocabulary, then times `daemon.memory.augment` (what the pipeline awaits before the upstream call)
for a Claude-Code-sized Messages body (24 tools, a long history), interleaved with memory off:

- "new turn": the last user turn is new, so memory searches (the worst case: every request a new turn);
- "tool round": the next request of the same turn, which gets the turn's frozen block again (no search);
- added p50/p99: augment minus augment with memory off (the target: at most 1 ms);
- on-loop CPU p50: the CPU the event loop's thread spent in it (the search runs on the store's thread;
  what is left on the loop is query building, selection and injection);
- a ticker task's largest gap while searches run: how long the loop was ever kept from it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from daemon.memory.fts import STOPWORDS

_COMMON_TEXT = """parser config router cache token stream retry timeout database migration index schema query pool
socket handler render style test fixture mock deploy docker branch commit merge lint typing build"""
COMMON = _COMMON_TEXT.split()
VOCABULARY = 20_000  # a project's words: a few common ones, a long tail (Zipf, as text has)


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "ba", "do", "fe", "gi", "ho"]
    words = [*sorted(STOPWORDS), *COMMON]  # the most frequent words are the ones a search drops, as in English
    while len(words) < VOCABULARY:
        words.append("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) + str(len(words)))
    return words, [1 / (rank + 1) for rank in range(len(words))]


class Text:
    """Exchanges and questions drawn from one vocabulary."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words, self.weights = vocabulary(rng)

    def sentence(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=n))

    def exchange(self) -> str:
        return f"Q: how do I fix the {self.sentence(6)}?\nA: {self.sentence(40)}. Then {self.sentence(20)}."

    def question(self) -> str:
        return f"why does the {self.sentence(5)} fail?"


def claude_code_body(text: Text, question: str) -> dict[str, Any]:
    tools = [
        {"name": f"tool_{i}", "description": "Runs a thing. " * 40, "input_schema": {"type": "object"}}
        for i in range(24)
    ]
    messages: list[dict[str, Any]] = []
    for _ in range(30):
        messages.append({"role": "user", "content": [{"type": "text", "text": text.exchange()}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": text.exchange() * 3}]})
    messages.append({"role": "user", "content": [{"type": "text", "text": question}]})
    system = [{"type": "text", "text": "You are a coding agent. " * 300, "cache_control": {"type": "ephemeral"}}]
    return {"model": "claude-sonnet-4-5", "max_tokens": 4096, "system": system, "tools": tools, "messages": messages}


async def run(memories: int, rounds: int) -> None:
    from daemon.config.settings import ContextRetrieval
    from daemon.dialects import Dialect
    from daemon.memory import augment
    from daemon.memory.freeze import FrozenBlocks
    from daemon.memory.local import LocalBackend

    rng = random.Random(7)
    text = Text(rng)
    home = Path(tempfile.mkdtemp(prefix="memproxy-recall-"))
    backend = LocalBackend(home / "memory.db")
    scope = "project:bench"
    t0 = time.perf_counter()
    added = 0
    while added < memories:
        added += await backend.add_many(scope, [text.exchange() for _ in range(min(1000, memories - added))])
    print(f"{added} memories stored in {time.perf_counter() - t0:.1f} s")
    on, off = ContextRetrieval(), ContextRetrieval(enabled=False)

    frozen = FrozenBlocks()

    async def one(cr: ContextRetrieval, body: dict[str, Any], blocks: FrozenBlocks | None) -> tuple[float, float, int]:
        wall, cpu = time.perf_counter(), time.thread_time()
        got = await augment(body, dialect=Dialect.ANTHROPIC, model="claude-sonnet-4-5", backend=backend,
                            scope=scope, cr=cr, frozen=blocks)  # fmt: skip
        return (time.perf_counter() - wall) * 1000, (time.thread_time() - cpu) * 1000, got.hits

    modes = ("off", "new turn", "tool round")
    gaps: dict[str, list[float]] = {name: [] for name in modes}
    mode = ["off"]
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.0005)
            now = time.perf_counter()
            gaps[mode[0]].append((now - last) * 1000)
            last = now

    bodies = [claude_code_body(text, text.question()) for _ in range(20)]
    for body in bodies:  # warm-up: the connection, the page cache
        await one(on, body, None)
    tick = asyncio.create_task(ticker())
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in modes}
    for i in range(rounds):
        body = bodies[i % len(bodies)]
        body["messages"][-1]["content"][0]["text"] = text.question()
        # a new user turn searches; the request after it in the same turn (a tool round) repeats its block
        for name in rng.sample(["off", "new turn"], 2):
            mode[0] = name
            results[name].append(await one(off if name == "off" else on, body, frozen))
            await asyncio.sleep(0.002)  # the ticker's turn, in every mode
        mode[0] = "tool round"
        results["tool round"].append(await one(on, body, frozen))
        await asyncio.sleep(0.002)
    stop.set()
    await tick
    await backend.close()
    shutil.rmtree(home, ignore_errors=True)

    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    wall = {name: [r[0] for r in results[name]] for name in modes}
    print(f"{rounds} rounds, Claude-Code-sized Messages body, {added} memories in the scope")
    for name in modes:
        added_p50, added_p99 = p(wall[name], 50) - p(wall["off"], 50), p(wall[name], 99) - p(wall["off"], 99)
        cpu = p([r[1] for r in results[name]], 50)
        print(f"{name:10}  augment p50 {p(wall[name], 50):6.3f} ms  p99 {p(wall[name], 99):7.3f} ms  "
              f"added p50 {added_p50:6.3f} ms  p99 {added_p99:7.3f} ms  on-loop CPU p50 {cpu:6.3f} ms  "
              f"memories {statistics.fmean(r[2] for r in results[name]):.2f}")  # fmt: skip
    for name, values in ((n, v) for n, v in gaps.items() if v):
        print(f"ticker, {name:10}: largest gap {max(values):6.2f} ms, p99 {p(values, 99):6.2f} ms (a 0.5 ms sleep)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_recall", description=__doc__)
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args(argv)
    asyncio.run(run(args.memories, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
