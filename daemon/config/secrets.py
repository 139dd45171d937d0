"""Which config values are secret, and how `config show` masks them.

The values collected here are redacted from the daemon's log, its answers and the databank by value.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from daemon.config.settings import ConfigFile

# litellm_params names that hold credentials. `max_tokens` must not match: values are redacted
# from logs by value, and redacting "100" everywhere would wreck the logs.
_SECRET_PARAM = re.compile(r"(^|_)(api_key|key|secret|secret_access_key|token|password|credentials)$")
# Values shorter than this are not redacted by value: they would match ordinary text.
_MIN_SECRET_LEN = 4


def collect_secrets(file: ConfigFile) -> frozenset[str]:
    """Every secret value the config resolved to, for redacting logs by value."""
    found: list[Any] = [
        file.general_settings.master_key,
        file.context_retrieval.api_key,
        file.tool_execution.supermemory_api_key,
        file.budgets.alert_webhook,  # a Slack-style hook URL is its own credential
    ]
    for entry in file.model_list:
        found += [v for k, v in entry.litellm_params.items() if _SECRET_PARAM.search(k)]
        # a deployment's extra headers may carry any credential (a gateway token, a tenant key)
        headers = entry.litellm_params.get("extra_headers")
        values = [v for v in headers.values() if isinstance(v, str)] if isinstance(headers, dict) else []
        # "Bearer <token>": the token alone is what an upstream quotes back
        found += values + [v.split(" ", 1)[1] for v in values if " " in v.strip()]
    return frozenset(v for v in found if isinstance(v, str) and len(v) >= _MIN_SECRET_LEN)


def mask_secret(value: object) -> str:
    """`sk-…yz` for long secrets (first 3, last 2 characters), `****` for anything short."""
    text = str(value)
    if len(text) < 12:
        return "****"
    return f"{text[:3]}…{text[-2:]}"


def mask_tree(value: Any, secrets: frozenset[str], key: str = "") -> Any:
    """`value` (the config as JSON data) with every secret masked: known values, credential-named
    keys, every `extra_headers` value and passwords in URLs."""
    if isinstance(value, dict) and key == "extra_headers":
        return {k: mask_secret(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {k: mask_tree(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v, secrets, key) for v in value]
    if isinstance(value, str):
        if value in secrets or (_SECRET_PARAM.search(key) and value):
            return mask_secret(value)
        return _mask_url_password(value)
    return value


def _mask_url_password(value: str) -> str:
    """postgres://user:pw@host/db → postgres://user:****@host/db."""
    if "://" not in value or "@" not in value:
        return value
    try:
        password = urlsplit(value).password
    except ValueError:
        return value
    return value.replace(f":{password}@", ":****@", 1) if password else value
