"""How long semantic retrieval's vector comparison takes as a scope grows.

`python -m benchmarks.semantic_scale [--memories 10000] [--dims 384]`: one scope of N memories in a
real memory file, each with a random unit vector (all-MiniLM-L6-v2 has 384 dimensions, OpenAI's
text-embedding-3-small 1536), then `daemon.memory.semantic.nearest` (one numpy product over the scope's vectors,
read from the file on the store's thread) for 20 queries: median and max milliseconds. No embedding model runs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from daemon.memory.local import open_db
from daemon.memory.semantic import nearest, unit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memories", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=384)
    args = parser.parse_args(argv)
    rng = random.Random(7)

    def vector() -> list[float]:
        return [rng.gauss(0, 1) for _ in range(args.dims)]

    with tempfile.TemporaryDirectory() as tmp:
        conn = open_db(Path(tmp) / "memory.db")
        with conn:
            for i in range(args.memories):
                rowid = conn.execute(
                    "INSERT INTO memories (scope, text, created_at, digest) "
                    "VALUES ('project:p', ?, '', ?) RETURNING id",
                    (f"memory {i}", i.to_bytes(16, "big")),
                ).fetchone()[0]
                conn.execute(
                    "INSERT INTO memory_vectors (memory_id, model, vector) VALUES (?, 'm', ?)",
                    (rowid, unit(vector()).tobytes()),
                )
        times = []
        for _ in range(20):
            query = unit(vector())
            start = time.perf_counter()
            nearest(conn, "project:p", "m", query, 20, -1.0)
            times.append((time.perf_counter() - start) * 1000)
        conn.close()
    print(
        f"{args.memories} memories x {args.dims} dims: nearest() median {statistics.median(times):.1f} ms, "
        f"max {max(times):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
