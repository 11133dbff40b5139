"""One settings object: defaults, then QA_* environment variables, then CLI flags."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from qa.errors import ConfigError

MODES = ("dense", "lexical", "hybrid")
DEFAULT_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Config:
    """Every tunable of the pipeline, with the value the shipped default uses."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    model_name: str = DEFAULT_MODEL  # a bundled offline model (see MODELS.md): no hub download
    chunk_tokens: int = 160  # tiktoken cl100k tokens per chunk body (120/160/180/200 compared on dev)
    overlap_sentences: int = 1  # sentences repeated at the start of the next chunk
    k: int = 5  # passages returned
    shown: int = 3  # passages shown open in the chat; the rest fold under "more passages"
    candidates: int = 50  # per-retriever depth before fusion (pyserini's k0)
    rrf_k: int = 60  # Cormack et al. 2009; not the same k as above
    mode: str = "hybrid"
    dense_weight: float = 1.0  # weight of the dense run in fusion
    lexical_weight: float = 1.0  # weight of the BM25 run in fusion
    sentence_weight: float = 1.0  # weight of the best-sentence dense run in fusion
    rerank: bool = True  # second-stage linear scorer of the fused candidates (qa/data/reranker.json, pairwise)
    rerank_depth: int = 20  # candidates the reranker sees
    min_score: float = 0.20  # best passage cosine below this -> "not in these pages" (picked on dev)
    expand_query: bool = True  # aliases, lay terms and typo correction on the query
    use_history: bool = True  # follow-ups borrow the topic of earlier turns
    abstain_rules: bool = True  # decline what the pages never cover (qa/data/scope.json) and unknown names
    scope_model: bool = True  # learned out-of-scope model (qa/data/scope_model.json, eval/train_scope.py)
    scope_threshold: float = 0.55  # its decline probability (dev + val + 814 new questions: eval/experiments.md)
    mention_threshold: float = 0.10  # a "mention" rule (scope.json) needs this scope-model probability (dev + val)
    unknown_name_score: float = 0.60  # an unknown name declines only when the best match is below this (dev + val)
    adapt: bool = True  # questions go through a query encoder fine-tuned on train_questions (qa/adapt.py)
    train_questions: Path = Path("eval/train_questions.jsonl")  # split "train" only: never dev or test
    adapt_epochs: int = 2  # passes over the training questions (2 and 3 tie on dev; 2 trains faster)
    adapt_lr: float = 5e-5  # AdamW learning rate (picked on dev)
    query_onnx: bool = True  # the tuned encoder runs in ONNX Runtime: the same vectors in about half the time
    dense_plain_query: bool = False  # embed the question without appended aliases (BM25 still gets them)
    torch_threads: int = 1  # per process, torch and ONNX Runtime; one keeps tails short on shared cores; 0 = default
    max_question_chars: int = 2000  # longer messages are answered on their first part
    log_questions: bool = False  # privacy: questions are written (data_dir/questions.jsonl) only when on
    data_dir: Path = Path("data")  # where opt-in logs (feedback, questions) go
    feedback: bool = False  # thumbs up/down are stored under data_dir only when on (QA_FEEDBACK)
    host: str = "127.0.0.1"
    port: int = 7860

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        for name in ("chunk_tokens", "k", "shown", "candidates", "rerank_depth", "rrf_k", "max_question_chars", "port",
                     "adapt_epochs"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive number, not {getattr(self, name)!r}")
        if not 0 <= self.overlap_sentences < 4:
            raise ConfigError(f"overlap_sentences must be 0..3, not {self.overlap_sentences!r}")
        if not -1.0 <= self.min_score <= 1.0:
            raise ConfigError(f"min_score is a cosine similarity in [-1, 1], not {self.min_score!r}")
        for name in ("scope_threshold", "mention_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} is a probability in [0, 1], not {getattr(self, name)!r}")

    def replace(self, **changes: object) -> Config:
        """A copy with some fields changed; None values are ignored (unset CLI flags)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Defaults overridden by QA_* variables (and Gradio's GRADIO_SERVER_NAME/PORT)."""
        env = os.environ if env is None else env
        changes: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            key = f"QA_{f.name.upper()}"
            if key in env:
                changes[f.name] = _parse(f.name, env[key], getattr(cls(), f.name))
        if "QA_HOST" not in env and "GRADIO_SERVER_NAME" in env:
            changes["host"] = env["GRADIO_SERVER_NAME"]
        if "QA_PORT" not in env and "GRADIO_SERVER_PORT" in env:
            changes["port"] = _parse("port", env["GRADIO_SERVER_PORT"], 0)
        return cls().replace(**changes)


def _parse(name: str, raw: str, default: object) -> object:
    """Turn an environment string into the field's type, or say which variable is wrong."""
    try:
        if isinstance(default, bool):
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(default, Path):
            return Path(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        return raw
    except ValueError:
        kind = type(default).__name__
        raise ConfigError(f"QA_{name.upper()}={raw!r} is not a valid {kind}") from None
