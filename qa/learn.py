"""What `qa build` learns from the corpus in hand, and nothing else: the query encoder, the reranker and the
scope model, fitted on questions made from the pages (qa.synthesize) plus any hand-written training questions a
maintainer keeps beside them, and saved in index/learned/ with a manifest of what they were fitted on.

The questions are split by the sentence they point at: 85% train the query encoder, the other 15% (sentences it
never saw a question about) fit the reranker and the scope model, so those see features the way a patient's new
question will produce them. The scope model's "not answered" examples are the same held-out questions asked
again with their section taken out of the index: a question these pages come close to but do not answer.

A learned folder from another corpus, chunking, model or settings is never used: the manifest's key is compared
field by field and the models are refitted (Assistant.load) or the build says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qa import __version__
from qa.abstain import ScopeModel, TopicModel, fit_scope_model, fit_topic_model
from qa.adapt import MANIFEST, ONNX, WEIGHTS, Example, QueryTunedEmbedder, export_onnx, sample_rows, train
from qa.config import Config
from qa.embedding import Embedder, known_words
from qa.index import Index, gather, sha256_file
from qa.query import Preparer, QueryExpander
from qa.questions import fold, load_questions
from qa.rerank import LinearReranker, fit_pairwise
from qa.retrieval import MATCH_FEATURES, Retriever
from qa.synthesize import KEYWORD_SHARE, kinds, synthesize
from qa.synthesize import VERSION as SYNTHESIS_VERSION
from qa.types import GoldQuestion

log = logging.getLogger(__name__)

FOLDER = "learned"  # inside the index folder
FORMAT = 1  # bump when what is learned, or how, changes
SEED = 0
HELD_OUT = 0.15  # share of sentences whose questions fit the reranker and scope model, never the encoder
MIN_RERANK_QUESTIONS = 100  # hand-written held-out questions the reranker needs (fewer: the fused order stands)
MIN_SCOPE_QUESTIONS = 40  # held-out answered questions the scope model needs (fewer: a page or two; no model)
MIN_TOPIC_QUESTIONS = (300, 100)  # hand-written answerable and out-of-scope questions the topic model needs


@dataclass
class Learned:
    """The fitted models for one index, and what the manifest says about them."""

    encoder: Path | None  # the tuned query encoder's folder; None = questions go through the bundled model
    reranker: LinearReranker | None
    scope_model: ScopeModel | None
    topic_model: TopicModel | None = None
    manifest: dict[str, Any] = field(default_factory=dict)
    status: str = ""  # "loaded", "fitted on ... in N s", "not saved: ..."


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _packaged(name: str) -> bytes:
    return resources.files("qa").joinpath(f"data/{name}").read_bytes()


def learning_key(cfg: Config, index: Index) -> dict[str, Any]:
    """Everything the learned models depend on; any difference means fitting again."""
    hand = cfg.hand_written
    return {
        "format": FORMAT,
        "qa_version": __version__,
        "index_corpus_sha256": index.manifest.get("corpus_sha256"),
        "index_format": index.manifest.get("format"),  # the same files parsed or chunked another way: other passages
        "model": cfg.indexing.model_name,
        "chunk_tokens": cfg.indexing.chunk_tokens,
        "overlap_sentences": cfg.indexing.overlap_sentences,
        "hand_written_sha256": sha256_file(hand) if hand.exists() else None,
        "lay_terms_sha256": _sha(_packaged("lay_terms.json")),
        "off_topic_sha256": _sha(_packaged("off_topic.json")),
        "learning": asdict(cfg.learning),
        "synthesis": [SYNTHESIS_VERSION, KEYWORD_SHARE],
        "lines": [cfg.abstention.scope_false_rate, cfg.abstention.scope_false_rate_made,
                  cfg.abstention.topic_false_rate, cfg.abstention.mention_rate],
        # how held-out questions are searched (not how many passages are shown, nor alone_margin: none has a history)
        "search": {k: v for k, v in asdict(cfg.search).items()
                   if k not in ("k", "shown", "mode", "rerank", "alone_margin")},
        "seed": SEED,
    }


def hand_written(path: Path | None, index: Index) -> tuple[list[GoldQuestion], list[GoldQuestion], int]:
    """A maintainer's own training questions, when there are any: (answerable ones whose span is in this corpus,
    out-of-scope ones, answerable ones dropped because this corpus doesn't hold their span)."""
    if path is None or not Path(path).exists():
        return [], [], 0
    questions = [q for q in load_questions(path) if q.split in ("train", "synthetic")]
    folded = " \n ".join(fold(c.text) for c in index.chunks)
    answerable = [q for q in questions if q.answerable]
    kept = [q for q in answerable if any(fold(s) and fold(s) in folded for s in q.gold_spans)]
    return kept, [q for q in questions if not q.answerable], len(answerable) - len(kept)


