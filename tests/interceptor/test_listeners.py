"""Hosting project ports in one event loop: sync starts, stops and moves real listeners."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from daemon.sockets import port_accepts
from interceptor.forwarder import make_gateway_client
from interceptor.listeners import Listeners
from interceptor.registry import assign, release
from tests.support.ports import free_range
from tests.support.serving import home_paths
from tests.support.upstream import FakeUpstream


@pytest.fixture
async def hosted() -> AsyncIterator[tuple[Listeners, FakeUpstream]]:
    with FakeUpstream() as upstream:
        async with make_gateway_client() as client:
            listeners = Listeners(home_paths(), "127.0.0.1", upstream.url, "mk", client)
            try:
                yield listeners, upstream
            finally:
                await listeners.stop(timeout=1)


async def _accepts(port: int) -> bool:
    return await asyncio.to_thread(port_accepts, port)


async def test_sync_starts_forwards_moves_and_stops(hosted: tuple[Listeners, FakeUpstream]) -> None:
    listeners, upstream = hosted
    paths, rng = home_paths(), free_range()
    assert await listeners.sync() == {}
    shop, _ = assign(paths, "shop", rng)
    blog, _ = assign(paths, "blog", rng)

    state = await listeners.sync()
    assert state == {
        "blog": {"port": blog, "listening": True, "error": None},
        "shop": {"port": shop, "listening": True, "error": None},
    }
    async with httpx.AsyncClient() as tool:
        for name, port in (("shop", shop), ("blog", blog)):
            r = await tool.get(f"http://127.0.0.1:{port}/v1/models")
            assert r.status_code == 200
            assert upstream.last("/v1/models").headers["x-memproxy-project"] == name
            assert upstream.last("/v1/models").headers["x-memproxy-key"] == "mk"

    assert await listeners.sync() == state  # idempotent

    moved = next(p for p in range(rng[1], rng[0], -1) if p not in (shop, blog) and _free(p))
    assign(paths, "shop", rng, moved)
    assert (await listeners.sync())["shop"] == {"port": moved, "listening": True, "error": None}
    assert await _accepts(moved)
    assert not await _accepts(shop)

    release(paths, "blog")
    assert set(await listeners.sync()) == {"shop"}
    assert not await _accepts(blog)

    await listeners.stop(timeout=1)
    assert not await _accepts(moved)


async def test_port_held_elsewhere_is_reported_then_retried(hosted: tuple[Listeners, FakeUpstream]) -> None:
    listeners, _ = hosted
    paths, rng = home_paths(), free_range()
    shop, _ = assign(paths, "shop", rng)
    blog, _ = assign(paths, "blog", rng)
    squatter = socket.create_server(("127.0.0.1", shop))
    try:
        state = await listeners.sync()
        assert state["shop"]["listening"] is False
        assert f"port {shop} on 127.0.0.1 is already in use by pid" in state["shop"]["error"]
        assert state["blog"] == {"port": blog, "listening": True, "error": None}
    finally:
        squatter.close()
    state = await listeners.sync()
    assert state["shop"] == {"port": shop, "listening": True, "error": None}
    assert await _accepts(shop)


async def test_damaged_registry_keeps_listeners(hosted: tuple[Listeners, FakeUpstream]) -> None:
    listeners, _ = hosted
    paths = home_paths()
    shop, _ = assign(paths, "shop", free_range())
    await listeners.sync()
    paths.registry_file.write_text("{trunc")
    assert (await listeners.sync())["shop"]["listening"] is True
    assert await _accepts(shop)


async def test_release_frees_the_port_for_another_project_at_once(hosted: tuple[Listeners, FakeUpstream]) -> None:
    listeners, _ = hosted
    paths, rng = home_paths(), free_range()
    shop, _ = assign(paths, "shop", rng)
    await listeners.sync()
    release(paths, "shop")
    # A new project may be registered on the freed port by hand before the daemon hears of it.
    paths.registry_file.write_text(json.dumps({"version": 1, "projects": {"blog": shop}}))
    assert (await listeners.sync())["blog"] == {"port": shop, "listening": True, "error": None}


def _free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True
