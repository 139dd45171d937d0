"""`GET /v1/models`: the model names a client can ask for, in a list both the OpenAI and the
Anthropic SDK read (Claude Code's gateway model discovery and IDE pickers use it).

Concrete names only: a configured name as it is; for a wildcard (`claude-*`), the provider's models
from LiteLLM's local model list that match it; then the aliases of `router_settings.model_group_alias`
that are not hidden.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from daemon.gateway.llm import deployment_provider
from daemon.gateway.state import Gateway

router = APIRouter()

# the kinds of model a chat or agent tool can be pointed at
_LISTED_MODES = frozenset({"chat", "responses"})


def wildcard_models(entry: Any, model_cost: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The names a wildcard deployment serves, as a client would ask for them."""
    provider = deployment_provider(entry)
    target = str(entry.litellm_params.get("model", ""))
    pattern = target.split("/", 1)[1] if "/" in target else target
    if provider is None or "*" not in pattern:
        return []
    head = pattern.split("*", 1)[0]
    names = []
    for key, info in model_cost.items():
        if info.get("litellm_provider") != provider or info.get("mode") not in _LISTED_MODES:
            continue
        bare = key.split("/", 1)[1] if key.startswith(f"{provider}/") else key
        if "/" not in bare and fnmatch.fnmatchcase(bare, pattern):
            names.append(entry.model_name.replace("*", bare[len(head) :], 1))
    return sorted(n for n in names if fnmatch.fnmatchcase(n, entry.model_name))


def model_ids(model_list: Iterable[Any], aliases: Iterable[str], model_cost: Mapping[str, Any]) -> list[str]:
    """Every concrete name, each once, in config order."""
    ids: dict[str, None] = {}
    for entry in model_list:
        names = wildcard_models(entry, model_cost) if "*" in entry.model_name else [entry.model_name]
        ids.update(dict.fromkeys(names))
    ids.update(dict.fromkeys(aliases))
    return list(ids)


@router.get("/v1/models")
@router.get("/models", include_in_schema=False)
async def list_models(request: Request) -> Response:
    """Configured model names, readable by both the OpenAI and the Anthropic SDK."""
    gw: Gateway = request.app.state.gateway
    created = int(gw.started_at)
    created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    names = model_ids(gw.settings.model_list, gw.settings.router_settings.listed_aliases(), gw.model_cost)
    data = [
        {
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "memproxy",
            "type": "model",
            "display_name": name,
            "created_at": created_at,
        }
        for name in names
    ]
    first = data[0]["id"] if data else None
    last = data[-1]["id"] if data else None
    return JSONResponse({"object": "list", "data": data, "has_more": False, "first_id": first, "last_id": last})