class _Rows:
    """Which index rows hold a question's answer (exact folded containment), and its section's rows."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self._folded: list[str] | None = None
        self.by_doc: dict[str, list[int]] = {}
        self.by_section: dict[tuple[str, str], list[int]] = {}
        for row, c in enumerate(index.chunks):
            self.by_doc.setdefault(c.doc_id, []).append(row)
            self.by_section.setdefault((c.doc_id, c.section), []).append(row)

    def chunks(self, q: GoldQuestion) -> tuple[int, ...]:
        spans = [f for f in (fold(s) for s in q.gold_spans) if f]
        if q.split == "synthetic" and q.page in self.by_doc:  # made from one page: only its passages, folded now
            return tuple(r for r in self.by_doc[q.page] if any(s in fold(self.index.chunks[r].text) for s in spans))
        if self._folded is None:  # a hand-written question may be answered anywhere: every passage, folded once
            self._folded = [fold(c.text) for c in self.index.chunks]
        return tuple(r for r, text in enumerate(self._folded) if any(s in text for s in spans))

    def sentences(self, q: GoldQuestion, chunk_rows: tuple[int, ...]) -> tuple[int, ...]:
        spans = [f for f in (fold(s) for s in q.gold_spans) if f]
        out = []
        for row in chunk_rows:  # folded here, not for every sentence up front: 100k passages have ~470k of them
            first = int(self.index.sentence_first[row])
            chunk = self.index.chunks[row]
            for j, (start, end) in enumerate(chunk.sentences):
                f = fold(chunk.text[start:end])
                if f and any(f in s or s in f for s in spans):
                    out.append(first + j)
        return tuple(out)

    def section_of(self, chunk_rows: Iterable[int]) -> set[int]:
        """The rows of every section holding one of these rows: what "these pages lack this section" removes."""
        out: set[int] = set()
        for row in chunk_rows:
            c = self.index.chunks[row]
            out.update(self.by_section[(c.doc_id, c.section)])
        return out


def _held_out(span: str) -> bool:
    """A fixed 15% of sentences, by a hash of their text: the same split on every machine and run."""
    return int(hashlib.sha256(fold(span).encode()).hexdigest()[:8], 16) % 1000 < HELD_OUT * 1000


def _off_topic() -> list[str]:
    return [q for q in json.loads(_packaged("off_topic.json"))["questions"]]


def fit(cfg: Config, index: Index, embedder: Embedder, workdir: Path | None,
        progress: Callable[[str], None] = lambda _: None) -> Learned:
    """Make the training questions and fit the encoder, reranker and scope model, writing their files and manifest
    into `workdir` (an empty folder). Without one (no disk to write to) the encoder is not tuned: it needs a
    folder to be loaded from, and the other two stay in memory."""
    started = time.perf_counter()
    words = known_words(cfg.indexing.model_name)
    expander = QueryExpander.from_chunks(index.chunks, words)
    preparer = Preparer.from_settings(expander, cfg.search)
    synthetic = synthesize(index.chunks, expander.aliases, expander.lay_terms, limit=cfg.learning.synthetic_questions,
                           seed=SEED)
    hand, hand_oos, hand_dropped = hand_written(cfg.hand_written, index)
    rows = _Rows(index)
    held: list[GoldQuestion] = []
    training: list[GoldQuestion] = []
    for q in hand + synthetic:
        (held if _held_out(q.gold_spans[0]) else training).append(q)
    if len(training) > cfg.learning.train_limit:  # bounded training time: hand-written questions first, then a sample
        rng = np.random.default_rng(SEED)
        mine = [q for q in training if q.split != "synthetic"][: cfg.learning.train_limit]
        rest = [q for q in training if q.split == "synthetic"]
        pick = sorted(rng.choice(len(rest), size=max(cfg.learning.train_limit - len(mine), 0), replace=False).tolist())
        training = mine + [rest[i] for i in pick]
    manifest: dict[str, Any] = {
        "questions": {"synthetic": len(synthetic), "synthetic_kinds": kinds(synthetic),
                      "hand_written_answerable": len(hand), "hand_written_out_of_scope": len(hand_oos),
                      "hand_written_dropped_not_in_corpus": hand_dropped, "encoder_training": len(training),
                      "held_out": len(held)},
        "seconds": {},
    }
    query_embedder: Embedder = embedder
    encoder: Path | None = None
    if cfg.learning.adapt and workdir is None:
        manifest["encoder_not_tuned"] = "no writable folder to keep it in"
    if cfg.learning.adapt and workdir is not None:
        t = time.perf_counter()
        data = []
        for q in training:
            chunk_rows = rows.chunks(q)
            if chunk_rows:
                data.append(Example(preparer.prepare(q.question, list(q.history)).dense, chunk_rows,
                                    rows.sentences(q, chunk_rows)))
        progress(f"training the query encoder on {len(data)} questions")
        data, chunk_pick, sentence_pick = sample_rows(data, index.dense.ntotal, index.sentences.ntotal,
                                                      cfg.learning.negatives)
        chunk_vectors, sentence_vectors = gather(index.dense, chunk_pick), gather(index.sentences, sentence_pick)
        encoder = workdir / "query_encoder"
        with index.vectors_set_aside(workdir):
            model = train(cfg.indexing.model_name, data, chunk_vectors, sentence_vectors,
                          epochs=cfg.learning.adapt_epochs, lr=cfg.learning.adapt_lr,
                          threads=max(cfg.serving.torch_threads, 2))
            model.save(str(encoder))
            encoder_manifest: dict[str, Any] = {"weights_sha256": sha256_file(encoder / WEIGHTS),
                                                "examples": len(data)}
            try:
                encoder_manifest.update(export_onnx(model, encoder / ONNX))
            except (OSError, RuntimeError, ImportError, ValueError, KeyError, TypeError) as e:  # torch serves them
                log.warning("no ONNX query encoder (%s); questions go through torch", e)
            del model, chunk_vectors, sentence_vectors  # served from its folder from here on
        (encoder / MANIFEST).write_text(json.dumps(encoder_manifest, indent=2) + "\n", encoding="utf-8")
        manifest["encoder"] = encoder_manifest
        manifest["seconds"]["encoder"] = round(time.perf_counter() - t, 1)
        query_embedder = QueryTunedEmbedder(embedder, encoder, threads=cfg.serving.torch_threads,
                                            onnx=cfg.serving.query_onnx)
    retriever = Retriever(index, query_embedder, cfg)
    prepared = [(q, preparer.prepare(q.question, list(q.history)), rows.chunks(q)) for q in held]
    prepared = [(q, sq, r) for q, sq, r in prepared if r]

    # The reranker learns from hand-written questions only. Fitted on questions made from the pages it learned
    # that a question shares the words of its answer (they were cut from it) and put word overlap first, which
    # lowered hit@1 on patients' questions by 10 to 25 points on every corpus tried (eval/experiments.md,
    # round 8); without hand-written questions the fused order stands.
    t = time.perf_counter()
    hand_held = [(q, sq, r) for q, sq, r in prepared if q.split != "synthetic"]
    progress(f"fitting the reranker on {len(hand_held)} held-out hand-written questions")
    groups = []
    for _, sq, relevant_rows in hand_held:
        hits, features, _ = retriever.candidates(sq)
        if hits:
            groups.append((features, np.array([retriever.row(h) in relevant_rows for h in hits])))
    reranker = fit_pairwise(groups) if len(groups) >= MIN_RERANK_QUESTIONS else None
    retriever.reranker = reranker
    manifest["reranker"] = {"questions": len(groups), "fitted": reranker is not None,
                            "why_not": None if reranker else
                            f"fewer than {MIN_RERANK_QUESTIONS} held-out hand-written questions"}
    manifest["seconds"]["reranker"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    progress("fitting the scope model")
    answered, unanswered, by_hand, first = [], [], [], 0
    for q, sq, relevant_rows in prepared:
        got = retriever.retrieve(sq)
        if got.match:
            answered.append(got.match)
            if q.split != "synthetic":
                by_hand.append(got.match)
            first += bool(got.hits) and retriever.row(got.hits[0]) in relevant_rows
        missing = retriever.retrieve(sq, exclude=rows.section_of(relevant_rows))
        if missing.match:
            unanswered.append(missing.match)
    outside = [(q.question, list(q.history)) for q in hand_oos] + [(q, []) for q in _off_topic()]
    for question, history in outside:
        got = retriever.retrieve(preparer.prepare(question, history))
        if got.match:
            unanswered.append(got.match)
    # The decline threshold is drawn on the held-out questions that look most like a patient's: hand-written ones
    # when a maintainer has enough of them, else the made ones, which match their answers more easily (they share
    # its words), so only their weakest sliver marks the line (Config.scope_false_rate_made).
    hand_enough = len(by_hand) >= MIN_SCOPE_QUESTIONS
    lines = cfg.abstention
    scope = fit_scope_model(np.array(answered), np.array(unanswered),
                            lines.scope_false_rate if hand_enough else lines.scope_false_rate_made, lines.mention_rate,
                            calibrate=np.array(by_hand) if hand_enough else None) \
        if len(answered) >= MIN_SCOPE_QUESTIONS and unanswered else None
    manifest["scope_model"] = {"answered": len(answered), "not_answered": len(unanswered),
                               "threshold": scope.threshold if scope else None,
                               "threshold_drawn_on": "hand-written questions" if hand_enough else "made questions",
                               "why_not": None if scope else
                               f"fewer than {MIN_SCOPE_QUESTIONS} held-out answered questions"}
    manifest["held_out_hit@1"] = round(first / max(len(answered), 1), 4)
    manifest["seconds"]["scope_model"] = round(time.perf_counter() - t, 1)

    t = time.perf_counter()
    topic, topic_info = _fit_topic(cfg, retriever, preparer, hand, hand_oos, scope, progress)
    manifest["topic_model"] = topic_info
    manifest["seconds"]["topic_model"] = round(time.perf_counter() - t, 1)
    manifest["seconds"]["total"] = round(time.perf_counter() - started, 1)

    manifest = {**learning_key(cfg, index), **manifest}
    if workdir is not None:
        if reranker is not None:
            (workdir / "reranker.json").write_text(json.dumps(reranker.to_dict(), indent=1) + "\n", encoding="utf-8")
        if scope is not None:
            (workdir / "scope_model.json").write_text(json.dumps(scope.to_dict(), indent=1) + "\n",
                                                      encoding="utf-8")
        if topic is not None:
            (workdir / "topic_model.json").write_text(json.dumps(topic.to_dict()) + "\n", encoding="utf-8")
        manifest["files"] = {p.relative_to(workdir).as_posix(): sha256_file(p) for p in sorted(workdir.rglob("*"))
                             if p.is_file()}
        (workdir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    status = (f"fitted on {len(training)} training and {len(held)} held-out questions in "
              f"{manifest['seconds']['total']:.0f} s")
    return Learned(encoder, reranker, scope, topic, manifest, status)


def _fit_topic(cfg: Config, retriever: Retriever, preparer: Preparer, hand: list[GoldQuestion],
               hand_oos: list[GoldQuestion], scope: ScopeModel | None,
               progress: Callable[[str], None]) -> tuple[TopicModel | None, dict[str, Any]]:
    """The topic model, when a maintainer wrote enough answerable and out-of-scope questions for these pages.

    An out-of-scope question that these pages now match like an answerable one (the scope model puts it below
    its mention line) is left out: its label was written for pages that lacked what was added since."""
    need_answerable, need_out = MIN_TOPIC_QUESTIONS
    if len(hand) < need_answerable or len(hand_oos) < need_out:
        return None, {"fitted": False, "why_not": f"needs {need_answerable} answerable and {need_out} out-of-scope "
                                                  f"hand-written questions, has {len(hand)} and {len(hand_oos)}"}
    progress(f"fitting the topic model on {len(hand)} + {len(hand_oos)} hand-written questions")

    def row(q: GoldQuestion) -> np.ndarray | None:
        got = retriever.retrieve(preparer.prepare(q.question, list(q.history)))
        return None if got.vector is None or not got.match else np.r_[got.vector, got.match]

    train_rows: list[np.ndarray] = []
    calibrate: list[np.ndarray] = []
    for q in hand:
        r = row(q)
        if r is not None:
            (calibrate if _held_out(q.gold_spans[0]) else train_rows).append(r)
    out_rows, answered_now = [], 0
    for q in hand_oos:
        r = row(q)
        if r is None:
            continue
        p = scope.probability(tuple(r[-len(MATCH_FEATURES):])) if scope else None
        if scope is not None and p is not None and p < scope.mention_threshold:
            answered_now += 1
            continue
        out_rows.append(r)
    if len(out_rows) < need_out or not calibrate:
        return None, {"fitted": False, "why_not": f"{len(out_rows)} out-of-scope questions left"}
    topic = fit_topic_model(np.array(train_rows), np.array(out_rows), np.array(calibrate),
                            cfg.abstention.topic_false_rate)
    return topic, {"fitted": True, "answerable": len(train_rows), "out_of_scope": len(out_rows),
                   "out_of_scope_left_out_as_answered_now": answered_now, "calibrated_on": len(calibrate),
                   "threshold": topic.threshold}


def _scratch(folder: Path) -> Path | None:
    """An empty folder to fit into: beside `folder` when its index folder exists and takes writes (then renamed
    into place), else in the system's temporary folder (kept for this process), else None."""
    for parent in ([folder.parent] if folder.parent.is_dir() else []) + [None]:
        try:
            return Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=parent))
        except OSError:
            continue
    return None


