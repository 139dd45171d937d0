"""The `budgets:` section of config.yaml: spending limits per project, and how to be told.

    budgets:
      default: {daily: 5}                 # every project without an entry of its own
      projects:
        shop: {daily: 5, monthly: 60, models: {gpt-4o: {daily: 1}}}
        sandbox: {weekly: 2, soft: true}  # soft: alerts only, never refuses
      thresholds: [50, 80, 100]           # percent of each limit that alerts, once per period
      alert_webhook: https://hooks.example/T000/B000/XXXX   # a JSON POST per alert (Slack-style)
      desktop_notifications: true         # notify-send / osascript where the machine has one

Limits are US dollars per calendar day, week (from Monday) and month in local time, as `stats`
counts them. `memproxy budget set` keeps its own limits in the state folder (`budgets.json`), over
these field by field (daemon.budgets.store). Pure models: nothing here reads a file.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

PERIODS = ("daily", "weekly", "monthly")
# SPEC's project name, checked on each key (so an error names its line)
ProjectName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]


class _Strict(BaseModel):
    # a misspelt limit ("dayly") must not silently mean "no limit"
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """USD per period; None is no limit."""

    daily: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    weekly: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    monthly: float | None = Field(default=None, ge=0, allow_inf_nan=False)

    @field_validator("daily", "weekly", "monthly", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML's `yes` is not a dollar amount
            raise ValueError("a limit is a number of US dollars, e.g. 5 or 0.5")
        return value

    def items(self) -> list[tuple[str, float]]:
        """`(period, usd)` for each period that has a limit."""
        return [(p, v) for p in PERIODS if (v := getattr(self, p)) is not None]


class ProjectBudget(Limits):
    """One project's limits, per-model limits beside them, and whether they only alert."""

    soft: bool = False
    models: dict[str, Limits] = Field(default_factory=dict)


class BudgetSettings(_Strict):
    default: ProjectBudget | None = None
    projects: dict[ProjectName, ProjectBudget] = Field(default_factory=dict)
    thresholds: list[float] = Field(default_factory=lambda: [50.0, 80.0, 100.0])
    alert_webhook: str | None = None
    desktop_notifications: bool = True

    @field_validator("thresholds")
    @classmethod
    def _percentages(cls, value: list[float]) -> list[float]:
        if any(not 0 < t <= 1000 for t in value):
            raise ValueError("thresholds are percentages of a limit, each above 0 (e.g. [50, 80, 100])")
        return sorted(set(value))

    @field_validator("alert_webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("alert_webhook must be an http:// or https:// URL")
        return value
