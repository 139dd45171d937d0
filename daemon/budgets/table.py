"""Which limits apply to a project: pure over the config's `budgets:` and the CLI's own limits.

A project's budget is its `budgets.projects` entry, else `budgets.default`; limits set with
`memproxy budget set` (daemon.budgets.store) lie over it field by field, per-model limits model by
model. Periods are local calendar days, weeks (from Monday) and months, as `memproxy stats` counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.config.budgets import BudgetSettings, ProjectBudget
from daemon.usage.stats import period_bounds

# `daily` is a limit per local day (`stats --by day`), and so on
BY = {"daily": "day", "weekly": "week", "monthly": "month"}
FLAGS = {"daily": "--daily", "weekly": "--weekly", "monthly": "--monthly"}


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit: `usd` per `period` for `project` (for one `model` of it, when set)."""

    project: str
    period: str
    usd: float
    model: str | None = None
    soft: bool = False

    def bounds(self, now: datetime) -> tuple[str, datetime, datetime]:
        """`(key, start, end)` of the period holding `now`."""
        return period_bounds(BY[self.period], now)

    def describe(self) -> str:
        """`daily budget of $5.00` (`... for model gpt-4o`)."""
        model = f" for model {self.model}" if self.model else ""
        return f"{self.period} budget of {usd(self.usd)}{model}"

    def how_to_raise(self) -> str:
        """The command that raises this limit (to twice what it is, as an example)."""
        model = f" --model {self.model}" if self.model else ""
        return f"memproxy budget set {self.project}{model} {FLAGS[self.period]} {_amount(max(self.usd * 2, 0.01))}"


def usd(amount: float) -> str:
    """Dollars as people write them: `$5.00`, small amounts to four places (`$0.0042`), smaller ones
    to two significant digits (`$0.000012`), so no amount but zero reads as `$0.0000`."""
    if amount >= 1 or amount <= 0:
        return f"${amount:.2f}"
    places = max(4, 1 - math.floor(math.log10(amount)))
    return f"${amount:.{places}f}"


def _amount(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".")


class BudgetTable:
    """The config's budgets with the CLI's limits over them; `limits(project, model)` for a request."""

    def __init__(self, settings: BudgetSettings, overrides: Mapping[str, ProjectBudget] | None = None) -> None:
        self.settings = settings
        self.overrides = dict(overrides or {})
        self._cache: dict[str, ProjectBudget | None] = {}
        self._limits: dict[tuple[str, str | None], list[Limit]] = {}

    @property
    def named(self) -> list[str]:
        """The projects with a budget of their own (in the config or set from the CLI)."""
        return sorted({*self.settings.projects, *self.overrides})

    @property
    def empty(self) -> bool:
        """No limit anywhere: the gateway skips every budget step."""
        return self.settings.default is None and not self.named

    def budget(self, project: str) -> ProjectBudget | None:
        """The budget that applies to `project`, or None."""
        if project not in self._cache:
            if len(self._cache) >= 4096:  # project names come from clients' headers
                self._cache.clear()
            base = self.settings.projects.get(project) or self.settings.default
            self._cache[project] = merged(base, self.overrides.get(project))
        return self._cache[project]

    def limits(self, project: str, model: str | None = None) -> list[Limit]:
        """The project's own limits and, with `model`, that model's limits of it (worked out once: every
        request asks)."""
        key = (project, model)
        found = self._limits.get(key)
        if found is None:
            if len(self._limits) >= 4096:  # names come from clients
                self._limits.clear()
            found = self._limits[key] = self._limits_of(project, model)
        return found

    def _limits_of(self, project: str, model: str | None) -> list[Limit]:
        budget = self.budget(project)
        if budget is None:
            return []
        found = [Limit(project, period, amount, None, budget.soft) for period, amount in budget.items()]
        if model is not None and model in budget.models:
            found += [Limit(project, p, a, model, budget.soft) for p, a in budget.models[model].items()]
        return found

    def all_limits(self, project: str) -> list[Limit]:
        """Every limit of `project`, its models' too (for `memproxy budget` and the gauge)."""
        budget = self.budget(project)
        if budget is None:
            return []
        return self.limits(project) + [
            Limit(project, p, a, model, budget.soft)
            for model, limits in budget.models.items()
            for p, a in limits.items()
        ]


def merged(base: ProjectBudget | None, over: ProjectBudget | None) -> ProjectBudget | None:
    """`over`'s fields (those it sets) over `base`'s; per-model limits merged model by model."""
    if over is None:
        return base
    if base is None:
        return over
    data: dict[str, Any] = {
        **base.model_dump(exclude={"models"}),
        **over.model_dump(exclude_unset=True, exclude={"models"}),
    }
    models = dict(base.models)
    for name, limits in over.models.items():
        models[name] = (
            limits if name not in models else models[name].model_copy(update=limits.model_dump(exclude_unset=True))
        )
    return ProjectBudget.model_validate({**data, "models": {k: v.model_dump() for k, v in models.items()}})