def _replace(tmp: Path, folder: Path) -> None:
    """Rename the new folder into place; the old one goes only once the new one is there."""
    old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
    if folder.exists():
        os.replace(folder, old)
    try:
        os.replace(tmp, folder)
    except OSError:
        with contextlib.suppress(OSError):
            os.replace(old, folder)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stale_because(cfg: Config, index: Index, folder: Path) -> str | None:
    """Why the learned folder can't be used with this index and Config (None: it can)."""
    manifest = _read_manifest(folder)
    if not manifest:
        return f"no learned models in {folder}"
    for key, value in learning_key(cfg, index).items():
        old = manifest.get(key)
        if old != value:
            if isinstance(old, dict) and isinstance(value, dict):  # name the setting inside the group
                name = sorted(k for k in old.keys() | value.keys() if old.get(k) != value.get(k))[0]
                key, old, value = f"{key}.{name}", old.get(name), value.get(name)
            return f"{folder} was fitted with {key} {str(old)[:16]!r}, not {str(value)[:16]!r}"
    for name, checksum in manifest.get("files", {}).items():
        path = folder / name
        try:
            if sha256_file(path) != checksum:
                return f"{path} is damaged (checksum differs)"
        except OSError:
            return f"{path} is missing"
    return None


def load(cfg: Config, index: Index, folder: Path) -> Learned | None:
    """The learned models in `folder` when they were fitted for this index and Config; None otherwise."""
    if stale_because(cfg, index, folder) is not None:
        return None
    manifest = _read_manifest(folder)
    try:
        reranker = LinearReranker.from_dict(json.loads((folder / "reranker.json").read_text(encoding="utf-8"))) \
            if (folder / "reranker.json").exists() else None
        scope = ScopeModel.from_dict(json.loads((folder / "scope_model.json").read_text(encoding="utf-8"))) \
            if (folder / "scope_model.json").exists() else None
        topic = TopicModel.from_dict(json.loads((folder / "topic_model.json").read_text(encoding="utf-8"))) \
            if (folder / "topic_model.json").exists() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    encoder = folder / "query_encoder" if (folder / "query_encoder" / WEIGHTS).exists() else None
    return Learned(encoder, reranker, scope, topic, manifest, "loaded")


