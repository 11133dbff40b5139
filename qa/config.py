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
    rerank: bool = True  # second-stage linear scorer of the fused candidates (fitted at build: qa.learn)
    rerank_depth: int = 20  # candidates the reranker sees
    min_score: float = 0.20  # best passage cosine below this -> "not in these pages" (picked on dev)
    expand_query: bool = True  # aliases, lay terms and typo correction on the query
    use_history: bool = True  # follow-ups borrow the topic of earlier turns
    abstain_rules: bool = True  # decline what the pages never cover (qa/data/scope.json) and unknown names
    scope_model: bool = True  # the scope model fitted at build on this corpus's questions (qa.abstain, qa.learn)
    scope_false_rate: float = 0.03  # share of held-out hand-written questions the scope model's line may decline
    scope_false_rate_made: float = 0.01  # the same, drawn on made questions when too few hand-written ones
    topic_false_rate: float = 0.02  # share of held-out hand-written questions the topic model's line may decline
    mention_rate: float = 0.5  # a "mention" rule declines only questions matching worse than this share of
    # the corpus's answerable ones
    unknown_name_score: float = 0.60  # an unknown name declines only when the best match is below this
    adapt: bool = True  # questions go through a query encoder fine-tuned at build on the corpus's questions
    synthetic_questions: int = 4000  # training questions made from the corpus (qa.synthesize); bounds build time
    train_limit: int = 4000  # questions the encoder trains on at most (hand-written first, then made ones)
    train_questions: Path | None = None  # hand-written training questions; None = corpus_dir/train_questions.jsonl
    adapt_epochs: int = 2  # passes over the training questions
    adapt_lr: float = 5e-5  # AdamW learning rate
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
                     "adapt_epochs", "synthetic_questions", "train_limit"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be a positive number, not {getattr(self, name)!r}")
        if not 0 <= self.overlap_sentences < 4:
            raise ConfigError(f"overlap_sentences must be 0..3, not {self.overlap_sentences!r}")
        if not -1.0 <= self.min_score <= 1.0:
            raise ConfigError(f"min_score is a cosine similarity in [-1, 1], not {self.min_score!r}")
        for name in ("scope_false_rate", "scope_false_rate_made", "topic_false_rate", "mention_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} is a probability in [0, 1], not {getattr(self, name)!r}")

    @property
    def hand_written(self) -> Path:
        """Where hand-written training questions are read from (they need not exist)."""
        return self.train_questions or Path(self.corpus_dir) / "train_questions.jsonl"

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
                default = getattr(cls(), f.name)
                changes[f.name] = _parse(f.name, env[key], Path() if "Path" in str(f.type) else default)
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
