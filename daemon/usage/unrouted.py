"""`memproxy stats --unrouted`: the model names clients asked for that no deployment serves.

Such a request is an error row (404) that never got a provider: the gateway records the provider
once a deployment is found, so `provider IS NULL` tells "nothing serves this name" apart from an
upstream's own 404. Each name comes with the `router_settings.model_group_alias` line that would
route it, pointing at the configured model whose name is closest.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from daemon.usage.query import fetch_all
from daemon.usage.record import iso_utc

_UNROUTED = (
    "SELECT model, COUNT(*), MAX(started_at), group_concat(DISTINCT client), group_concat(DISTINCT project)"
    " FROM requests WHERE status = 'error' AND http_status = 404 AND provider IS NULL AND model IS NOT NULL"
)
# A YAML plain scalar that needs no quotes (and is no YAML keyword or number)
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9._/-]*$")
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})


def unrouted_names(
    db_path: str | Path, since: datetime | None = None, until: datetime | None = None, project: str | None = None
) -> list[dict[str, Any]]:
    """Each requested name that found no route: `{model, requests, last_seen, clients, projects}`,
    the most asked first."""
    sql, params = _UNROUTED, list[object]()
    for condition, value in (("started_at >= ?", since), ("started_at < ?", until)):
        if value is not None:
            sql += f" AND {condition}"
            params.append(iso_utc(value))
    if project is not None:
        sql += " AND project = ?"
        params.append(project)
    sql += " GROUP BY model ORDER BY COUNT(*) DESC, model"
    return [
        {
            "model": model,
            "requests": count,
            "last_seen": last,
            # names never hold a comma: both are cleaned to letters, digits, `.`, `_`, `-`
            "clients": sorted(clients.split(",")) if clients else [],
            "projects": sorted(projects.split(",")) if projects else [],
        }
        for model, count, last, clients, projects in fetch_all(db_path, sql, params)
    ]


def closest_model(name: str, configured: Sequence[str]) -> str | None:
    """The configured concrete model name most like `name` (`claude-opus-4-8` -> `claude-sonnet-4-5`),
    else the first one; None when only patterns are configured."""
    concrete = [c for c in configured if "*" not in c]
    if not concrete:
        return None
    close = difflib.get_close_matches(name, concrete, n=1, cutoff=0.0)
    return close[0] if close else concrete[0]


def yaml_key(text: str) -> str:
    """`text` as a YAML mapping key or value: plain when it can be, else double-quoted."""
    return text if _PLAIN.match(text) and text.lower() not in _YAML_WORDS else json.dumps(text)


def unrouted_report(
    rows: list[dict[str, Any]], configured: Sequence[str], routes: Callable[[str], bool]
) -> dict[str, Any]:
    """The `stats --unrouted --json` document: the names that still route nowhere under the current
    config (`routes(name)` says whether one does now), each with its suggested alias, and the YAML
    block to add."""
    names = []
    for row in rows:
        if routes(row["model"]):
            continue  # an alias or a deployment added since: nothing left to do
        target = closest_model(row["model"], configured)
        line = f"{yaml_key(row['model'])}: {yaml_key(target) if target else '<a model from `memproxy status`>'}"
        names.append({**row, "suggested_model": target, "config_line": line})
    config = ""
    if names:
        config = "router_settings:\n  model_group_alias:\n" + "".join(f"    {n['config_line']}\n" for n in names)
    return {"unrouted": names, "config": config}
