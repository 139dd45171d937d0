"""A user can see which memories went into a request: the databank row lists their ids (what
`memproxy logs --json` and `memproxy show` print). Through the gateway, real SQLite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from daemon.memory.local import LocalBackend
from memproxy_cli.main import app
from tests.support.app import Served, serve_gateway
from tests.support.config import gateway_config
from tests.support.upstream import FakeUpstream, text


@pytest.fixture(scope="module")
def served(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from serve_gateway(tmp_path_factory.mktemp("memory-ids"), gateway_config(upstream.url, memory=True))


def test_each_row_lists_the_memory_ids_injected(
    served: Served, fake: FakeUpstream, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def seed() -> list[str]:
        backend = LocalBackend(served.home / "memory.db")
        ids = [(await backend.add(f"project:{project}", t)).id for t in ("we deploy on Fridays", "deploy with make")]
        await backend.close()
        return ids

    ids = asyncio.run(seed())
    fake.script(text("On Fridays."), text("Teal."))
    for question in ("how do we deploy?", "what colour is the logo?"):
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": question}]}
        r = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers={"x-memproxy-project": project})
        assert r.status_code == 200, r.text
    rows = served.rows(project)
    assert [(r["memory_hits"], sorted((r["memory_ids"] or "").split(","))) for r in rows] == [
        (2, sorted(ids)),
        (0, [""]),
    ]
    monkeypatch.setenv("MEMPROXY_HOME", str(served.home))
    logs = CliRunner().invoke(app, ["logs", "--json", "-p", project])
    assert logs.exit_code == 0, logs.output
    assert [row["memory_ids"] is not None for row in json.loads(logs.output)] == [True, False]
    detail = CliRunner().invoke(app, ["logs", "show", str(rows[0]["id"])])
    assert all(i in detail.output for i in ids), detail.output
