"""The budget files in memproxy's state folder (beside the port registry).

`budgets.json` holds the limits set with `memproxy budget set` (`{"projects": {name: {daily, ...}}}`),
so the CLI never rewrites a user's commented config.yaml; they lie over the config's field by field
(daemon.budgets.table). `budget_alerts.json` remembers which alerts were sent this period, so a
restarted daemon does not send them again. Both are written atomically (temp file + `os.replace`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from daemon.config.budgets import ProjectBudget
from daemon.config.paths import Paths
from daemon.errors import ConfigError

# alerts remembered: every threshold of every limit of a few hundred projects for one month
MAX_SENT = 5000


def alerts_file(paths: Paths) -> Path:
    return paths.state_dir / "budget_alerts.json"


def load_overrides(paths: Paths) -> dict[str, ProjectBudget]:
    """The limits set from the CLI, by project (none when the file does not exist)."""
    path = paths.budgets_file
    data = _read_json(path)
    projects = data.get("projects", {}) if isinstance(data, dict) else None
    if not isinstance(projects, dict):
        raise ConfigError(f'{path}: expected {{"projects": {{...}}}}; fix or delete the file')
    found: dict[str, ProjectBudget] = {}
    for name, entry in projects.items():
        try:
            found[name] = ProjectBudget.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in (name, *first["loc"]))
            raise ConfigError(
                f"{path}: {where}: {first['msg']}; fix it with `memproxy budget set` or delete the file"
            ) from exc
    return found


def set_limits(
    paths: Paths, project: str, limits: dict[str, float], *, model: str | None = None, soft: bool | None = None
) -> ProjectBudget:
    """Record `limits` ({period: usd}) for `project` (or its `model`) in budgets.json; the project's new entry."""
    path = paths.budgets_file
    data = _read_json(path)
    projects: dict[str, Any] = dict(data.get("projects", {})) if isinstance(data, dict) else {}
    entry: dict[str, Any] = dict(projects.get(project, {}))
    if model is None:
        entry.update(limits)
    else:
        models = dict(entry.get("models", {}))
        models[model] = {**models.get(model, {}), **limits}
        entry["models"] = models
    if soft is not None:
        entry["soft"] = soft
    validated = ProjectBudget.model_validate(entry)  # the CLI checked the values; this checks the whole entry
    projects[project] = entry
    _write_json(path, {"version": 1, "projects": dict(sorted(projects.items()))})
    return validated


def clear_limits(paths: Paths, project: str, model: str | None = None) -> bool:
    """Forget the CLI's limits of `project` (or of its `model`); False if there were none."""
    path = paths.budgets_file
    data = _read_json(path)
    projects: dict[str, Any] = dict(data.get("projects", {})) if isinstance(data, dict) else {}
    if project not in projects:
        return False
    if model is None:
        del projects[project]
    else:
        models = dict(projects[project].get("models", {}))
        if models.pop(model, None) is None:
            return False
        projects[project] = {**projects[project], "models": models}
    _write_json(path, {"version": 1, "projects": projects})
    return True


def load_sent(paths: Paths) -> list[str]:
    """The alerts already sent (keys naming project, model, period, its key and the threshold)."""
    try:
        data = _read_json(alerts_file(paths))
    except ConfigError:
        return []  # a damaged alerts file costs at most a repeated alert
    sent = data.get("sent", []) if isinstance(data, dict) else []
    return [s for s in sent if isinstance(s, str)]


def save_sent(paths: Paths, sent: list[str]) -> None:
    _write_json(alerts_file(paths), {"sent": sent[-MAX_SENT:]})


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc
