"""ONE daemon for the security package (package scope: the modules share it as the one module did),
with a master key, `logging.level: debug`, a 4 KiB body limit and one interceptor port, routing to a
real fake upstream; a second fake ("attacker") stands for any host a hostile request tries to send the
gateway's keys to.

test_secrets.py greps everything the daemon wrote, so it must run after the other modules: pytest
runs a package's modules in name order, and its name sorts last.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.hardening import MASTER_KEY, assigned_port, config_text
from tests.support.security import BODY_TIMEOUT, MAX_BODY
from tests.support.upstream import FakeUpstream
from tests.support.upstream.observing import ObservingUpstream


@pytest.fixture(scope="package")
def attacker() -> Iterator[FakeUpstream]:
    """Where a hostile request would like the gateway to send its keys."""
    with FakeUpstream() as evil:
        yield evil


@pytest.fixture(scope="package")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    home = tmp_path_factory.mktemp("security-home")
    config = config_text(
        upstream.url, master_key=MASTER_KEY, max_body_bytes=MAX_BODY, log_level="debug", body_timeout=BODY_TIMEOUT
    )
    with start_daemon(home, config) as d:
        yield d


@pytest.fixture(scope="package")
def project_port(daemon: Daemon) -> int:
    """An interceptor port for project `sec`, listening in the daemon."""
    return assigned_port(daemon, "sec")
