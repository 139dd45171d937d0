"""The daemon's running spend per project, and the one check a request passes before its upstream call.

Prices are known only in the writer thread, after a request ends (daemon.usage.pricing), so the
ledger keeps two figures: what priced rows cost this day, week and month (seeded from the databank
at start, then added to as each row is priced; a restart counts exactly what the databank holds),
and a reservation per request in flight. `admit` refuses a request when the spend plus every
reservation plus its own estimate would pass a hard limit; the estimate is the request body's bytes
÷ 4 (about one token per four bytes) × the model's input price, and stays reserved until the row is
priced, so 16 clients hitting a nearly spent project overshoot it by at most the requests that were
in flight together, each at most its own cost. A model with no price, or a zero one (a local
server), is never refused.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from daemon.budgets.spend import Spent, limit_row
from daemon.budgets.table import BY, BudgetTable, Limit, usd
from daemon.errors import BudgetExceeded
from daemon.usage.record import UsageRecord
from daemon.usage.stats import period_bounds

if TYPE_CHECKING:
    from daemon.budgets.alerts import Alerter
    from daemon.config.settings import Settings

log = logging.getLogger("memproxy.budgets")

BYTES_PER_TOKEN = 4
# (project, model) pairs counted; project and model names come from clients: past this, only the
# projects that have a budget of their own are counted
MAX_TRACKED = 20_000

Prices = Callable[[str | None, str | None, str | None], "tuple[float, float] | None"]


@dataclass(slots=True)
class _Reservation:
    project: str
    model: str | None
    usd: float
    prices: tuple[float, float]  # USD per input and per output token


class Ledger:
    """Spend per (project, model, period) and reservations; thread-safe (the loop and the writer thread)."""

    def __init__(
        self,
        table: BudgetTable,
        prices: Prices,
        *,
        on_crossed: Callable[[Limit, float, datetime], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    ) -> None:
        self.table = table
        self._prices = prices
        self._on_crossed = on_crossed
        self._clock = clock
        self._lock = threading.Lock()
        # (project, model or None, period) -> (period key, USD); a new period key starts from zero
        self._spent: dict[tuple[str, str | None, str], tuple[str, float]] = {}
        self._reserved: dict[str, _Reservation] = {}
        # (model, resolved, provider) -> USD per input and output token (None: no price), looked up once
        self._units: dict[tuple[str | None, str | None, str | None], tuple[float, float] | None] = {}
        self._periods: dict[str, tuple[str, datetime, datetime]] = {}

    def seed(self, spent: Spent, now: datetime | None = None) -> None:
        """Start from what the databank holds for the current periods (daemon.budgets.spend.spent_now)."""
        now = now or self._clock()
        keys = {period: period_bounds(BY[period], now)[0] for period in BY}
        with self._lock:
            self._spent = {k: (keys[k[2]], amount) for k, amount in spent.items()}
        for project in {k[0] for k in spent}:
            self._check_thresholds(self.table.all_limits(project), now)

    def retable(self, table: BudgetTable) -> None:
        """New limits (the CLI changed them): spend is kept, every later request is checked against them."""
        self.table = table

    async def check(
        self, record_id: str, project: str, model: str | None, resolved: str | None, provider: str | None, size: int
    ) -> None:
        """`admit` for the request path: a model's prices are looked up off the loop the first time
        (LiteLLM's model info, ~20 ms), then from memory."""
        if not any(not limit.soft for limit in self.table.limits(project, model)):
            return
        key = (model, resolved, provider)
        if key not in self._units:
            units = await asyncio.to_thread(self._prices, *key)
            if len(self._units) >= 4096:  # model names come from clients
                self._units.clear()
            self._units[key] = units
        self.admit(record_id, project, model, resolved, provider, size)

    def admit(
        self, record_id: str, project: str, model: str | None, resolved: str | None, provider: str | None, size: int
    ) -> None:
        """Reserve this request's estimate, or raise BudgetExceeded if a hard limit would be passed."""
        hard = [limit for limit in self.table.limits(project, model) if not limit.soft]
        if not hard:
            return
        key = (model, resolved, provider)
        prices = self._units[key] if key in self._units else self._prices(*key)
        if prices is None or not any(prices):
            return  # a local server, or a model nobody priced: money limits never block it
        estimate = prices[0] * size / BYTES_PER_TOKEN
        now = self._clock()
        with self._lock:
            for limit in hard:
                spent = self._spent_in(limit, now) + self._reserved_for(limit)
                if spent + estimate > limit.usd + 1e-12:  # float sums: $0.001 ten times is not over $0.01
                    raise BudgetExceeded(_refusal(limit, spent, estimate, now))
            self._reserved[record_id] = _Reservation(project, model, estimate, prices)

    def ended(self, record: UsageRecord) -> None:
        """A request ended (on the loop, before its row is queued): until the writer prices it, its
        reservation is its tokens at the model's input and output prices (cache reads at the input
        price: never less than the real cost), so a client's next request sees what this one spent."""
        if record.status == "in_flight":
            return
        with self._lock:
            held = self._reserved.get(record.id)
            if held is None:
                return
            read_in = record.input_tokens + record.cache_read_tokens + record.cache_write_tokens
            held.usd = max(held.usd, read_in * held.prices[0] + record.output_tokens * held.prices[1])

    def submit(self, record: UsageRecord) -> None:
        """A priced final row (the writer thread, before its insert): its reservation becomes its cost."""
        if record.status == "in_flight":
            return
        cost = record.cost_usd or 0.0
        with self._lock:
            self._reserved.pop(record.id, None)
            if cost <= 0:
                return
            moment = datetime.fromisoformat(record.started_at).astimezone()
            scopes = [None] if record.model is None else [None, record.model]
            for model in scopes:
                for period in BY:
                    self._add((record.project, model, period), period_bounds(BY[period], moment)[0], cost)
        self._check_thresholds(self.table.limits(record.project, record.model), self._clock())

    def release(self, record_id: str) -> None:
        """Drop a reservation whose row will never be priced."""
        with self._lock:
            self._reserved.pop(record_id, None)

    def rows(self, projects: list[str], now: datetime | None = None) -> list[dict[str, Any]]:
        """Each limit of `projects` with the priced spend against it (the gauge; reservations left out)."""
        now = now or self._clock()
        with self._lock:
            return [
                limit_row(limit, self._spent_in(limit, now), now)
                for project in projects
                for limit in self.table.all_limits(project)
            ]

    @property
    def in_flight(self) -> int:
        return len(self._reserved)

    def _add(self, key: tuple[str, str | None, str], period_key: str, cost: float) -> None:
        held = self._spent.get(key)
        if held is None:
            if len(self._spent) >= MAX_TRACKED and key[0] not in self.table.named:
                return
            self._spent[key] = (period_key, cost)
        elif held[0] == period_key:
            self._spent[key] = (period_key, held[1] + cost)
        elif held[0] < period_key:  # a new day, week or month (keys are ISO dates: text order is time order)
            self._spent[key] = (period_key, cost)
        # else: a row of a period already over (it started before midnight) counts for that one only

    def _spent_in(self, limit: Limit, now: datetime) -> float:
        held = self._spent.get((limit.project, limit.model, limit.period))
        if held is None or held[0] != self._period(limit.period, now)[0]:
            return 0.0
        return held[1]

    def _period(self, period: str, now: datetime) -> tuple[str, datetime, datetime]:
        """The current day, week or month, worked out again only once it is over (local-time sums are slow)."""
        held = self._periods.get(period)
        if held is None or not held[1] <= now < held[2]:
            held = self._periods[period] = period_bounds(BY[period], now)
        return held

    def _reserved_for(self, limit: Limit) -> float:
        return sum(
            r.usd
            for r in self._reserved.values()
            if r.project == limit.project and (limit.model is None or r.model == limit.model)
        )

    def _check_thresholds(self, limits: list[Limit], now: datetime) -> None:
        if self._on_crossed is None:
            return
        for limit in limits:
            with self._lock:
                spent = self._spent_in(limit, now)
            try:
                self._on_crossed(limit, spent, now)
            except Exception:  # an alert must never cost a row
                log.exception("budget alert for %s failed", limit.project)


_WHEN = {"daily": "today", "weekly": "this week", "monthly": "this month"}


def _refusal(limit: Limit, spent: float, estimate: float, now: datetime) -> str:
    """What the tool shows: which project and limit, spent, when it resets, how to raise it."""
    _, _, end = limit.bounds(now)
    over = "has reached" if spent >= limit.usd else f"would pass (this request ~{usd(estimate)})"
    return (
        f"memproxy budget: project '{limit.project}' {over} its {limit.describe()}: "
        f"{usd(spent)} spent {_WHEN[limit.period]}, resets {end.strftime('%Y-%m-%d %H:%M')} local time. "
        f"Raise it with `{limit.how_to_raise()}` (or budgets: in config.yaml), or make it alert only with --soft."
    )


def open_ledger(settings: Settings, prices: Prices) -> tuple[Ledger, Alerter]:
    """The daemon's ledger: the config's and the CLI's limits, seeded from the databank, alerts armed."""
    from daemon.budgets.alerts import Alerter
    from daemon.budgets.spend import spent_now
    from daemon.budgets.store import load_overrides, load_sent, save_sent
    from daemon.errors import ConfigError

    paths = settings.paths
    alerter = Alerter(settings.budgets, load_sent(paths), lambda sent: save_sent(paths, sent))
    try:
        overrides = load_overrides(paths)
    except ConfigError as exc:  # the config's own limits still hold; `memproxy budget` names the problem
        log.error("the limits set with `memproxy budget set` are not applied: %s", exc)
        overrides = {}
    ledger = Ledger(BudgetTable(settings.budgets, overrides), prices, on_crossed=alerter.crossed)
    now = datetime.now().astimezone()
    ledger.seed(spent_now(paths.db_file, now), now)
    return ledger, alerter


class EndedSink:
    """The ledger as the request path's first record sink (`Ledger.ended`); the writer comes after it."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def submit(self, record: UsageRecord) -> None:
        self.ledger.ended(record)
