"""Fixtures of the gateway end-to-end package: ONE daemon for all its modules (package scope, so the
split into modules starts no more daemons than the one module did), a second one with retries on, and
the OpenAI and Anthropic SDK clients pointed at the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.support.config import gateway_config
from tests.support.daemon import Daemon, start_daemon
from tests.support.gateway_e2e import CLIENT_KEY
from tests.support.upstream import FakeUpstream


@pytest.fixture(scope="package")
def gateway(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """The real daemon (`memproxy up`) routing gpt-*, claude-* and byok-* to the fake upstream, shared by
    every module of the package (tests/e2e/conftest.py has one per module for the other e2e modules)."""
    with start_daemon(tmp_path_factory.mktemp("gateway-home"), gateway_config(upstream.url)) as daemon:
        yield daemon


@pytest.fixture(scope="package")
def retrying(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon of its own whose Router retries twice."""
    config = gateway_config(upstream.url, num_retries=2, timeout=5)
    with start_daemon(tmp_path_factory.mktemp("retry-home"), config) as daemon:
        yield daemon


@pytest.fixture(scope="package")
def model_cost() -> dict[str, Any]:
    import litellm

    return dict(litellm.model_cost)


@pytest.fixture
def oai(gateway: Daemon, project: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=CLIENT_KEY,
        default_headers={"x-memproxy-project": project},
        max_retries=0,
        timeout=30,
    )
    yield client
    client.close()


@pytest.fixture
def claude(gateway: Daemon, project: str) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(
        base_url=gateway.url,
        api_key=CLIENT_KEY,
        default_headers={"x-memproxy-project": project},
        max_retries=0,
        timeout=30,
    )
    yield client
    client.close()
