"""End-to-end fixtures: the real daemon, started and stopped through the CLI, on the session's fake upstream.

A module-scoped daemon is shared by the tests of a module (start takes a few seconds). Each test
gets its own project name (the `project` fixture, sent as `x-memproxy-project`), so it can pick its
own rows out of `memproxy logs --json`, which is what a user would read.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.config import gateway_config
from tests.support.daemon import Daemon, start_daemon
from tests.support.upstream import FakeUpstream


@pytest.fixture(scope="module")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The real daemon (`memproxy up`) routing gpt-*, claude-* and byok-* to the fake upstream."""
    daemon = start_daemon(tmp_path_factory.mktemp("gateway-home"), gateway_config(upstream.url))
    try:
        yield daemon
    finally:
        daemon.down()
