"""A small Supermemory API (v5 routes, the ones `supermemory.AsyncSupermemory` calls) on loopback.

    with FakeSupermemory() as server:
        backend = SupermemoryBackend(SupermemorySessions("sm-test", server.url))
        server.fail_next(500)        # the next request answers 500
        server.hang = True           # requests wait until `hang` is cleared or the server stops

Routes: `POST /ns/{ns}/document`, `POST /ns/{ns}/search`, `POST /ns/{ns}/list/documents`,
`GET /ns/{ns}/document/{id}`, `GET /ns/{ns}/memories/{id}`, `DELETE /ns/{ns}/document`,
`DELETE /ns/{ns}`. Every answer to a request without a `session` cookie sets a new one, like a
server that pins a session; `requests` records method, path, cookie and authorization of each call.
Search ranks by how many query words a document shares (no embeddings here). Lists page as the
v5 API does: `page` (one-based) and `limit` (1-100) in the query string, `pagination` in the answer.
A test can age a document by setting its `createdAt` in `docs`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_KEY = "sm-test-key"
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    cookie: str | None
    authorization: str | None
    body: Any


class FakeSupermemory:
    """The server; state is plain dicts guarded by one lock."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, dict[str, Any]]] = {}  # namespace -> id -> document
        self.requests: list[Seen] = []
        self.hang = False
        self._failures: list[int] = []
        self._ids = itertools.count(1)
        self._sessions = itertools.count(1)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, status: int, times: int = 1) -> None:
        """The next `times` requests answer `status` with an error body."""
        with self._lock:
            self._failures.extend([status] * times)

    def __enter__(self) -> FakeSupermemory:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._stopped.set()
        self._server.shutdown()
        self._server.server_close()

    # --- the API -------------------------------------------------------------------------------

    def answer(self, method: str, path: str, body: Any, query: dict[str, str]) -> tuple[int, Any]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) < 2 or parts[0] != "ns":
            return 404, {"error": "not found"}
        ns, rest = parts[1], parts[2:]
        with self._lock:
            docs = self.docs.setdefault(ns, {})
            if method == "POST" and rest == ["document"]:
                seq = next(self._ids)
                doc_id = f"doc{seq}"
                now = datetime.now(UTC).isoformat()
                docs[doc_id] = {"id": doc_id, "content": body["content"], "metadata": body.get("metadata") or {}}
                docs[doc_id].update(createdAt=now, seq=seq)
                return 200, {"id": doc_id, "status": "queued"}
            if method == "POST" and rest == ["search"]:
                return 200, {
                    "results": self._search(docs, body["query"], int(body.get("limit") or 10)),
                    "searchTime": 1,
                }
            if method == "POST" and rest == ["list", "documents"]:
                # Like the real API: paging in the query string, extras in the body.
                # page (one-based) and limit (default 10, at most 100) as the v5 API has them
                limit, number = int(query.get("limit") or 10), int(query.get("page") or 1)
                if not 1 <= limit <= 100 or number < 1:
                    return 400, {"error": "limit must be 1-100 and page at least 1"}
                newest = query.get("order", "desc") == "desc"
                ordered = sorted(docs.values(), key=lambda d: (d["createdAt"], d["seq"]), reverse=newest)
                page = ordered[(number - 1) * limit : number * limit]
                content = bool(((body or {}).get("include") or {}).get("content"))
                listed = [_listed(d, content) for d in page]
                pages = {"currentPage": number, "limit": limit, "totalItems": len(ordered)}
                pages["totalPages"] = -(-len(ordered) // limit)
                return 200, {"documents": listed, "chunks": [], "memories": [], "pagination": pages}
            if method == "GET" and len(rest) == 2 and rest[0] == "document":
                doc = docs.get(rest[1])
                return (200, _document(doc)) if doc else (404, {"error": "document not found"})
            if method == "GET" and len(rest) == 2 and rest[0] == "memories":
                return 404, {"error": "memory not found"}
            if method == "DELETE" and rest == ["document"]:
                gone = [i for i in body["ids"] if docs.pop(i, None) is not None]
                errors = [{"id": i, "error": "not found"} for i in body["ids"] if i not in gone]
                return 200, {"count": len(gone), "errors": errors}
            if method == "DELETE" and not rest:
                if ns not in self.docs or not self.docs[ns]:
                    self.docs.pop(ns, None)
                    return 404, {"error": "namespace not found"}
                count = len(self.docs.pop(ns))
                return 200, {
                    "status": "deleted",
                    "namespace": ns,
                    "deletedDocumentsCount": count,
                    "deletedMemoriesCount": 0,
                }
        return 404, {"error": f"no route {method} {path}"}

    @staticmethod
    def _search(docs: dict[str, dict[str, Any]], query: str, limit: int) -> list[dict[str, Any]]:
        words = {w.lower() for w in _WORD.findall(query)}
        scored = []
        for doc in docs.values():
            shared = words & {w.lower() for w in _WORD.findall(doc["content"])}
            if shared:
                scored.append((len(shared) / len(words), doc))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return [
            {
                "id": doc["id"],
                "chunk": doc["content"],
                "metadata": doc["metadata"],
                "similarity": score,
                "isLatest": True,
                "isInference": False,
                "system": {"createdAt": doc["createdAt"], "updatedAt": doc["createdAt"]},
            }
            for score, doc in scored[:limit]
        ]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms stalls

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                url = urlsplit(self.path)
                path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
                cookie = self.headers.get("cookie")
                with fake._lock:
                    fake.requests.append(Seen(self.command, path, cookie, self.headers.get("authorization"), body))
                    failure = fake._failures.pop(0) if fake._failures else None
                while fake.hang and not fake._stopped.wait(0.05):
                    pass
                if self.headers.get("authorization") != f"Bearer {API_KEY}":
                    status, payload = 401, {"error": "bad api key"}
                elif failure is not None:
                    status, payload = failure, {"error": "scripted failure"}
                else:
                    status, payload = fake.answer(self.command, path, body, query)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                if not cookie or "session=" not in cookie:
                    self.send_header("set-cookie", f"session=s{next(fake._sessions)}; Path=/; HttpOnly")
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting (hang tests)
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PATCH = _serve

        return Handler


def _listed(doc: dict[str, Any], content: bool = True) -> dict[str, Any]:
    system = {"status": "done", "dreamingStatus": "done", "createdAt": doc["createdAt"], "updatedAt": doc["createdAt"]}
    listed = {"id": doc["id"], "type": "text", "metadata": doc["metadata"], "system": system}
    return {**listed, "content": doc["content"]} if content else listed


def _document(doc: dict[str, Any]) -> dict[str, Any]:
    return {**_listed(doc), "title": None, "summary": None}
