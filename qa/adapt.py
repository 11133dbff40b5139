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
the same questions gave different weights (one or two test questions apart); with them, trainings on one
installation give byte-identical weights, on a quiet machine and a busy one alike. A second installation with
the same package versions (a fresh clone) trained other weights, one test question apart; why is not known.
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
from qa.embedding import Embedder, SentenceTransformerEmbedder
from qa.errors import ConfigError
from qa.evaluate import fold, is_relevant, load_questions
from qa.index import Index, sha256_file

log = logging.getLogger(__name__)
FOLDER = "query_encoder"  # inside the index folder: rebuilt with it
MANIFEST = "adapt.json"
WEIGHTS = "model.safetensors"
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
        _save(model, folder, dict(key, examples=len(data), train_seconds=round(seconds, 1)))
    except OSError as e:  # read-only or full disk: keep serving with the model in memory, say so
        log.warning("could not write the query encoder to %s (%s)", folder, e.strerror or e)
        return _in_memory(model), f"trained in memory on {len(data)} questions; not saved: {e.strerror or e}"
    return folder, f"trained on {len(data)} questions in {seconds:.0f} s"


def _in_memory(model) -> Path:  # type: ignore[no-untyped-def]
    """A temporary copy for a read-only index folder (removed with the process's temp files)."""
    tmp = Path(tempfile.mkdtemp(prefix="qa-query-encoder-"))
    model.save(str(tmp))
    return tmp


def _is_current(folder: Path, key: dict) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return (all(manifest.get(k) == v for k, v in key.items())
                and sha256_file(folder / WEIGHTS) == manifest.get("weights_sha256"))
    except (OSError, ValueError, AttributeError):
        return False


def _save(model, folder: Path, manifest: dict) -> None:  # type: ignore[no-untyped-def]
    """Atomic like the index: a temporary folder renamed into place, manifest with the weights' checksum last."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        model.save(str(tmp))
        manifest = dict(manifest, weights_sha256=sha256_file(tmp / WEIGHTS))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp)
        raise


class QueryTunedEmbedder:
    """Passages through the base embedder (the index's space), questions through the tuned encoder."""

    def __init__(self, base: Embedder, query_model: Path, threads: int = 0, cache_size: int = 2048) -> None:
        self.base = base
        self.name = base.name
        # cache like the base does: a base without a query cache (qa bench's timing wrapper) gets none here either
        self.query = SentenceTransformerEmbedder(str(query_model), threads=threads,
                                                 cache_size=cache_size if hasattr(base, "embed_query") else 0)

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
