"""Memory's embeddings through the gateway's own embeddings route, in process.

`context_retrieval.embedding_model` names a `model_list` entry; `RouterEmbedder` calls the Router's
`aembedding` for it with the key the deployment's call would carry for a request without a client
key (its own, the provider's environment, none for a local server), as `POST /v1/embeddings` does,
without an HTTP hop to the daemon itself. `memory_backend` wraps the local store in
`SemanticBackend` when the key is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from daemon.errors import ModelNotFound
from daemon.gateway.credentials import upstream_credentials
from daemon.gateway.pipeline import call_llm

if TYPE_CHECKING:
    from daemon.gateway.state import Gateway
    from daemon.memory.base import MemoryBackend


async def _call(router: Any, kwargs: dict[str, Any]) -> Any:
    return await router.aembedding(**kwargs)


class RouterEmbedder:
    """`await embedder(texts)` → one vector per text, from `model` through the gateway's Router."""

    def __init__(self, gateway: Gateway, model: str) -> None:
        self.gateway = gateway
        self.model = model

    async def __call__(self, texts: list[str]) -> list[list[float]]:
        gw = self.gateway
        entry = gw.deployment(self.model)
        if entry is None:
            raise ModelNotFound(f"embedding model '{self.model}' is not in model_list")
        master_key = gw.settings.general_settings.master_key
        kwargs = upstream_credentials(entry.litellm_params, self.model, {}, master_key, gw.needs(entry))
        response = await call_llm(gw, _call, {"model": self.model, "input": texts, **kwargs})
        data = sorted(response.data, key=lambda item: _field(item, "index"))
        return [list(_field(item, "embedding")) for item in data]


def _field(item: Any, name: str) -> Any:
    # LiteLLM hands the data items as dicts or as objects, by provider
    return item[name] if isinstance(item, dict) else getattr(item, name)


def memory_backend(gateway: Gateway, memory: MemoryBackend) -> MemoryBackend:
    """`memory`, semantic when `context_retrieval.embedding_model` names a model (local backend only:
    Supermemory ranks by meaning itself)."""
    cr = gateway.settings.context_retrieval
    if cr.embedding_model is None or cr.backend != "local":
        return memory
    from daemon.memory.local import LocalBackend
    from daemon.memory.semantic import SemanticBackend

    if not isinstance(memory, LocalBackend):
        return memory
    return SemanticBackend(
        memory,
        RouterEmbedder(gateway, cr.embedding_model),
        model=cr.embedding_model,
        min_similarity=cr.min_similarity,
        min_match_ratio=cr.min_match_ratio,
        embed_timeout=max(0.1, cr.timeout * 0.75),
        secrets=gateway.secrets,
    )
