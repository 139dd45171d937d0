"""`memproxy doctor`'s upstream check: is each configured `api_base` there at all?

One `GET <api_base>/models` per distinct base, without a key and with a short timeout: a list of
models costs nothing anywhere, and any HTTP answer (200, 401, 404) means a server is there. Only
a base the config names is probed; a provider's public API is reached at the first request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Probe:
    base: str
    ok: bool
    detail: str


def probe(base: str, timeout: float = TIMEOUT_S) -> Probe:
    """What `GET <base>/models` says about `base`: reachable (with the status) or why not."""
    import httpx

    url = base.rstrip("/") + "/models"
    started = time.monotonic()
    try:
        answer = httpx.get(url, timeout=timeout, follow_redirects=False)
    except httpx.ConnectError as exc:
        refused = "refused" in str(exc).lower() or "errno 111" in str(exc).lower()
        return Probe(base, False, "connection refused" if refused else f"cannot connect ({_short(exc)})")
    except httpx.TimeoutException:
        return Probe(base, False, f"no answer within {timeout:.0f} s")
    except httpx.HTTPError as exc:
        return Probe(base, False, _short(exc))
    took = (time.monotonic() - started) * 1000
    return Probe(base, True, f"answers (GET /models: HTTP {answer.status_code}, {took:.0f} ms)")


def bases(model_list: Any) -> dict[str, list[str]]:
    """Each configured `api_base` with the model names that use it, in config order."""
    found: dict[str, list[str]] = {}
    for entry in model_list:
        base = entry.litellm_params.get("api_base")
        if isinstance(base, str) and base.startswith(("http://", "https://")):
            found.setdefault(base, []).append(entry.model_name)
    return found


def _short(exc: BaseException) -> str:
    return str(exc).split("\n", 1)[0][:120] or type(exc).__name__
