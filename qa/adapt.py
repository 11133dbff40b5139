"""Domain adaptation: a query encoder fine-tuned on the corpus's own questions, against the index's own vectors.

Patients ask in words the pages never use ("the nasty stuff", "my numbers"); the bundled model was never taught
that they point at this corpus's passages. A copy of the model is fine-tuned (qa.learn calls `train`) so that
each training question's vector lands near the passages and sentences that answer it.

Only the query side is trained. Passages keep the bundled model's vectors, so the index is not re-embedded and
the tuned encoder still speaks the same vector space. The loss is cross-entropy over every passage and sentence
of the index (a sample of them once the index is large), with several positives when a span is repeated in
overlapping passages. It is seeded and runs torch's deterministic algorithms, so the same questions give the same
weights; the questions themselves are deterministic too (qa.synthesize, and typo correction that never depends on
a set's hash order).
"""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from qa.embedding import ONNX_INPUTS, Embedder, OnnxQueryEncoder, SentenceTransformerEmbedder
from qa.errors import ConfigError
from qa.index import sha256_file

if TYPE_CHECKING:  # heavy imports (torch): only for the type checker
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)
FOLDER = "query_encoder"  # inside the index folder: rebuilt with it
MANIFEST = "adapt.json"
WEIGHTS = "model.safetensors"
ONNX = "query.onnx"  # the same encoder for ONNX Runtime (Config.query_onnx): exported from WEIGHTS
TEMPERATURE, BATCH_SIZE, SEED = 0.05, 16, 0  # fixed training settings (the tunable ones live in Config)


@dataclass(frozen=True)
class Example:
    """One training question as the retriever will see it, and the index rows that answer it."""

    query: str
    chunks: tuple[int, ...]  # rows of index.dense
    sentences: tuple[int, ...]  # rows of index.sentences (may be empty when no single sentence holds the span)


def sample_rows(data: list[Example], chunks: int, sentences: int, limit: int,
                seed: int = SEED) -> tuple[list[Example], np.ndarray, np.ndarray]:
    """The index rows training contrasts against: every row that answers a question plus a seeded sample of the
    rest, `limit` passages and `limit` sentences at most, so memory and time stop growing with the corpus. Returns
    the examples renumbered into those rows and the rows themselves (ascending). A corpus under the limit keeps
    every row, in order, and its examples unchanged."""
    rng = np.random.default_rng(seed)

    def pick(total: int, needed: set[int]) -> np.ndarray:
        if total <= limit:
            return np.arange(total, dtype=np.int64)
        rest = np.setdiff1d(np.arange(total, dtype=np.int64), np.fromiter(needed, np.int64, len(needed)))
        extra = rng.choice(rest, size=max(min(limit - len(needed), len(rest)), 0), replace=False)
        return np.sort(np.concatenate([np.fromiter(needed, np.int64, len(needed)), extra]))

    chunk_rows = pick(chunks, {r for e in data for r in e.chunks})
    sentence_rows = pick(sentences, {r for e in data for r in e.sentences})
    if len(chunk_rows) == chunks and len(sentence_rows) == sentences:
        return data, chunk_rows, sentence_rows
    chunk_at = {int(r): i for i, r in enumerate(chunk_rows)}
    sentence_at = {int(r): i for i, r in enumerate(sentence_rows)}
    renumbered = [Example(e.query, tuple(chunk_at[r] for r in e.chunks), tuple(sentence_at[r] for r in e.sentences))
                  for e in data]
    return renumbered, chunk_rows, sentence_rows


def train(base_model: str, data: list[Example], chunk_vectors: np.ndarray, sentence_vectors: np.ndarray,
          epochs: int, lr: float, temperature: float = TEMPERATURE, batch_size: int = BATCH_SIZE, seed: int = SEED,
          threads: int = 2) -> SentenceTransformer:
    """Fine-tune a fresh copy of the base model so queries score their answers above every other row."""
    import torch

    before, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(max(threads, 1))
    torch.use_deterministic_algorithms(True)  # a retraining from the repo should give the same encoder
    try:
        torch.manual_seed(seed)
        model = SentenceTransformerEmbedder(base_model).model  # its own instance: the caller's stays untouched
        model.train()
        chunks = torch.from_numpy(np.ascontiguousarray(chunk_vectors, dtype=np.float32))
        sentences = torch.from_numpy(np.ascontiguousarray(sentence_vectors, dtype=np.float32))
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        order = list(range(len(data)))

        def multi_positive_ce(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            # -log(sum of the positives' softmax mass)
            return torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~mask, -1e9), 1)

        for epoch in range(epochs):
            random.Random(seed + epoch).shuffle(order)
            for start in range(0, len(order), batch_size):
                batch = [data[i] for i in order[start:start + batch_size]]
                features = model.preprocess([e.query for e in batch])
                q = torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=1)
                chunk_mask = torch.zeros(len(batch), len(chunks), dtype=torch.bool)
                sentence_mask = torch.zeros(len(batch), len(sentences), dtype=torch.bool)
                for n, e in enumerate(batch):
                    chunk_mask[n, list(e.chunks)] = True
                    if e.sentences:
                        sentence_mask[n, list(e.sentences)] = True
                loss = multi_positive_ce(q @ chunks.T / temperature, chunk_mask).mean()
                has = sentence_mask.any(1)
                if bool(has.any()):
                    loss = loss + multi_positive_ce(q @ sentences.T / temperature, sentence_mask)[has].mean()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        model.eval()
        return model
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(deterministic)


