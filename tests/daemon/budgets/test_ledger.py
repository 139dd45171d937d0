"""The ledger's decisions, without a server: refusal and its message, reservations, periods, soft limits."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from daemon.budgets.ledger import Ledger
from daemon.budgets.table import BudgetTable
from daemon.config.budgets import BudgetSettings, ProjectBudget
from daemon.errors import BudgetExceeded
from daemon.usage.record import UsageRecord, iso_utc

NOW = datetime(2026, 12, 2, 14, 0).astimezone()  # a Wednesday: yesterday is in this week and month
PRICED = (1e-6, 2e-6)  # USD per input, per output token


def ledger(prices: tuple[float, float] | None = PRICED, **projects: ProjectBudget) -> Ledger:
    table = BudgetTable(BudgetSettings(projects=projects))
    return Ledger(table, lambda model, resolved, provider: prices, clock=lambda: NOW)


def priced(
    project: str, cost: float, *, model: str = "gpt-4o", at: datetime = NOW, rid: str | None = None
) -> UsageRecord:
    record = UsageRecord(project=project, model=model, cost_usd=cost, started_at=iso_utc(at))
    if rid is not None:
        record.id = rid
    return record


def test_a_spent_daily_limit_refuses_with_project_limit_spent_reset_and_how_to_raise() -> None:
    led = ledger(shop=ProjectBudget(daily=0.01))
    led.submit(priced("shop", 0.01))
    with pytest.raises(BudgetExceeded) as caught:
        led.admit("r1", "shop", "gpt-4o", "gpt-4o", "openai", 400)
    message = caught.value.message
    assert caught.value.status == 402
    for part in (
        "'shop'",
        "daily budget of $0.0100",
        "$0.0100 spent today",
        "resets 2026-12-03 00:00",
        "memproxy budget set shop --daily 0.02",
    ):
        assert part in message


def test_another_project_and_an_unpriced_model_are_never_refused() -> None:
    led = ledger(shop=ProjectBudget(daily=0.01))
    led.submit(priced("shop", 0.05))
    led.admit("r1", "other", "gpt-4o", "gpt-4o", "openai", 400)
    free = ledger(None, shop=ProjectBudget(daily=0.01))
    free.submit(priced("shop", 0.05))
    free.admit("r2", "shop", "llama", "llama", "openai", 400)
    zero = ledger((0.0, 0.0), shop=ProjectBudget(daily=0.01))
    zero.submit(priced("shop", 0.05))
    zero.admit("r3", "shop", "llama", "llama", "openai", 400)


def test_a_soft_limit_only_alerts() -> None:
    crossed: list[float] = []
    table = BudgetTable(BudgetSettings(projects={"shop": ProjectBudget(daily=0.01, soft=True)}))
    led = Ledger(
        table, lambda *_: PRICED, clock=lambda: NOW, on_crossed=lambda limit, spent, now: crossed.append(spent)
    )
    led.submit(priced("shop", 0.02))
    led.admit("r1", "shop", "gpt-4o", "gpt-4o", "openai", 400)
    assert crossed == [0.02]


def test_reservations_hold_until_the_row_is_priced() -> None:
    # each request reserves 4000 bytes / 4 = 1000 tokens at $1/M = $0.001; the limit holds ten
    led = ledger(shop=ProjectBudget(daily=0.01))
    for i in range(10):
        led.admit(f"r{i}", "shop", "gpt-4o", "gpt-4o", "openai", 4000)
    with pytest.raises(BudgetExceeded):
        led.admit("r10", "shop", "gpt-4o", "gpt-4o", "openai", 4000)
    # a request that ended holds its tokens' cost until the writer prices it
    ended = priced("shop", 0.0, rid="r0")
    ended.cost_usd, ended.input_tokens, ended.output_tokens = None, 1000, 0
    led.ended(ended)
    with pytest.raises(BudgetExceeded):
        led.admit("r10", "shop", "gpt-4o", "gpt-4o", "openai", 4000)
    # priced at less than its estimate: the difference is free again
    led.submit(priced("shop", 0.0005, rid="r0"))
    led.admit("r10", "shop", "gpt-4o", "gpt-4o", "openai", 1000)
    assert led.in_flight == 10


def test_a_new_day_starts_from_zero_but_the_month_keeps_counting() -> None:
    led = ledger(shop=ProjectBudget(daily=0.01, monthly=0.015))
    led.submit(priced("shop", 0.01, at=NOW - timedelta(days=1)))
    led.admit("r1", "shop", "gpt-4o", "gpt-4o", "openai", 400)  # today: nothing spent
    led.submit(priced("shop", 0.006, rid="r1"))
    with pytest.raises(BudgetExceeded) as caught:  # this month: 0.016 of 0.015
        led.admit("r2", "shop", "gpt-4o", "gpt-4o", "openai", 400)
    assert "monthly budget" in caught.value.message


def test_a_model_limit_refuses_that_model_only() -> None:
    from daemon.config.budgets import Limits

    led = ledger(shop=ProjectBudget(models={"gpt-4o": Limits(daily=0.01)}))
    led.submit(priced("shop", 0.01, model="gpt-4o"))
    with pytest.raises(BudgetExceeded) as caught:
        led.admit("r1", "shop", "gpt-4o", "gpt-4o", "openai", 400)
    assert "for model gpt-4o" in caught.value.message
    assert "--model gpt-4o --daily" in caught.value.message
    led.admit("r2", "shop", "claude-sonnet-4-5", "claude-sonnet-4-5", "anthropic", 400)


def test_seeded_totals_count_as_spent() -> None:
    led = ledger(shop=ProjectBudget(weekly=1.0))
    led.seed({("shop", None, "weekly"): 1.0}, NOW)
    with pytest.raises(BudgetExceeded):
        led.admit("r1", "shop", "gpt-4o", "gpt-4o", "openai", 400)
    assert led.rows(["shop"])[0]["spent_usd"] == 1.0


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(5, "$5.00"), (0, "$0.00"), (0.5, "$0.5000"), (0.0042, "$0.0042"), (0.00001, "$0.000010"), (4e-7, "$0.00000040")],
)
def test_small_amounts_never_read_as_zero(amount: float, shown: str) -> None:
    from daemon.budgets.table import usd

    assert usd(amount) == shown
