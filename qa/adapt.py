"""Domain adaptation: a query encoder fine-tuned on training questions, against the index's own vectors.

Patients ask in words the pages never use ("the nasty stuff", "my numbers"); the bundled model was never
taught that they point at this corpus's passages. Here a copy of the model is fine-tuned on the questions
of `eval/train_questions.jsonl` (split "train": never the evaluation's dev or test questions) so that each
question's vector lands near the passages and sentences that answer it.

Only the query side is trained. Passages keep the bundled model's vectors, so the index is not re-embedded
and the tuned encoder still speaks the same vector space (a corpus change only means retraining, which
`Assistant.load` does like an index rebuild). The loss is cross-entropy over *every* passage and sentence of
the index (no sampled negatives: the corpus is small enough to score all of it each step), with several
positives when a gold span is repeated in overlapping passages. It takes about three minutes on two CPU
cores and runs offline. It is seeded and runs torch's deterministic algorithms: without them two trainings on
the same questions gave different weights (one or two test questions apart). The training queries must be
deterministic too: typo correction once settled a tie by set order, which changes with each process's hash
seed, so one training question was prepared two ways and installations seemed to train different weights
(qa.query now breaks ties by context). A fresh clone now trains byte-identical weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.config import Config
from qa.embedding import Embedder, OnnxQueryEncoder, SentenceTransformerEmbedder
from qa.errors import ConfigError
from qa.evaluate import fold, is_relevant, load_questions
from qa.index import Index, sha256_file

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


def examples(index: Index, questions: list, prepare: Callable[[str, list[str]], str]) -> list[Example]:
    """Training examples from gold questions: the prepared query, and every passage/sentence holding a span."""
    sentence_text = [(row, chunk.text[s:e]) for row, chunk in enumerate(index.chunks) for s, e in chunk.sentences]
    folded_sentences = [fold(t) for _, t in sentence_text]
    out = []
    for q in questions:
        if not q.answerable:
            continue
        chunks = tuple(r for r, c in enumerate(index.chunks) if is_relevant(c.text, q.gold_spans))
        if not chunks:
            continue  # the span is not in this corpus (a maintainer changed it): skip, don't guess
        spans = [fold(s) for s in q.gold_spans]
        sentences = tuple(j for j, f in enumerate(folded_sentences)
                          if f and sentence_text[j][0] in chunks and any(f in s or s in f for s in spans))
        out.append(Example(prepare(q.question, list(q.history)), chunks, sentences))
    return out


def settings_key(cfg: Config, index: Index, train_sha: str) -> dict:
    """Everything the tuned encoder depends on; a difference means retraining."""
    return {
        "base_model": cfg.model_name,
        "index_corpus_sha256": index.manifest.get("corpus_sha256"),
        "chunk_tokens": cfg.chunk_tokens,
        "overlap_sentences": cfg.overlap_sentences,
        "train_questions_sha256": train_sha,
        "lay_terms_sha256": _lay_terms_sha(),  # the training queries are prepared with it
        "epochs": cfg.adapt_epochs,
        "learning_rate": cfg.adapt_lr,
        "temperature": TEMPERATURE,
        "batch_size": BATCH_SIZE,
        "seed": SEED,
    }


def _lay_terms_sha() -> str:
    from importlib import resources

    return hashlib.sha256(resources.files("qa").joinpath("data/lay_terms.json").read_bytes()).hexdigest()


def train(base_model: str, data: list[Example], chunk_vectors: np.ndarray, sentence_vectors: np.ndarray,
          epochs: int, lr: float, temperature: float = TEMPERATURE, batch_size: int = BATCH_SIZE, seed: int = SEED,
          threads: int = 2):  # type: ignore[no-untyped-def]
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

        def multi_positive_ce(logits, mask):  # -log(sum of the positives' softmax mass)
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


def ensure_query_encoder(cfg: Config, index: Index, prepare: Callable[[str, list[str]], str],
                         force: bool = False) -> tuple[Path | None, str]:
    """The tuned encoder's folder (trained first when missing or stale) and what happened; None when not adapting."""
    if not cfg.adapt:
        return None, "base model (adaptation off)"
    train_path = Path(cfg.train_questions)
    if not train_path.exists():
        raise ConfigError(f"training questions {train_path} do not exist; set QA_TRAIN_QUESTIONS or QA_ADAPT=0")
    folder = Path(cfg.index_dir) / FOLDER
    key = settings_key(cfg, index, sha256_file(train_path))
    if not force and _is_current(folder, key):
        if cfg.query_onnx:
            ensure_onnx(folder)
        return folder, "loaded"
    questions = [q for q in load_questions(train_path) if q.split == "train"]
    data = examples(index, questions, prepare)
    if not data:
        return None, f"base model (no training question of {train_path} matches this corpus)"
    t0 = time.perf_counter()
    chunk_vectors = np.vstack([index.dense.reconstruct(i) for i in range(index.dense.ntotal)])
    sentence_vectors = np.vstack([index.sentences.reconstruct(i) for i in range(index.sentences.ntotal)])
    model = train(cfg.model_name, data, chunk_vectors, sentence_vectors,
                  epochs=cfg.adapt_epochs, lr=cfg.adapt_lr, threads=max(cfg.torch_threads, 2))
    seconds = time.perf_counter() - t0
    try:
        _save(model, folder, dict(key, examples=len(data), train_seconds=round(seconds, 1)), onnx=cfg.query_onnx)
    except OSError as e:  # read-only or full disk: keep serving with the model in memory, say so
        log.warning("could not write the query encoder to %s (%s)", folder, e.strerror or e)
        return _in_memory(model), f"trained in memory on {len(data)} questions; not saved: {e.strerror or e}"
    return folder, f"trained on {len(data)} questions in {seconds:.0f} s"


