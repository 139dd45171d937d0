"""Shared fixtures: every test gets its own MEMPROXY_HOME and no provider keys from the real environment;
one fake upstream (and one fake local server) serves the whole session, fresh for each test that uses it.
Helpers live in tests/support/."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import PROVIDER_KEY_VARS
from tests.support.upstream.local import LocalUpstream
from tests.support.upstream.observing import ObservingUpstream


@pytest.fixture(autouse=True)
def memproxy_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point MEMPROXY_HOME at a fresh folder and hide the developer's real keys."""
    home = tmp_path / "memproxy-home"
    home.mkdir()
    monkeypatch.setenv("MEMPROXY_HOME", str(home))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for name in PROVIDER_KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture(scope="session")
def upstream() -> Iterator[ObservingUpstream]:
    """THE fake upstream (it also notes client hang-ups), shared by the session: start it once."""
    with ObservingUpstream() as server:
        yield server


@pytest.fixture(scope="session")
def local_upstream() -> Iterator[LocalUpstream]:
    """THE fake local server (Chat Completions only, no key, CRLF stream lines), shared by the session."""
    with LocalUpstream() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_upstream(request: pytest.FixtureRequest) -> Iterator[None]:
    """Nothing scripted, recorded or turned by one test reaches the next one that uses an upstream."""
    names = [name for name in ("upstream", "local_upstream") if name in request.fixturenames]
    servers: list[ObservingUpstream] = [request.getfixturevalue(name) for name in names]
    for server in servers:
        server.fresh()
    yield
    for server in servers:
        server.fresh()


@pytest.fixture
def fake(upstream: ObservingUpstream) -> ObservingUpstream:
    """The shared fake upstream, fresh for this test."""
    return upstream


@pytest.fixture
def project(request: pytest.FixtureRequest) -> str:
    """A project name unique to this test, to find its rows."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-.")[:48] or "t"
    return f"{name}-{uuid.uuid4().hex[:8]}"
