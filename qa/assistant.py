"""The one API the chat, the CLI and the evaluation share: Assistant.load() then ask()."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import replace

from qa import learn
from qa.abstain import Abstainer, Case, NamedOnly, Rules
from qa.adapt import QueryTunedEmbedder
from qa.answer import escape_html, format_answer
from qa.config import Config
from qa.embedding import Embedder, SentenceTransformerEmbedder, known_words
from qa.index import Index, ensure_index
from qa.query import Preparer, QueryExpander, clean_question, looks_english
from qa.retrieval import Retriever
from qa.safety import UrgentDetector
from qa.types import Answer, SearchQuery

LANGUAGE_NOTE = ("These pages are in English only, so I searched for your words as they are; "
                 "asking in English will usually find more.")


class Assistant:
    """Answers questions with quoted, cited passages from the corpus, or honestly declines."""

    def __init__(self, index: Index, embedder: Embedder, cfg: Config, learned: learn.Learned | None = None,
                 status: str = "") -> None:
        self.cfg = cfg
        self.index = index
        self.base_embedder = embedder  # passages' vectors live in its space
        self.learned = learned or learn.Learned(None, None, None, status="nothing learned")
        self.status = status  # how the index was obtained: "loaded", "rebuilt (...)"
        self.collection = index.collection
        self.documents = index.documents_by_id
        words = known_words(cfg.indexing.model_name)
        self.expander = QueryExpander.from_chunks(index.chunks, words)
        self.rules = Rules.for_corpus(index.chunks)
        self.named_only = NamedOnly.from_chunks(index.chunks, words, self.expander.aliases)
        self.urgent = UrgentDetector.load()
        self.embedder: Embedder = embedder
        if cfg.learning.adapt and self.learned.encoder is not None:  # questions through the corpus's own encoder
            self.embedder = QueryTunedEmbedder(embedder, self.learned.encoder, threads=cfg.serving.torch_threads,
                                               onnx=cfg.serving.query_onnx)
        self._wire()

    def _wire(self) -> None:
        """Build the stages that depend on the Config (again, after with_config)."""
        cfg = self.cfg
        self.preparer = Preparer.from_settings(self.expander, cfg.search)
        self.retriever = Retriever(self.index, self.embedder, cfg, self.learned.reranker)
        a = cfg.abstention
        self.abstainer = Abstainer(self.rules, self.named_only, self.expander.unknown_names, self.learned.scope_model,
                                   min_score=a.min_score, unknown_name_score=a.unknown_name_score,
                                   use_rules=a.abstain_rules, use_scope_model=a.scope_model,
                                   topic_model=self.learned.topic_model, figure_sentences=a.figure_sentences)

    @property
    def encoder_status(self) -> str:
        return self.learned.status

    @property
    def helpline(self) -> str | None:
        """The first helpline sources.json gives, as "name: number" (None when it gives none)."""
        lines = self.collection.helplines
        return f"{lines[0][0]}: {lines[0][1]}" if lines else None

    @classmethod
    def load(cls, cfg: Config | None = None, embedder: Embedder | None = None, show_progress: bool = False,
             progress: Callable[[str], None] | None = None) -> Assistant:
        """Load the index and the models learned for it (cfg default: Config.from_env()), building and fitting
        first what is missing or stale."""
        cfg = cfg or Config.from_env()
        embedder = embedder or SentenceTransformerEmbedder(cfg.indexing.model_name,
                                                           threads=cfg.serving.torch_threads)
        index, status = ensure_index(cfg, embedder, show_progress=show_progress)
        learned = learn.ensure(cfg, index, embedder, progress or (lambda _: None))
        return cls(index, embedder, cfg, learned, status)

    def with_config(self, **changes: object) -> Assistant:
        """The same index and learned models under other settings (for comparing configurations)."""
        twin = object.__new__(Assistant)
        twin.__dict__.update(self.__dict__)
        twin.cfg = self.cfg.replace(**changes)
        if not twin.cfg.learning.adapt:
            twin.embedder = self.base_embedder
        elif isinstance(self.embedder, QueryTunedEmbedder):
            twin.embedder = self.embedder.with_runtime(twin.cfg.serving.query_onnx)
        twin._wire()
        return twin

    def prepare(self, question: str, history: list[str] | tuple[str, ...] | None = None) -> SearchQuery:
        """What is searched for a (cleaned) question: follow-up context, typo fixes, the corpus's other names."""
        return self.preparer.prepare(question, history)

    def ask(self, message: str, history: list[str] | tuple[str, ...] | None = None, k: int | None = None,
            mode: str | None = None, exclude: Collection[int] = ()) -> Answer:
        """Answer one chat message; history is the earlier user messages of the same chat, oldest first."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        question, note = clean_question(message, self.cfg.search.max_question_chars)
        if not question:  # nothing to search: a friendly prompt, not "couldn't find"
            prompt = f"Please type a question about {self.collection.topic}."
            return Answer(question="", query="", answerable=False, passages=(), html=f"<p>{escape_html(prompt)}</p>",
                          reason=prompt)
        english = looks_english(question)
        if not english:
            note = " ".join(x for x in (note, LANGUAGE_NOTE) if x)
        notice = self.urgent.notice if self.urgent.detect(question) else ""
        query = self.prepare(question, history)
        timings["prepare"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        k = k or self.cfg.search.k
        retrieval = self.retriever.retrieve(query, k=k, mode=mode, exclude=exclude)
        if query.topic != question and self.cfg.search.alone_margin >= 0:
            # glued to an earlier question: a new subject the follow-up rule misread matches better alone
            alone = self.prepare(question)
            by_itself = self.retriever.retrieve(alone, k=k, mode=mode, exclude=exclude)
            if by_itself.confidence > retrieval.confidence + self.cfg.search.alone_margin:
                query, retrieval = alone, by_itself
        timings["retrieve"] = (time.perf_counter() - t1) * 1000
        case = Case(question, english, retrieval, self.learned.scope_model, self.learned.topic_model)
        declined_by, reason = self.abstainer.decide(case)
        t2 = time.perf_counter()
        answer = format_answer(question, query.text, retrieval.hits, self.documents, not declined_by,
                               shown=self.cfg.search.shown, notice=" ".join(x for x in (notice, note) if x),
                               reason=reason, collection=self.collection)
        timings["format"] = (time.perf_counter() - t2) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return replace(answer, timings=timings, confidence=retrieval.confidence, declined_by=declined_by,
                       scope_probability=case.scope_probability)