def _manifest(folder: Path) -> dict:
    """The encoder folder's manifest, or {} when it is missing or damaged."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


# questions of different lengths the ONNX export is checked on (padding included): any text will do
PROBES = ("what is it?", "can the treatment make my hair fall out",
          "how long do I stay in the hospital after the procedure and what are the risks afterwards, in plain words")


def export_onnx(model: SentenceTransformer, path: Path) -> dict[str, Any]:
    """Write the encoder as one ONNX graph and check it against torch; its checksum for the manifest.

    The graph holds the transformer plus mean pooling and normalisation, so ONNX Runtime returns the vector
    sentence-transformers would. torch's TorchScript exporter traces one question; the sequence length stays
    dynamic and padded batches stay correct (checked below on questions of different lengths).
    """
    import warnings

    import onnxruntime
    import torch

    _pooling_is_mean(model)
    bert = cast(Any, model[0]).auto_model.eval()  # the Transformer module (checked just above)

    features = model.tokenizer([PROBES[0]], return_tensors="pt")
    names = [n for n in ONNX_INPUTS if n in features]  # the inputs this model's tokenizer gives

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            feeds = dict(zip(names, inputs, strict=True))
            tokens = self.bert(**feeds).last_hidden_state
            mask = feeds["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    tmp = path.with_name(path.name + ".tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notes: the check below is what counts
        torch.onnx.export(Graph(), tuple(features[n] for n in names), str(tmp), input_names=names,
                          output_names=["vector"], opset_version=17, dynamo=False,
                          dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "vector": {0: "batch"}})
    session = onnxruntime.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    batch = model.tokenizer(list(PROBES), return_tensors="np", padding=True)
    got = session.run(None, {n: batch[n].astype(np.int64) for n in names})[0]
    want = model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True)
    cosine = float((got * want).sum(1).min())
    if cosine < 0.9999:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"the ONNX export of the query encoder disagrees with torch (cosine {cosine:.5f})")
    os.replace(tmp, path)
    return {"onnx_sha256": sha256_file(path), "onnx_max_tokens": int(model.max_seq_length or 512)}


def _pooling_is_mean(model: SentenceTransformer) -> None:
    modules = [type(m).__name__ for m in model]
    pooling = getattr(model[1], "pooling_mode_mean_tokens", None) if len(modules) > 1 else None
    if modules[:3] != ["Transformer", "Pooling", "Normalize"] or pooling is False:
        raise ConfigError(f"the ONNX export expects Transformer + mean Pooling + Normalize, not {modules}")


class QueryTunedEmbedder:
    """Passages through the base embedder (the index's space), questions through the tuned encoder."""

    def __init__(self, base: Embedder, query_model: Path, threads: int = 0, cache_size: int = 2048,
                 onnx: bool = True) -> None:
        self.base = base
        self.name = base.name
        self.folder = query_model
        self.threads = threads
        # cache like the base does: a base without a query cache (qa bench's timing wrapper) gets none here either
        self.cache_size = cache_size if hasattr(base, "embed_query") else 0
        self.query: SentenceTransformerEmbedder | OnnxQueryEncoder
        manifest = _manifest(query_model)
        if onnx and (query_model / ONNX).exists() and "onnx_max_tokens" in manifest:
            try:
                self.query = OnnxQueryEncoder(query_model / ONNX, query_model / "tokenizer.json",
                                              manifest["onnx_max_tokens"], threads=threads, cache_size=self.cache_size)
                return
            except Exception as e:  # onnxruntime's own errors (a damaged graph in a read-only folder): torch serves
                log.warning("the ONNX query encoder did not load (%s); questions go through torch", e)
        self.query = SentenceTransformerEmbedder(str(query_model), threads=threads, cache_size=self.cache_size)

    @property
    def runtime(self) -> str:
        return "onnx" if isinstance(self.query, OnnxQueryEncoder) else "torch"

    def with_runtime(self, onnx: bool) -> QueryTunedEmbedder:
        """The same encoder run by the other runtime (evaluation compares the two)."""
        if onnx == (self.runtime == "onnx"):
            return self
        return QueryTunedEmbedder(self.base, self.folder, self.threads, self.cache_size, onnx=onnx)

    @property
    def dim(self) -> int:
        return self.base.dim

    @property
    def max_tokens(self) -> int:
        return self.base.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.base.count_tokens(text)

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.base.embed(texts)

    def clear_cache(self) -> None:
        self.query.clear_cache()
        clear = getattr(self.base, "clear_cache", None)
        if clear:
            clear()

    def embed_query(self, text: str) -> np.ndarray:
        return self.query.embed_query(text)
