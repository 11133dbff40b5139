"""The one API the chat, the CLI and the evaluation share: Assistant.load() then ask()."""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import replace

import numpy as np

from qa.adapt import QueryTunedEmbedder, ensure_query_encoder
from qa.answer import format_answer
from qa.config import Config
from qa.conversation import TOPICS, contextualize
from qa.embedding import Embedder, SentenceTransformerEmbedder, known_words
from qa.index import Index, ensure_index
from qa.query import QueryExpander
from qa.rerank import LinearReranker
from qa.retrieval import Retriever
from qa.safety import UrgentDetector
from qa.scope import NamedOnly, ScopeChecker, ScopeModel, ScopeRule
from qa.types import Answer

_PHONE = re.compile(r"\b1-800-\d{3}-\d{4}\b")
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Function words that tell English from the languages patients here most often write in; words both
# share ("a", "as", "was", "die", "con") are left out so they count for neither.
_ENGLISH = frozenset("""the an is are be do does did can could will would should what which who how when where
    why of to in on for with and or not my me you your it its this that have has had about after if there they
    them their am i get""".split())
_FOREIGN = frozenset("""el la los las es son de del que qué por para una cómo cuál cuáles cuánto le les des est
    sont et du pour avec dans qui quoi quels quelle der das und ist sind nicht mit für ein eine wie welche von
    zu bei nach oder ich mein meine kann wird il lo gli di che per sono della quali um uma os são não como quais
    da dos das""".split())
EMPTY_PROMPT = ("Please type a question about treating acute lymphocytic leukemia (ALL) in adults, "
                "for example: What are the side effects of chemo?")
OUT_OF_SCOPE = "Questions like this one usually aren't answered here."  # the learned scope model declined
LANGUAGE_NOTE = ("These pages are in English only, so I searched for your words as they are; "
                 "asking in English will usually find more.")


def looks_english(text: str) -> bool:
    """A small heuristic: mostly Latin letters, and not more foreign function words than English ones."""
    letters = [ch for ch in text if ch.isalpha()]
    if len(letters) < 4:
        return True  # too little to tell ("ALL?", a drug name)
    if sum(ch.isascii() for ch in letters) / len(letters) < 0.6:
        return False
    tokens = re.findall(r"[^\W\d_]+", text.lower())
    foreign = sum(t in _FOREIGN for t in tokens)
    return not (foreign >= 2 and foreign > sum(t in _ENGLISH for t in tokens))


