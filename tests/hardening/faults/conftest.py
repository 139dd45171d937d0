"""The daemons of the upstream-fault package, shared by all its modules (package scope, as the one
module shared them): `router_settings: num_retries: 2, timeout: 2` in front of a real fake upstream
that also notices when the gateway hangs up on it; the same with the fast path off; a project port.

test_retries.py ends with a test that, while its bug stands, leaves retries running in the daemon:
pytest runs a package's modules in name order, and its name sorts last.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemon import Daemon, start_daemon
from tests.support.faults import RETRIES, TIMEOUT
from tests.support.hardening import assigned_port, config_text
from tests.support.upstream.observing import ObservingUpstream


@pytest.fixture(scope="package")
def daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = config_text(upstream.url, num_retries=RETRIES, timeout=TIMEOUT)
    with start_daemon(tmp_path_factory.mktemp("faults-home"), config) as d:
        yield d


@pytest.fixture(scope="package")
def router_daemon(upstream: ObservingUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The same, with the fast path off: same-dialect streams go through LiteLLM's Router too."""
    config = config_text(upstream.url, num_retries=RETRIES, timeout=TIMEOUT, fast_path=False)
    with start_daemon(tmp_path_factory.mktemp("faults-router-home"), config) as d:
        yield d


@pytest.fixture(scope="package")
def project_port(daemon: Daemon) -> int:
    """The interceptor port of project `faults` in `daemon`."""
    return assigned_port(daemon, "faults")
