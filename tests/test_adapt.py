"""Domain adaptation (qa.adapt): training examples by hand on the tiny corpus; the real tuned encoder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.adapt import (
    FOLDER,
    MANIFEST,
    ONNX,
    WEIGHTS,
    QueryTunedEmbedder,
    _is_current,
    _lay_terms_sha,
    ensure_onnx,
    ensure_query_encoder,
    examples,
)
from qa.assistant import Assistant
from qa.config import Config
from qa.errors import ConfigError
from qa.index import build_index
from qa.types import GoldQuestion

ROOT = Path(__file__).resolve().parents[1]


def gold(qid: str, question: str, *spans: str, history: tuple[str, ...] = ()) -> GoldQuestion:
    return GoldQuestion(id=qid, question=question, history=history, gold_spans=spans, answerable=bool(spans),
                        split="train")


def test_examples_point_at_the_passages_and_sentences_holding_the_span(tiny_cfg: Config, fake_embedder) -> None:
    index = build_index(tiny_cfg, fake_embedder)
    span = "Standard delivery takes 3 to 5 business days."
    questions = [
        gold("1", "how long till my parcel comes", span),
        gold("2", "what does it cost?", "Customs fees are paid by the customer on arrival.",
             history=("do you ship abroad",)),
        gold("3", "a span this corpus never had", "Refunds arrive by carrier pigeon."),
        gold("4", "out of scope: no spans"),
    ]
    prepared: list[tuple[str, list[str]]] = []

    def prepare(question: str, history: list[str]) -> str:
        prepared.append((question, history))
        return f"prepared: {question}"

    data = examples(index, questions, prepare)
    assert [e.query for e in data] == ["prepared: how long till my parcel comes", "prepared: what does it cost?"]
    assert prepared[1] == ("what does it cost?", ["do you ship abroad"])  # follow-ups train on what retrieval sees
    first = data[0]
    assert first.chunks and all(span in index.chunks[r].text for r in first.chunks)
    sentences = [(r, c.text[s:e]) for r, c in enumerate(index.chunks) for s, e in c.sentences]
    assert first.sentences and all(sentences[j][1] == span for j in first.sentences)
    assert all(sentences[j][0] in first.chunks for j in first.sentences)


def test_no_matching_training_question_keeps_the_base_model(tiny_cfg: Config, fake_embedder) -> None:
    index = build_index(tiny_cfg, fake_embedder)
    folder, how = ensure_query_encoder(tiny_cfg.replace(adapt=True), index, lambda q, h: q)
    assert folder is None and how.startswith("base model (no training question")


def test_adaptation_off_and_a_missing_file_are_said(tiny_cfg: Config, fake_embedder, tmp_path: Path) -> None:
    index = build_index(tiny_cfg, fake_embedder)
    assert ensure_query_encoder(tiny_cfg, index, lambda q, h: q) == (None, "base model (adaptation off)")
    missing = tiny_cfg.replace(adapt=True, train_questions=tmp_path / "nope.jsonl")
    with pytest.raises(ConfigError, match="QA_TRAIN_QUESTIONS"):
        ensure_query_encoder(missing, index, lambda q, h: q)
    assert Assistant.load(tiny_cfg, fake_embedder).encoder_status == "base model (adaptation off)"


def test_shipped_training_questions_are_valid_and_disjoint_from_the_evaluation() -> None:
    from qa.corpus import load_corpus
    from qa.evaluate import is_near_copy, load_questions, question_words, validate_questions

    train = load_questions(ROOT / "eval" / "train_questions.jsonl")
    assert validate_questions(train, load_corpus(ROOT / "corpus")) == []
    assert {q.split for q in train} == {"train"} and len(train) >= 500
    held_out = [ROOT / "eval" / name for name in ("questions.jsonl", "val_questions.jsonl", "holdout_questions.jsonl")]
    evaluation = [question_words(q.question) for path in held_out for q in load_questions(path)]
    near = [q.question for q in train if is_near_copy(question_words(q.question), evaluation)]
    assert not near, f"training questions (almost) word for word in a held-out set: {near[:3]}"


def test_the_real_assistant_asks_through_the_tuned_encoder(real_assistant, real_embedder) -> None:
    embedder = real_assistant.embedder
    assert isinstance(embedder, QueryTunedEmbedder)
    assert real_assistant.encoder_status == "loaded" or real_assistant.encoder_status.startswith("trained on ")
    question = "once chemo is over, do all the horrible effects stop?"
    tuned, base = embedder.embed_query(question), real_embedder.embed_query(question)
    assert tuned.shape == base.shape and abs(float(np.linalg.norm(tuned)) - 1.0) < 1e-4
    assert float(tuned @ base) < 0.999  # really another encoder...
    passage = ["Most side effects from chemo go away once treatment is finished."]
    assert np.allclose(embedder.embed(passage), real_embedder.embed(passage))  # ...but passages stay in place
    answer = real_assistant.ask(question)
    assert answer.answerable and "go away once treatment is finished" in answer.passages[0].text


def test_a_stale_or_damaged_encoder_is_not_reused(real_assistant, real_cfg: Config, tmp_path: Path) -> None:
    folder = Path(real_cfg.index_dir) / FOLDER
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    key = {k: manifest[k] for k in ("base_model", "train_questions_sha256", "lay_terms_sha256", "epochs",
                                    "learning_rate")}
    assert _is_current(folder, key)
    assert key["lay_terms_sha256"] == _lay_terms_sha()  # the vocabulary that prepared the training queries
    assert not _is_current(folder, dict(key, train_questions_sha256="0" * 64))  # other training questions
    assert not _is_current(folder, dict(key, lay_terms_sha256="0" * 64))  # an edited lay vocabulary
    assert not _is_current(folder, dict(key, epochs=key["epochs"] + 1))  # other settings
    copy = tmp_path / FOLDER
    shutil.copytree(folder, copy)
    with open(copy / WEIGHTS, "r+b") as f:  # one flipped byte in the weights
        f.seek(4096)
        byte = f.read(1)
        f.seek(4096)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert not _is_current(copy, key)
    (copy / MANIFEST).write_text("{not json", encoding="utf-8")
    assert not _is_current(copy, key)


QUESTIONS = ["what is imatinib?", "can chemo make my hair fall out",
             "Which drugs are used in the consolidation phase after remission, and for how long is it given?",
             "spinal tap", "¿qué es la leucemia? — <b>ALL</b> ü"]


def test_onnx_and_torch_give_the_same_question_vectors(real_assistant) -> None:
    """The default runs the tuned encoder in ONNX Runtime; torch must agree, one by one and in padded batches."""
    embedder = real_assistant.embedder
    assert embedder.runtime == "onnx"
    torch_twin = real_assistant.with_config(query_onnx=False)
    assert torch_twin.embedder.runtime == "torch" and torch_twin.embedder.folder == embedder.folder
    onnx_batch, torch_batch = embedder.query.embed(QUESTIONS), torch_twin.embedder.query.embed(QUESTIONS)
    one_by_one = np.vstack([embedder.query.embed([q]) for q in QUESTIONS])
    assert onnx_batch.shape == torch_batch.shape == (len(QUESTIONS), embedder.dim)
    assert float((onnx_batch * torch_batch).sum(1).min()) > 0.9999
    assert np.allclose(onnx_batch, one_by_one, atol=1e-5)  # padding does not change a question's vector
    assert embedder.query.embed([]).shape == (0, embedder.dim)
    long = "why " * 600  # past the 256 word pieces the model reads: truncated like sentence-transformers does
    assert float(embedder.query.embed([long])[0] @ torch_twin.embedder.query.embed([long])[0]) > 0.9999
    question = "what are the side effects of blinatumomab?"
    first, second = real_assistant.ask(question), torch_twin.ask(question)
    assert [p.chunk_id for p in first.passages] == [p.chunk_id for p in second.passages]


def test_a_missing_or_damaged_onnx_graph_is_exported_again(real_assistant, tmp_path: Path) -> None:
    folder = real_assistant.embedder.folder
    copy = tmp_path / FOLDER
    shutil.copytree(folder, copy)
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    (copy / ONNX).write_bytes(b"not a graph")
    damaged = QueryTunedEmbedder(real_assistant.embedder.base, copy)  # as in a read-only folder: torch serves
    assert damaged.runtime == "torch"
    assert ensure_onnx(copy)
    again = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    assert again["onnx_sha256"] == manifest["onnx_sha256"]  # the export is repeatable from the same weights
    assert again["weights_sha256"] == manifest["weights_sha256"]
    (copy / ONNX).unlink()
    assert ensure_onnx(copy) and (copy / ONNX).exists()
    repaired = QueryTunedEmbedder(real_assistant.embedder.base, copy)
    assert repaired.runtime == "onnx"
    assert QueryTunedEmbedder(real_assistant.embedder.base, copy, onnx=False).runtime == "torch"


def test_query_onnx_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().query_onnx
    monkeypatch.setenv("QA_QUERY_ONNX", "0")
    assert not Config.from_env().query_onnx
    monkeypatch.setenv("QA_QUERY_ONNX", "maybe")
    with pytest.raises(ConfigError, match="QA_QUERY_ONNX"):
        Config.from_env()


def test_serving_a_built_index_never_loads_torch(real_assistant, real_cfg: Config) -> None:
    """With the index and the ONNX encoder on disk, starting and answering needs neither torch nor
    sentence-transformers (seconds of import and hundreds of MB): the model folder declares its vector size."""
    from qa.embedding import declared_dim, resolve_model_path

    loaded = real_assistant.embedder.base.model.get_embedding_dimension()
    assert declared_dim(resolve_model_path(real_cfg.model_name)) == loaded == 384
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from qa import Assistant, Config\n"
        f"cfg = Config(corpus_dir=Path({str(real_cfg.corpus_dir)!r}), index_dir=Path({str(real_cfg.index_dir)!r}),"
        f" train_questions=Path({str(real_cfg.train_questions)!r}))\n"
        "a = Assistant.load(cfg)\n"
        "answer = a.ask('what are the side effects of blinatumomab?')\n"
        "print(json.dumps([a.status, a.encoder_status, a.embedder.runtime, answer.answerable,"
        " 'torch' in sys.modules, 'sentence_transformers' in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["loaded", "loaded", "onnx", True, False, False]
