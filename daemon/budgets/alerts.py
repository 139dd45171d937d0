"""Budget alerts: a threshold of a limit crossed, told once per period, never on the request path.

The ledger calls `Alerter.crossed` from the writer thread each time a priced row adds to a limit's
spend. The highest threshold reached and not yet told (`budgets.thresholds`, percent) is told at
once in the daemon log; a desktop notification (`notify-send`, macOS `osascript`) and the webhook
POST (`budgets.alert_webhook`, JSON with a Slack-style `text`) go to one background thread, each
with a short timeout, so a hanging webhook delays other alerts at most, never a request. What was
told is kept in `budget_alerts.json` (daemon.budgets.store): a restart does not tell it again.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from daemon.budgets.table import Limit, usd
from daemon.config.budgets import BudgetSettings

log = logging.getLogger("memproxy.budgets")

TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Alert:
    limit: Limit
    threshold: float
    spent: float
    period_key: str
    resets_at: datetime

    @property
    def text(self) -> str:
        pct = f"{self.threshold:g}%"
        return (
            f"memproxy: project {self.limit.project} reached {pct} of its {self.limit.describe()} "
            f"({usd(self.spent)} spent; resets {self.resets_at.strftime('%Y-%m-%d %H:%M')})"
        )

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON: Slack-style `text`, and the figures for anything else."""
        return {
            "text": self.text,
            "project": self.limit.project,
            "model": self.limit.model,
            "period": self.limit.period,
            "threshold_percent": self.threshold,
            "spent_usd": round(self.spent, 6),
            "limit_usd": self.limit.usd,
            "soft": self.limit.soft,
            "resets_at": self.resets_at.isoformat(timespec="seconds"),
        }


class Alerter:
    """Decides which alerts are due, logs them, and hands the slow ways of telling to one thread."""

    def __init__(
        self,
        settings: BudgetSettings,
        sent: list[str],
        save: Callable[[list[str]], None],
        *,
        which: Callable[[str], str | None] = shutil.which,
    ) -> None:
        self.thresholds = settings.thresholds
        self.webhook = settings.alert_webhook
        self.desktop = _desktop_command(which) if settings.desktop_notifications else None
        self._sent = list(sent)
        self._sent_set = set(sent)
        self._save = save
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[Alert | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.told = 0  # alerts logged (the slow ways follow on the thread)

    def crossed(self, limit: Limit, spent: float, now: datetime) -> None:
        """`limit` stands at `spent` now: tell the highest threshold reached that was not told this period."""
        percent = (100.0 if spent > 0 else 0.0) if limit.usd <= 0 else 100.0 * spent / limit.usd
        key, _, end = limit.bounds(now)
        with self._lock:
            due = [t for t in self.thresholds if t <= percent + 1e-9 and self._key(limit, key, t) not in self._sent_set]
            if not due:
                return
            for t in due:
                name = self._key(limit, key, t)
                self._sent.append(name)
                self._sent_set.add(name)
            sent = list(self._sent)
        alert = Alert(limit, max(due), spent, key, end)
        log.warning("%s", alert.text)
        self.told += 1
        try:
            self._save(sent)
        except Exception as exc:
            log.warning("could not remember the budget alert (a restart may send it again): %s", exc)
        if self.desktop or self.webhook:
            self._start()
            self._queue.put(alert)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)

    @staticmethod
    def _key(limit: Limit, period_key: str, threshold: float) -> str:
        return f"{limit.project}|{limit.model or ''}|{limit.period}|{period_key}|{threshold:g}"

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="memproxy-budget-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while (alert := self._queue.get()) is not None:
            if self.desktop is not None:
                self._notify_desktop(alert)
            if self.webhook:
                self._post(alert)

    def _notify_desktop(self, alert: Alert) -> None:
        assert self.desktop is not None
        try:
            subprocess.run(
                self.desktop(alert.text), timeout=TIMEOUT_S, check=False, capture_output=True, stdin=subprocess.DEVNULL
            )
        except (OSError, subprocess.SubprocessError) as exc:
            log.info("desktop notification failed: %s", exc)

    def _post(self, alert: Alert) -> None:
        assert self.webhook is not None
        request = urllib.request.Request(
            self.webhook,
            data=json.dumps(alert.payload()).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "memproxy"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                response.read(1024)
        except Exception as exc:
            # never the URL: a Slack-style hook's URL is its credential
            log.warning("the budget alert webhook failed: %s", type(exc).__name__)


def _desktop_command(which: Callable[[str], str | None]) -> Callable[[str], list[str]] | None:
    """How to show a desktop notification on this machine, or None where there is no way."""
    if sys.platform == "darwin" and which("osascript"):
        return lambda text: ["osascript", "-e", f'display notification {json.dumps(text)} with title "memproxy"']
    if which("notify-send"):
        return lambda text: ["notify-send", "--app-name=memproxy", "memproxy budget", text]
    return None
