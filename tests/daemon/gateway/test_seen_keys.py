"""The keys clients bring are held for redaction, but not for ever: the most recently used few thousand."""

from __future__ import annotations

from typing import Any, cast

from daemon.gateway.state import SEEN_KEYS_MAX, Gateway, RecentKeys


def _gateway() -> Gateway:
    settings = cast(Any, type("S", (), {"secrets": frozenset({"sk-configured"})})())
    return Gateway(settings=settings, router=cast(Any, None), writer=cast(Any, None), model_cost={})


def test_a_daemon_that_meets_many_client_keys_holds_a_bounded_number() -> None:
    gw = _gateway()
    for n in range(SEEN_KEYS_MAX * 3):
        gw.seen_keys.add(f"sk-client-{n}")
    assert len(gw.seen_keys) == SEEN_KEYS_MAX
    secrets = set(gw.secrets)
    assert "sk-configured" in secrets  # configured keys are never evicted
    assert f"sk-client-{SEEN_KEYS_MAX * 3 - 1}" in secrets  # the newest client key is redacted
    assert "sk-client-0" not in secrets


def test_a_key_in_use_stays_while_idle_ones_go() -> None:
    keys = RecentKeys(maxsize=3)
    for key in ("a", "b", "c"):
        keys.add(key)
    keys.add("a")  # used again: now the most recent
    keys.add("d")
    assert list(keys) == ["c", "a", "d"]
    assert "b" not in keys and len(keys) == 3
