"""`main`: the fake upstream in the foreground, for ``python -m tests.support.upstream`` and benchmarks."""

from __future__ import annotations

import argparse
import contextlib

from tests.support.upstream.local import LocalUpstream
from tests.support.upstream.replies import DEFAULT_TEXT, text
from tests.support.upstream.server import FakeUpstream


def main(argv: list[str] | None = None) -> None:
    """Run the fake upstream in the foreground."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.upstream", description="Fake OpenAI + Anthropic upstream."
    )
    parser.add_argument("--port", type=int, default=0, help="0 lets the OS choose")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay before each answer")
    parser.add_argument("--chunks", type=int, default=None, help="content chunks per stream (default: one a word)")
    parser.add_argument("--chunk-interval-ms", type=float, default=0, help="gap between stream chunks")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="the answer text")
    parser.add_argument("--require-key", default=None, help="answer 401 unless this API key is sent")
    parser.add_argument("--local", action="store_true", help="behave as a local server: Chat Completions only")
    args = parser.parse_args(argv)
    kind = LocalUpstream if args.local else FakeUpstream
    upstream = kind(
        port=args.port,
        latency_ms=args.latency_ms,
        chunks=args.chunks,
        chunk_interval_ms=args.chunk_interval_ms,
        require_key=args.require_key,
        default=text(args.text),
        record=False,  # nobody can read them, and a long benchmark would grow without bound
    )
    # uvicorn drains on SIGINT/SIGTERM, then re-raises the signal; Ctrl-C should not print a traceback.
    with contextlib.suppress(KeyboardInterrupt):
        upstream.serve_forever()


if __name__ == "__main__":
    main()
