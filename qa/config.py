"""One settings object, grouped by concern: defaults, then QA_* environment variables, then CLI flags.

Every field name is unique across the groups, so a flat name (`QA_K`, `--k`, `Config.of(k=3)`,
`cfg.replace(min_score=0.1)`) says which setting it is; code reads it where it lives (`cfg.search.k`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from qa.errors import ConfigError

MODES = ("dense", "lexical", "hybrid")
DEFAULT_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Paths:
    """Where things are read from and written to."""

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    train_questions: Path | None = None  # hand-written training questions; None = corpus_dir/train_questions.jsonl
    data_dir: Path = Path("data")  # where opt-in logs (feedback, questions) go


@dataclass(frozen=True)
class Indexing:
    """What the index is built with: changing any of these rebuilds it."""

    model_name: str = DEFAULT_MODEL  # a bundled offline model (see MODELS.md): no hub download
    chunk_tokens: int = 160  # tiktoken cl100k tokens per chunk body (120/160/180/200 compared on dev)
    overlap_sentences: int = 1  # sentences repeated at the start of the next chunk


@dataclass(frozen=True)
class Search:
    """How a question becomes passages."""

    mode: str = "hybrid"
    k: int = 5  # passages returned
    shown: int = 3  # passages shown open in the chat; the rest fold under "more passages"
    candidates: int = 50  # per-retriever depth before fusion (pyserini's k0)
    rrf_k: int = 60  # Cormack et al. 2009; not the same k as above
    dense_weight: float = 1.0  # weight of the dense run in fusion
    sentence_weight: float = 1.0  # weight of the best-sentence dense run in fusion
    lexical_weight: float = 1.0  # weight of the BM25 run in fusion
    rerank: bool = True  # the second-stage scorer, when qa.learn fitted one
    rerank_depth: int = 20  # candidates the reranker sees
    expand_query: bool = True  # aliases, lay terms and typo correction on the query
    use_history: bool = True  # follow-ups borrow the topic of earlier turns
    alone_margin: float = 0.1  # a follow-up is searched alone too; alone wins when its best match is this
    # much closer (a new subject the follow-up rule glued to the last question); negative: never
    dense_plain_query: bool = False  # embed the question without appended aliases (BM25 still gets them)
    max_question_chars: int = 2000  # longer messages are answered on their first part


@dataclass(frozen=True)
class Abstention:
    """When to say "I couldn't find that in these pages" (qa.abstain)."""

    abstain_rules: bool = True  # every check but the weak match (rules, named only, figures, unknown names, models)
    scope_model: bool = True  # the scope and topic models fitted at build (qa.learn)
    min_score: float = 0.20  # best passage cosine below this -> "not in these pages"
    unknown_name_score: float = 0.60  # an unknown name declines only when the best match is below this
    figure_sentences: int = 1  # the missing-figure check reads the best sentence and this many either side; -1 =
    # the whole passage (where a number elsewhere let through questions whose matching part gives none)
    scope_false_rate: float = 0.03  # share of held-out hand-written questions the scope model's line may decline
    scope_false_rate_made: float = 0.01  # the same, drawn on made questions when too few hand-written ones
    topic_false_rate: float = 0.02  # share of held-out hand-written questions the topic model's line may decline
    mention_rate: float = 0.5  # a "mention" rule declines only questions matching worse than this share of
    # the corpus's answerable ones


@dataclass(frozen=True)
class Learning:
    """What `qa build` learns from the corpus (qa.learn)."""

    adapt: bool = True  # questions go through a query encoder fine-tuned at build on the corpus's questions
    synthetic_questions: int = 4000  # training questions made from the corpus (qa.synthesize); bounds build time
    train_limit: int = 4000  # questions the encoder trains on at most (hand-written first, then made ones)
    adapt_epochs: int = 2  # passes over the training questions
    negatives: int = 20_000  # passages (and sentences) each question is contrasted with at most: bounds memory
    adapt_lr: float = 5e-5  # AdamW learning rate


@dataclass(frozen=True)
class Serving:
    """The running process: where it listens, how it computes, what it may store."""

    host: str = "127.0.0.1"
    port: int = 7860
    query_onnx: bool = True  # the tuned encoder runs in ONNX Runtime: the same vectors in about half the time
    concurrency: int = 2  # questions answered at once; more only queue on the GIL and 2 cores (qa bench: p95)
    sessions: int = 2000  # chats whose state (earlier questions) is kept in memory; the longest idle goes first
    torch_threads: int = 1  # per process, torch and ONNX Runtime; one keeps tails short on shared cores; 0 = default
    log_questions: bool = False  # privacy: questions are written (data_dir/questions.jsonl) only when on
    feedback: bool = False  # thumbs up/down are stored under data_dir only when on (QA_FEEDBACK)


GROUPS: dict[str, type] = {"paths": Paths, "indexing": Indexing, "search": Search, "abstention": Abstention,
                           "learning": Learning, "serving": Serving}
# flat field name -> the group it lives in (names are unique across groups)
_HOME = {f.name: group for group, cls in GROUPS.items() for f in fields(cls)}


@dataclass(frozen=True)
class Config:
    """Every setting of the pipeline, with the value the shipped default uses."""

    paths: Paths = field(default_factory=Paths)
    indexing: Indexing = field(default_factory=Indexing)
    search: Search = field(default_factory=Search)
    abstention: Abstention = field(default_factory=Abstention)
    learning: Learning = field(default_factory=Learning)
    serving: Serving = field(default_factory=Serving)

    def __post_init__(self) -> None:
        s, a, lg = self.search, self.abstention, self.learning
        if s.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {s.mode!r}")
        positive = {"chunk_tokens": self.indexing.chunk_tokens, "k": s.k, "shown": s.shown,
                    "candidates": s.candidates, "rerank_depth": s.rerank_depth, "rrf_k": s.rrf_k,
                    "max_question_chars": s.max_question_chars, "port": self.serving.port,
                    "concurrency": self.serving.concurrency, "sessions": self.serving.sessions,
                    "adapt_epochs": lg.adapt_epochs, "synthetic_questions": lg.synthetic_questions,
                    "train_limit": lg.train_limit, "negatives": lg.negatives}
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be a positive number, not {value!r}")
        if not 0 <= self.indexing.overlap_sentences < 4:
            raise ConfigError(f"overlap_sentences must be 0..3, not {self.indexing.overlap_sentences!r}")
        if not -1.0 <= a.min_score <= 1.0:
            raise ConfigError(f"min_score is a cosine similarity in [-1, 1], not {a.min_score!r}")
        for name in ("scope_false_rate", "scope_false_rate_made", "topic_false_rate", "mention_rate"):
            if not 0.0 <= getattr(a, name) <= 1.0:
                raise ConfigError(f"{name} is a probability in [0, 1], not {getattr(a, name)!r}")

    @property
    def hand_written(self) -> Path:
        """Where hand-written training questions are read from (they need not exist)."""
        return self.paths.train_questions or Path(self.paths.corpus_dir) / "train_questions.jsonl"

    @classmethod
    def of(cls, **settings: Any) -> Config:
        """The defaults with some settings changed, by their flat names: Config.of(k=3, corpus_dir=...)."""
        return cls().replace(**settings)

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed, by flat name; None values are ignored (unset CLI flags)."""
        by_group: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if value is None:
                continue
            if name not in _HOME:
                raise ConfigError(f"unknown setting {name!r}; known: {', '.join(sorted(_HOME))}")
            by_group.setdefault(_HOME[name], {})[name] = value
        groups = {g: dataclasses.replace(getattr(self, g), **values) for g, values in by_group.items()}
        return dataclasses.replace(self, **groups)

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name (reports and manifests)."""
        return {name: getattr(getattr(self, group), name) for name, group in _HOME.items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Defaults overridden by QA_* variables (and Gradio's GRADIO_SERVER_NAME/PORT)."""
        env = os.environ if env is None else env
        defaults = cls().flat()
        changes: dict[str, object] = {}
        for name, group in _HOME.items():
            key = f"QA_{name.upper()}"
            if key in env:
                kind = {f.name: f.type for f in fields(GROUPS[group])}[name]
                changes[name] = _parse(name, env[key], Path() if "Path" in str(kind) else defaults[name])
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
