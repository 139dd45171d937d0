"""Budget alerts: once per threshold per period, remembered across a restart, a hanging webhook held apart."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from daemon.budgets.alerts import Alerter
from daemon.budgets.store import load_sent, save_sent
from daemon.budgets.table import Limit
from daemon.config.budgets import BudgetSettings
from tests.support.serving import home_paths
from tests.support.webhook import WebhookRecorder

NOW = datetime(2026, 12, 2, 14, 0).astimezone()
LIMIT = Limit("shop", "daily", 1.0)


def alerter(settings: BudgetSettings) -> Alerter:
    paths = home_paths()
    return Alerter(settings, load_sent(paths), lambda sent: save_sent(paths, sent), which=lambda name: None)


def test_each_threshold_alerts_once_per_period_and_a_restart_does_not_repeat_it(memproxy_home: Path) -> None:
    with WebhookRecorder() as hook:
        settings = BudgetSettings(thresholds=[50, 80, 100], alert_webhook=hook.url)
        first = alerter(settings)
        for spent in (0.3, 0.55, 0.6, 0.85, 1.2, 1.5):
            first.crossed(LIMIT, spent, NOW)
        told = hook.wait(3)
        assert [a["threshold_percent"] for a in told] == [50, 80, 100]
        assert told[2]["project"] == "shop" and told[2]["period"] == "daily" and "100%" in told[2]["text"]

        again = alerter(settings)  # a restarted daemon reads what was sent
        again.crossed(LIMIT, 1.5, NOW)
        again.crossed(LIMIT, 0.6, NOW + timedelta(days=1))  # a new day: 50% is news again
        assert [a["threshold_percent"] for a in hook.wait(4)] == [50, 80, 100, 50]
        assert again.told == 1


def test_a_hanging_webhook_holds_only_the_alert_thread() -> None:
    with WebhookRecorder() as hook:
        hook.hold()
        told = alerter(BudgetSettings(thresholds=[50, 100], alert_webhook=hook.url))
        told.crossed(LIMIT, 0.5, NOW)
        hook.wait(1)
        # the first POST hangs; the next crossing is still decided and logged, its POST queued behind
        told.crossed(LIMIT, 1.0, NOW)
        assert told.told == 2
        assert len(hook.received) == 1 and hook.holding == 1
        hook.release()
        assert [a["threshold_percent"] for a in hook.wait(2)] == [50, 100]