def ensure(cfg: Config, index: Index, embedder: Embedder, progress: Callable[[str], None] = lambda _: None) -> Learned:
    """The learned models for this index: loaded when current, fitted (and saved in the index folder) when not.
    An index folder that can't be written (or an index served from memory) gets them fitted for this process
    only, and the status says so."""
    folder = Path(cfg.paths.index_dir) / FOLDER
    reason = stale_because(cfg, index, folder)
    if reason is None:
        learned = load(cfg, index, folder)
        if learned is not None:
            return learned
    workdir = _scratch(folder)
    learned = fit(cfg, index, embedder, workdir, progress)
    why = f" ({reason})"
    if workdir is None:
        return replace(learned, status=learned.status + why + "; kept in memory: no writable folder")
    if workdir.parent != folder.parent:
        log.warning("could not write learned models to %s; kept in %s for this process", folder, workdir)
        return replace(learned, status=learned.status + why + f"; not saved in {folder}")
    try:
        _replace(workdir, folder)
    except OSError as e:
        log.warning("could not write learned models to %s (%s)", folder, e.strerror or e)
        return replace(learned, status=learned.status + why + f"; not saved: {e.strerror or e}")
    saved = load(cfg, index, folder)
    return replace(saved, status=learned.status + why) if saved else learned


