"""What the databank keeps of a body: at most `logging.max_stored_bytes`, cut visibly, redacted first."""

from __future__ import annotations

from daemon.cost import Usage
from daemon.gateway.endpoint import Tally
from daemon.gateway.exchange import Exchange
from daemon.gateway.stored import clip, keep_chars
from daemon.usage.record import UsageRecord

KEY = "sk-test-STRADDLING-0123456789abcdef"


class Sink:
    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    def submit(self, record: UsageRecord) -> None:
        self.records.append(record)


def test_a_text_within_the_cap_is_kept_as_it_is() -> None:
    assert clip("héllo", 6) == "héllo"


def test_a_longer_text_is_cut_within_the_cap_with_its_size() -> None:
    text = "é" * 5000  # 10,000 bytes
    cut = clip(text, 1000)
    assert len(cut.encode()) <= 1000
    assert cut.startswith("é" * 100)
    assert cut.endswith("[memproxy: cut to 1,000 of 10,000 bytes by logging.max_stored_bytes]")


def test_a_cap_too_small_for_the_marker_cuts_alone() -> None:
    assert clip("abcdefghij", 4) == "abcd"


def test_a_key_across_the_cut_is_redacted_whole_before_the_cut() -> None:
    sink = Sink()
    ex = Exchange(UsageRecord(), sink, secrets=[KEY], max_stored=200)  # the cut falls inside the key
    body = ("x" * 100 + KEY + "y" * 10_000).encode()
    ex.requested("gpt-4o", body=body)
    ex.succeed(Usage(), "a" * 100 + KEY + "b" * 500)
    (row,) = sink.records
    for column in (row.request_json, row.response_text):
        assert column is not None and len(column.encode()) <= 200
        assert "sk-test-STR" not in column and "STRADDLING" not in column
    assert row.request_json is not None and f"of {len(body):,} bytes" in row.request_json


def test_zero_stores_no_body() -> None:
    sink = Sink()
    ex = Exchange(UsageRecord(), sink, max_stored=0)
    ex.requested("gpt-4o", body=b'{"messages": []}')
    ex.succeed(Usage(), "the answer")
    assert sink.records[0].request_json is None and sink.records[0].response_text is None


def test_a_relay_keeps_only_what_can_be_stored_but_counts_it_all() -> None:
    tally = Tally(True, keep_chars(1000))
    for _ in range(10_000):
        tally.add_text("é" * 100)
    assert tally.size == 2_000_000
    assert len(tally.answer() or "") == keep_chars(1000)
