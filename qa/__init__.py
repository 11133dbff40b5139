"""Retrieval-only, cited answers from the pages of a corpus folder (shipped with the ACS adult ALL treatment pages).

The public API is re-exported here lazily, so `import qa` loads neither torch nor gradio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "Config": "qa.config",
    "Document": "qa.types",
    "Chunk": "qa.types",
    "Hit": "qa.types",
    "Passage": "qa.types",
    "Answer": "qa.types",
    "GoldQuestion": "qa.types",
    "QAError": "qa.errors",
    "ConfigError": "qa.errors",
    "CorpusError": "qa.errors",
    "IndexNotFoundError": "qa.errors",
    "IndexMismatchError": "qa.errors",
    "load_corpus": "qa.corpus",
    "chunk_document": "qa.chunking",
    "build_index": "qa.index",
    "load_index": "qa.index",
    "Retriever": "qa.retrieval",
    "Assistant": "qa.assistant",
    "contextualize": "qa.conversation",
    "evaluate": "qa.evaluate",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from qa.assistant import Assistant  # noqa: F401
    from qa.config import Config  # noqa: F401
    from qa.types import Answer, Chunk, Document, Hit, Passage  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