def summary(learned: Learned, index: Index) -> str:
    """What `qa build` says it learned, in a few lines."""
    m = learned.manifest
    q = m.get("questions", {})
    lines = [f"learned models: {learned.status}",
             f"  questions: {q.get('synthetic', 0)} made from the pages {q.get('synthetic_kinds', {})}, "
             f"{q.get('hand_written_answerable', 0)} hand-written answerable and "
             f"{q.get('hand_written_out_of_scope', 0)} out of scope; the encoder trained on "
             f"{q.get('encoder_training', 0)}, {q.get('held_out', 0)} held out"]
    encoder = m.get("encoder")
    tuned = f"fine-tuned on {encoder['examples']} questions" if encoder else \
        f"the bundled model ({m.get('encoder_not_tuned') or 'adaptation off'})"
    lines.append(f"  query encoder: {tuned}")
    rr = m.get("reranker", {})
    lines.append("  reranker: " + (f"fitted on {rr.get('questions')} held-out questions" if rr.get("fitted") else
                                   f"not used: {rr.get('why_not')}"))
    tm = m.get("topic_model") or {}
    lines.append("  topic model: " + (f"fitted on {tm.get('answerable')} answerable and {tm.get('out_of_scope')} "
                                      f"out-of-scope hand-written questions" if tm.get("fitted") else
                                      f"not used: {tm.get('why_not')}"))
    sm = m.get("scope_model") or {}
    lines.append(f"  scope model: {sm.get('answered')} answered and {sm.get('not_answered')} unanswered examples, "
                 f"declines from p >= {sm.get('threshold')}; held-out hit@1 {m.get('held_out_hit@1')}")
    return "\n".join(lines)