def _in_memory(model) -> Path:  # type: ignore[no-untyped-def]
    """A temporary copy for a read-only index folder (removed with the process's temp files)."""
    tmp = Path(tempfile.mkdtemp(prefix="qa-query-encoder-"))
    model.save(str(tmp))
    try:
        (tmp / MANIFEST).write_text(json.dumps(export_onnx(model, tmp / ONNX)) + "\n", encoding="utf-8")
    except (OSError, RuntimeError, ImportError, ConfigError) as e:
        log.warning("no ONNX query encoder (%s); questions go through torch", e)
    return tmp


def _manifest(folder: Path) -> dict:
    """The encoder folder's manifest, or {} when it is missing or damaged."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _is_current(folder: Path, key: dict) -> bool:
    manifest = _manifest(folder)
    try:
        return (bool(manifest) and all(manifest.get(k) == v for k, v in key.items())
                and sha256_file(folder / WEIGHTS) == manifest.get("weights_sha256"))
    except OSError:
        return False


def _save(model, folder: Path, manifest: dict, onnx: bool = True) -> None:  # type: ignore[no-untyped-def]
    """Atomic like the index: a temporary folder renamed into place, manifest with the weights' checksum last."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        model.save(str(tmp))
        manifest = dict(manifest, weights_sha256=sha256_file(tmp / WEIGHTS))
        if onnx:
            manifest.update(export_onnx(model, tmp / ONNX))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise


PROBES = ("what is imatinib (Gleevec)?", "can chemo make my hair fall out",
          "how long do I stay in the hospital after a bone marrow transplant and what are the risks of GVHD")


def export_onnx(model, path: Path) -> dict:  # type: ignore[no-untyped-def]
    """Write the encoder as one ONNX graph and check it against torch; its checksum for the manifest.

    The graph holds the transformer plus mean pooling and normalisation, so ONNX Runtime returns the vector
    sentence-transformers would. torch's TorchScript exporter traces one question; the sequence length stays
    dynamic and padded batches stay correct (checked below on questions of different lengths).
    """
    import warnings

    import onnxruntime
    import torch

    _pooling_is_mean(model)
    bert = model[0].auto_model.eval()

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    features = model.tokenizer([PROBES[0]], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
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
    return {"onnx_sha256": sha256_file(path), "onnx_max_tokens": int(model.max_seq_length)}


def _pooling_is_mean(model) -> None:  # type: ignore[no-untyped-def]
    modules = [type(m).__name__ for m in model]
    pooling = getattr(model[1], "pooling_mode_mean_tokens", None) if len(modules) > 1 else None
    if modules[:3] != ["Transformer", "Pooling", "Normalize"] or pooling is False:
        raise ConfigError(f"the ONNX export expects Transformer + mean Pooling + Normalize, not {modules}")


def ensure_onnx(folder: Path) -> bool:
    """Export the ONNX graph of a saved encoder when it is missing or fails its checksum (an older build)."""
    manifest_path, manifest = folder / MANIFEST, _manifest(folder)
    try:
        if (folder / ONNX).exists() and sha256_file(folder / ONNX) == manifest.get("onnx_sha256"):
            return True
        model = SentenceTransformerEmbedder(str(folder)).model
        manifest.update(export_onnx(model, folder / ONNX))
        tmp = manifest_path.with_name(MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, manifest_path)
        return True
    except (OSError, ValueError, RuntimeError, ImportError, ConfigError) as e:  # read-only, odd model: torch serves
        log.warning("no ONNX query encoder in %s (%s); questions go through torch", folder, e)
        return False


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
