"""ONE daemon for the fuzz package (package scope: its modules share it as the one module did), with a
64 KiB body limit, and a project port in it. The fake upstream records nothing meanwhile: thousands of
requests, its memory stays flat too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.fuzzing import MAX_BODY
from tests.support.hardening import assigned_port, config_text
from tests.support.upstream.observing import ObservingUpstream


@pytest.fixture(scope="package")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    upstream.record = False  # thousands of requests: keep the fake's memory flat too
    config = config_text(upstream.url, max_body_bytes=MAX_BODY, timeout=10)
    try:
        with start_daemon(tmp_path_factory.mktemp("fuzz-home"), config) as d:
            yield d
    finally:
        upstream.record = True


@pytest.fixture(scope="package")
def project_port(daemon: Daemon) -> int:
    """The interceptor port of project `fuzz`."""
    return assigned_port(daemon, "fuzz")