def clean_question(message: object, max_chars: int) -> tuple[str, str]:
    """Normalise what the patient typed; returns (question, note) where note explains any cut."""
    text = "" if message is None else str(message)
    huge = len(text) > 4 * max_chars
    text = text[: 4 * max_chars]  # bounded work whatever arrives; the note below still says it was cut
    text = unicodedata.normalize("NFKC", text)
    # control and format characters (zero-width, bidi marks and isolates, tags), lone surrogates, line separators
    text = "".join(" " if unicodedata.category(ch) in _HIDDEN else ch for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > max_chars or huge:
        cut = text.rfind(" ", 0, max_chars)
        text = text[: cut if cut > max_chars // 2 else max_chars].rstrip()  # a hard cut can end on a space
        return text, f"Your message was long, so I searched for its first {len(text)} characters."
    return text, ""


class Assistant:
    """Answers questions with quoted, cited passages from the corpus, or honestly declines."""

    def __init__(self, index: Index, embedder: Embedder, cfg: Config, status: str = "") -> None:
        self.cfg = cfg
        self.index = index
        self.embedder = embedder
        self.status = status  # how the index was obtained: "loaded", "rebuilt (...)"
        self.encoder_status = ""  # how the query encoder was obtained (qa.adapt): "loaded", "trained on ..."
        self.reranker = LinearReranker.load()
        self.retriever = Retriever(index, embedder, cfg, self.reranker)
        words = known_words(cfg.model_name)
        self.expander = QueryExpander.from_chunks(index.chunks, words)
        self.urgent = UrgentDetector.load()
        self.scope = ScopeChecker.load()
        self.scope_model: ScopeModel | None = None  # fitted on the tuned encoder's vectors: set by load()
        self.named_only = NamedOnly.from_chunks(index.chunks, words, self.expander.aliases)
        # what a question can be about on its own: the corpus's named drugs and procedures, plus treatments
        self.topics = TOPICS | frozenset(t for t in self.expander.aliases if len(t) > 3)
        self.documents = index.documents_by_id
        found = (m.group(0) for d in index.documents for m in [_PHONE.search(d.text)] if m)
        self.helpline = next(found, None)

    @classmethod
    def load(cls, cfg: Config | None = None, embedder: Embedder | None = None,
             show_progress: bool = False) -> Assistant:
        """Load the index for cfg (default: Config.from_env()), building it first when missing or stale."""
        cfg = cfg or Config.from_env()
        embedder = embedder or SentenceTransformerEmbedder(cfg.model_name, threads=cfg.torch_threads)
        index, status = ensure_index(cfg, embedder, show_progress=show_progress)
        assistant = cls(index, embedder, cfg, status)
        folder, assistant.encoder_status = ensure_query_encoder(cfg, index, assistant.dense_query)
        if folder is not None:  # questions through the tuned encoder; the rest of the assistant is unchanged
            assistant.embedder = QueryTunedEmbedder(embedder, folder, threads=cfg.torch_threads, onnx=cfg.query_onnx)
            assistant.retriever = Retriever(index, assistant.embedder, cfg, assistant.reranker)
            assistant.scope_model = ScopeModel.load()
        return assistant

    def with_config(self, **changes: object) -> Assistant:
        """The same index and model under other retrieval settings (for comparing configurations)."""
        twin = object.__new__(Assistant)
        twin.__dict__.update(self.__dict__)
        twin.cfg = self.cfg.replace(**changes)
        if not twin.cfg.adapt and isinstance(self.embedder, QueryTunedEmbedder):
            twin.embedder = self.embedder.base  # the bundled model for questions too: the unadapted pipeline
            twin.scope_model = None  # its vectors live in another space
        elif isinstance(self.embedder, QueryTunedEmbedder):
            twin.embedder = self.embedder.with_runtime(twin.cfg.query_onnx)
        twin.retriever = Retriever(self.index, twin.embedder, twin.cfg, self.reranker)
        return twin

    def _declining_rule(self, rules: tuple[ScopeRule, ...], vector: np.ndarray | None,
                        confidence: float) -> ScopeRule | None:
        """The first matching scope rule that declines. A rule that fires on a mere mention of a topic needs the
        scope model to agree the question is about it (Config.mention_threshold); without the model it declines."""
        p = None
        gated = self.cfg.scope_model and self.scope_model and self.cfg.mention_threshold > 0
        if gated and any(r.mention for r in rules):
            p = self.scope_model.score(vector, confidence)
        return next((r for r in rules if not r.mention or p is None or p >= self.cfg.mention_threshold), None)

    def prepare_query(self, question: str, history: list[str] | tuple[str, ...] | None = None) -> tuple[str, str]:
        """(topic, query): the question with its follow-up context, and that with aliases and typo fixes."""
        past = [clean_question(h, self.cfg.max_question_chars)[0] for h in (history or [])]
        topic = contextualize(question, past, self.topics) if self.cfg.use_history else question
        return topic, (self.expander.expand(topic) if self.cfg.expand_query else topic)

    def dense_query(self, question: str, history: list[str] | tuple[str, ...] | None = None) -> str:
        """What the embedding model sees for a question (the query encoder is trained on exactly this)."""
        topic, query = self.prepare_query(question, history)
        return topic if self.cfg.dense_plain_query else query

    def ask(self, message: str, history: list[str] | tuple[str, ...] | None = None,
            k: int | None = None, mode: str | None = None) -> Answer:
        """Answer one chat message; history is the earlier user messages of the same chat, oldest first."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        question, note = clean_question(message, self.cfg.max_question_chars)
        if not question:  # nothing to search: a friendly prompt, not "couldn't find"
            return Answer(question="", query="", answerable=False, passages=(), markdown=EMPTY_PROMPT,
                          reason=EMPTY_PROMPT)
        english = looks_english(question)
        if not english:
            note = " ".join(x for x in (note, LANGUAGE_NOTE) if x)
        urgent = self.urgent.detect(question)
        notice = self.urgent.notice if urgent else ""
        topic, query = self.prepare_query(question, history)
        rules = self.scope.matches(question) if self.cfg.abstain_rules else ()
        timings["prepare"] = (time.perf_counter() - t0) * 1000
        t1 = time.perf_counter()
        dense_query = topic if self.cfg.dense_plain_query else query
        retrieval = self.retriever.retrieve(query, k=k or self.cfg.k, mode=mode, dense_query=dense_query)
        timings["retrieve"] = (time.perf_counter() - t1) * 1000
        rule = self._declining_rule(rules, retrieval.vector, retrieval.confidence)
        reason = rule.reason if rule else ""
        named = self.named_only.check(question) if self.cfg.abstain_rules and not reason else []
        if named:
            their = "its" if len(named) == 1 else "their"
            reason = f"The pages name {', '.join(named[:3])} but don't describe {their} side effects or risks."
        if self.cfg.abstain_rules and not reason and english and retrieval.confidence < self.cfg.unknown_name_score:
            # a drug or disease the pages never name, and nothing else in the question matches strongly
            # (another language's words are all "unknown": the threshold decides for those)
            unknown = self.expander.unknown_names(question)
            if unknown:
                reason = f"The pages don't mention {', '.join(unknown[:3])}."
        if (self.cfg.abstain_rules and self.cfg.scope_model and not reason and english and self.scope_model
                and self.scope_model.declines(retrieval.vector, retrieval.confidence, self.cfg.scope_threshold)):
            reason = OUT_OF_SCOPE
        answerable = bool(retrieval.hits) and retrieval.confidence >= self.cfg.min_score and not reason
        t2 = time.perf_counter()
        answer = format_answer(question, query, retrieval.hits, self.documents, answerable,
                               shown=self.cfg.shown, notice=" ".join(x for x in (notice, note) if x),
                               reason=reason, helpline=self.helpline)
        timings["format"] = (time.perf_counter() - t2) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        return replace(answer, timings=timings, confidence=retrieval.confidence)
