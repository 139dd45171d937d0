"""daemon/body.py: pacing a request body."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from daemon.gateway.body import BodyStalled, paced


async def _pieces(*gaps: float) -> AsyncIterator[bytes]:
    for gap in gaps:
        await asyncio.sleep(gap)
        yield b"abcd"


async def _collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


def test_pieces_that_keep_coming_pass_however_long_the_whole_takes() -> None:
    # twelve short pauses, 0.6 s in all, against a 0.5 s idle limit: each pause has 0.45 s to spare
    got = asyncio.run(_collect(paced(_pieces(*[0.05] * 12), idle_seconds=0.5)))
    assert got == [b"abcd"] * 12


def test_a_pause_longer_than_the_idle_time_is_a_stall_naming_what_came() -> None:
    with pytest.raises(BodyStalled, match=re.escape("8 bytes came, then nothing for 0.05 s")):
        asyncio.run(_collect(paced(_pieces(0, 0, 1.0), idle_seconds=0.05)))
