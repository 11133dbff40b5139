"""What `qa build` learns (qa/learn.py, qa/adapt.py): fitted from the corpus in hand, recorded in a manifest, never
reused for another corpus or when damaged; the real seed build with its tuned encoder in ONNX Runtime."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa import learn
from qa.adapt import QueryTunedEmbedder
from qa.assistant import Assistant
from qa.config import Config
from qa.errors import ConfigError
from qa.index import build_index

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pages_cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A corpus large enough for a scope model (two NCI pages), still embedded by the fake embedder."""
    root = tmp_path_factory.mktemp("pages")
    shutil.copytree(ROOT / "eval" / "corpora" / "lymphoma" / "corpus", root / "corpus")
    return Config.of(corpus_dir=root / "corpus", index_dir=root / "index", model_name="fake", adapt=False)


@pytest.fixture(scope="module")
def learned_tiny(pages_cfg: Config) -> Assistant:
    from conftest import FakeEmbedder

    return Assistant.load(pages_cfg, FakeEmbedder())


def test_a_new_corpus_learns_from_its_own_pages(learned_tiny: Assistant, pages_cfg: Config) -> None:
    manifest = learned_tiny.learned.manifest
    questions = manifest["questions"]
    assert questions["synthetic"] > 500 and questions["hand_written_answerable"] == 0
    assert {"heading", "keywords", "definition"} <= set(questions["synthetic_kinds"])
    assert manifest["index_corpus_sha256"] == learned_tiny.index.manifest["corpus_sha256"]
    assert manifest["reranker"] == {"questions": 0, "fitted": False,
                                    "why_not": "fewer than 100 held-out hand-written questions"}
    assert learned_tiny.learned.reranker is None  # the fused order stands
    assert learned_tiny.learned.scope_model is not None and manifest["scope_model"]["not_answered"] > 40
    folder = Path(pages_cfg.paths.index_dir) / learn.FOLDER
    assert sorted(manifest["files"]) == ["scope_model.json"]
    assert learned_tiny.encoder_status.startswith("fitted on ")
    assert "scope model" in learn.summary(learned_tiny.learned, learned_tiny.index)
    assert learn.stale_because(pages_cfg, learned_tiny.index, folder) is None


def test_a_page_or_two_get_no_scope_model(tiny_cfg: Config, fake_embedder) -> None:
    """Too few of its own questions to draw a line on: the other checks decide, and the manifest says why."""
    assistant = Assistant.load(tiny_cfg, fake_embedder)
    assert assistant.learned.scope_model is None
    assert "fewer than 40" in assistant.learned.manifest["scope_model"]["why_not"]
    assert assistant.ask("refunds reach your card").answerable


def test_nothing_is_fitted_again_when_nothing_changed(learned_tiny: Assistant, pages_cfg: Config, fake_embedder,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fit(*args: object, **kwargs: object) -> None:
        raise AssertionError("fitted again")

    monkeypatch.setattr(learn, "fit", no_fit)
    again = Assistant.load(pages_cfg, fake_embedder)
    assert again.status == "loaded" and again.encoder_status == "loaded"


def test_learning_is_repeatable(learned_tiny: Assistant, pages_cfg: Config, fake_embedder, tmp_path: Path) -> None:
    other = pages_cfg.replace(index_dir=tmp_path / "again")
    twin = Assistant.load(other, fake_embedder)
    first = json.loads((Path(pages_cfg.paths.index_dir) / learn.FOLDER / "scope_model.json").read_text())
    second = json.loads((Path(other.paths.index_dir) / learn.FOLDER / "scope_model.json").read_text())
    assert first == second
    assert twin.learned.manifest["questions"] == learned_tiny.learned.manifest["questions"]


def test_a_changed_corpus_is_learned_again(tiny_cfg: Config, fake_embedder) -> None:
    before = Assistant.load(tiny_cfg, fake_embedder).learned.manifest["questions"]["synthetic"]
    page = Path(tiny_cfg.paths.corpus_dir) / "gift-cards.md"
    page.write_text("# Gift cards\n\n## Using a gift card\n\nA gift card can be used online or in any of our "
                    "stores. Gift cards never expire and cannot be exchanged for cash.\n", encoding="utf-8")
    again = Assistant.load(tiny_cfg, fake_embedder)
    assert again.status.startswith("rebuilt") and again.encoder_status.startswith("fitted on ")
    assert again.learned.manifest["index_corpus_sha256"] == again.index.manifest["corpus_sha256"]
    assert again.learned.manifest["questions"]["synthetic"] > before


def test_models_fitted_for_another_corpus_are_never_used(learned_tiny: Assistant, pages_cfg: Config,
                                                         fake_embedder, tmp_path: Path) -> None:
    """Copy the learned folder of one corpus next to another corpus's index: it is refused, and refitted."""
    other_corpus = tmp_path / "other"
    other_corpus.mkdir()
    (other_corpus / "faq.md").write_text("# Opening hours\n\n## Weekdays\n\nThe shop opens at nine and closes at "
                                         "six on weekdays. On Saturdays it closes at four.\n", encoding="utf-8")
    cfg = pages_cfg.replace(corpus_dir=other_corpus, index_dir=tmp_path / "other-index")
    index = build_index(cfg, fake_embedder)
    index.save(cfg.paths.index_dir)
    shutil.copytree(Path(pages_cfg.paths.index_dir) / learn.FOLDER, Path(cfg.paths.index_dir) / learn.FOLDER)
    reason = learn.stale_because(cfg, index, Path(cfg.paths.index_dir) / learn.FOLDER)
    assert reason is not None and "index_corpus_sha256" in reason
    assert learn.load(cfg, index, Path(cfg.paths.index_dir) / learn.FOLDER) is None
    assistant = Assistant.load(cfg, fake_embedder)
    assert assistant.encoder_status.startswith("fitted on ")
    assert assistant.learned.manifest["index_corpus_sha256"] == index.manifest["corpus_sha256"]


@pytest.mark.parametrize("damage", ["flip", "delete", "manifest"])
def test_a_damaged_learned_folder_is_refused(learned_tiny: Assistant, pages_cfg: Config, damage: str,
                                             tmp_path: Path) -> None:
    folder = tmp_path / learn.FOLDER
    shutil.copytree(Path(pages_cfg.paths.index_dir) / learn.FOLDER, folder)
    target = folder / "scope_model.json"
    if damage == "flip":
        target.write_text(target.read_text().replace("0", "1", 1))
    elif damage == "delete":
        target.unlink()
    else:
        (folder / "manifest.json").write_text("{not json")
    assert learn.stale_because(pages_cfg, learned_tiny.index, folder) is not None
    assert learn.load(pages_cfg, learned_tiny.index, folder) is None


def test_hand_written_questions_count_only_where_the_corpus_holds_their_answer(tiny_cfg: Config,
                                                                                fake_embedder) -> None:
    index = build_index(tiny_cfg, fake_embedder)
    span = index.chunks[0].text[slice(*index.chunks[0].sentences[0])]
    lines = [{"id": "a", "question": "first?", "gold_spans": [span], "answerable": True, "split": "train"},
             {"id": "b", "question": "elsewhere?", "gold_spans": ["A sentence of some other corpus."],
              "answerable": True, "split": "train"},
             {"id": "c", "question": "the weather?", "gold_spans": [], "answerable": False, "split": "train"},
             {"id": "d", "question": "a dev question", "gold_spans": [span], "answerable": True, "split": "dev"}]
    path = Path(tiny_cfg.paths.corpus_dir) / "train_questions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert tiny_cfg.hand_written == path
    kept, out_of_scope, dropped = learn.hand_written(path, index)
    assert [q.id for q in kept] == ["a"] and [q.id for q in out_of_scope] == ["c"] and dropped == 1
    assert learn.hand_written(Path(tiny_cfg.paths.corpus_dir) / "none.jsonl", index) == ([], [], 0)


def test_the_reranker_is_fitted_on_hand_written_questions(tiny_cfg: Config, fake_embedder,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Generated questions repeat their answer's words and would teach it to reward word overlap, so it learns
    from a maintainer's questions only (held-out ones, which the encoder never trained on)."""
    monkeypatch.setattr(learn, "MIN_RERANK_QUESTIONS", 1)
    index = build_index(tiny_cfg, fake_embedder)
    lines = []
    for n, chunk in enumerate(index.chunks):
        for i, (s, e) in enumerate(chunk.sentences):
            lines.append({"id": f"{n}-{i}", "question": " ".join(chunk.text[s:e].split()[:4]) + "?",
                          "gold_spans": [chunk.text[s:e]], "answerable": True, "split": "train"})
    path = Path(tiny_cfg.paths.corpus_dir) / "train_questions.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assistant = Assistant.load(tiny_cfg, fake_embedder)
    reranker = assistant.learned.manifest["reranker"]
    assert reranker["fitted"] and reranker["questions"] >= 1 and assistant.learned.reranker is not None
    assert assistant.learned.manifest["questions"]["hand_written_answerable"] == len(lines)


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="scope_false_rate"):
        Config.of(scope_false_rate=1.5)
    with pytest.raises(ConfigError, match="synthetic_questions"):
        Config.of(synthetic_questions=0)
    with pytest.raises(ConfigError, match="negatives"):
        Config.from_env({"QA_NEGATIVES": "0"})


# The real seed corpus with the bundled model: hand-written questions (corpus/train_questions.jsonl) and questions
# made from the pages, the query encoder fine-tuned on them and run in ONNX Runtime.

def test_the_seed_learns_from_its_hand_written_questions_too(real_assistant) -> None:
    manifest = real_assistant.learned.manifest
    assert manifest["questions"]["hand_written_answerable"] > 3000
    assert manifest["questions"]["hand_written_out_of_scope"] > 900
    assert manifest["reranker"]["fitted"] and real_assistant.learned.reranker is not None
    assert manifest["encoder"]["examples"] >= 3000


def test_the_real_assistant_asks_through_the_tuned_encoder(real_assistant, real_embedder) -> None:
    embedder = real_assistant.embedder
    assert isinstance(embedder, QueryTunedEmbedder)
    question = "once chemo is over, do all the horrible effects stop?"
    tuned, base = embedder.embed_query(question), real_embedder.embed_query(question)
    assert tuned.shape == base.shape and abs(float(np.linalg.norm(tuned)) - 1.0) < 1e-4
    assert float(tuned @ base) < 0.999  # really another encoder...
    passage = ["Most side effects from chemo go away once treatment is finished."]
    assert np.allclose(embedder.embed(passage), real_embedder.embed(passage))  # ...but passages stay in place
    answer = real_assistant.ask(question)
    assert answer.answerable and "go away once treatment is finished" in answer.passages[0].text


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


def test_the_onnx_export_takes_the_inputs_its_tokenizer_gives(tmp_path: Path) -> None:
    """Models whose tokenizer gives no token_type_ids (all-mpnet-base-v2, which the README offers) export too:
    `qa build` with one crashed on the missing input before."""
    import onnxruntime
    from sentence_transformers import SentenceTransformer

    from qa.adapt import export_onnx
    from qa.embedding import OnnxQueryEncoder, resolve_model_path

    folder = resolve_model_path(Config().indexing.model_name)
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    model.tokenizer.model_input_names = ["input_ids", "attention_mask"]  # as MPNet's and RoBERTa's tokenizers
    assert "token_type_ids" not in model.tokenizer(["a question"])
    export_onnx(model, tmp_path / "query.onnx")
    graph = onnxruntime.InferenceSession(str(tmp_path / "query.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in graph.get_inputs()] == ["input_ids", "attention_mask"]
    encoder = OnnxQueryEncoder(tmp_path / "query.onnx", folder / "tokenizer.json", max_tokens=256)
    want = model.encode(QUESTIONS, normalize_embeddings=True, convert_to_numpy=True)
    assert float((encoder.embed(QUESTIONS) * want).sum(1).min()) > 0.9999


def test_a_damaged_onnx_graph_falls_back_to_torch(real_assistant, tmp_path: Path) -> None:
    copy = tmp_path / "query_encoder"
    shutil.copytree(real_assistant.embedder.folder, copy)
    (copy / "query.onnx").write_bytes(b"not a graph")
    assert QueryTunedEmbedder(real_assistant.embedder.base, copy).runtime == "torch"
    assert QueryTunedEmbedder(real_assistant.embedder.base, copy, onnx=False).runtime == "torch"


def test_query_onnx_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Config().serving.query_onnx
    monkeypatch.setenv("QA_QUERY_ONNX", "0")
    assert not Config.from_env().serving.query_onnx
    monkeypatch.setenv("QA_QUERY_ONNX", "maybe")
    with pytest.raises(ConfigError, match="QA_QUERY_ONNX"):
        Config.from_env()


def test_serving_a_built_index_never_loads_torch(real_assistant, real_cfg: Config) -> None:
    """With the index and the learned models on disk, starting and answering needs neither torch nor
    sentence-transformers (seconds of import and hundreds of MB): the model folder declares its vector size."""
    from qa.embedding import declared_dim, resolve_model_path

    loaded = real_assistant.base_embedder.model.get_embedding_dimension()
    assert declared_dim(resolve_model_path(real_cfg.indexing.model_name)) == loaded == 384
    script = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from qa import Assistant, Config\n"
        f"cfg = Config.of(corpus_dir=Path({str(real_cfg.paths.corpus_dir)!r}),"
        f" index_dir=Path({str(real_cfg.paths.index_dir)!r}))\n"
        "a = Assistant.load(cfg)\n"
        "answer = a.ask('what are the side effects of blinatumomab?')\n"
        "print(json.dumps([a.status, a.encoder_status, a.embedder.runtime, answer.answerable,"
        " 'torch' in sys.modules, 'sentence_transformers' in sys.modules]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == ["loaded", "loaded", "onnx", True, False, False]


def test_shipped_hand_written_questions_are_valid_and_disjoint_from_the_evaluation() -> None:
    from qa.corpus import load_corpus
    from qa.questions import is_near_copy, load_questions, question_words, validate_questions

    train = load_questions(ROOT / "corpus" / "train_questions.jsonl")
    assert validate_questions(train, load_corpus(ROOT / "corpus")) == []
    assert {q.split for q in train} == {"train"} and len(train) >= 500
    held_out = [ROOT / "eval" / name for name in ("questions.jsonl", "val_questions.jsonl", "holdout_questions.jsonl")]
    evaluation = [question_words(q.question) for path in held_out for q in load_questions(path)]
    near = [q.question for q in train if is_near_copy(question_words(q.question), evaluation)]
    assert not near, f"training questions (almost) word for word in a held-out set: {near[:3]}"


ODD_CORPORA = {
    "no headings": {"a.txt": "The garden is green in spring.\n\nWe water the garden every morning before work.\n\n"
                             "Tomatoes grow best in full sun, and the garden gets sun all day."},
    "a single page": {"a.md": "# One page\n\nThe garden is green in spring. We water it every morning."},
    "another language": {"es.md": "# El jardín\n\n## Riego\n\nRegamos el jardín cada mañana. Los tomates crecen "
                                  "mejor al sol."},
    "an empty file beside a page": {"empty.md": "", "b.md": "# B\n\n## C\n\nThe garden is here, by the river."},
    "5,000 pages": {f"p{i:04d}.md": f"# Page {i}\n\n## Part {i % 7}\n\nThe garden number {i} has {i % 13} tomato "
                                    f"plants and {i % 5} roses." for i in range(5000)},
}


@pytest.mark.parametrize("name", ODD_CORPORA)
def test_odd_corpora_give_a_working_index(name: str, tmp_path: Path, fake_embedder) -> None:
    """Whatever a maintainer drops in: an index that answers, learned from those pages alone (the question budget
    holds for 5,000 pages), or a clear message; never a crash or another corpus's models."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for file, text in ODD_CORPORA[name].items():
        (corpus / file).write_text(text, encoding="utf-8")
    cfg = Config.of(corpus_dir=corpus, index_dir=tmp_path / "index", model_name="fake", adapt=False)
    assistant = Assistant.load(cfg, fake_embedder)
    manifest = assistant.learned.manifest
    assert manifest["index_corpus_sha256"] == assistant.index.manifest["corpus_sha256"]
    assert 0 < manifest["questions"]["synthetic"] <= cfg.learning.synthetic_questions
    answer = assistant.ask("garden" if name != "another language" else "jardín tomates")
    assert answer.answerable and answer.passages


def test_an_empty_corpus_is_a_clear_message(tmp_path: Path, fake_embedder) -> None:
    from qa.errors import CorpusError

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "empty.md").write_text("", encoding="utf-8")
    cfg = Config.of(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model_name="fake", adapt=False)
    with pytest.raises(CorpusError, match="no readable .txt or .md pages"):
        Assistant.load(cfg, fake_embedder)


def test_training_contrasts_a_bounded_sample_of_rows() -> None:
    """Past `limit` rows the encoder sees every answering row plus a seeded sample of the rest, renumbered."""
    from qa.adapt import Example, sample_rows

    data = [Example("q1", (5, 900), (40,)), Example("q2", (77,), ())]
    same, chunk_rows, sentence_rows = sample_rows(data, 1000, 3000, limit=5000)
    assert same is data and np.array_equal(chunk_rows, np.arange(1000)) and len(sentence_rows) == 3000

    out, chunk_rows, sentence_rows = sample_rows(data, 1000, 3000, limit=100)
    assert len(chunk_rows) == len(sentence_rows) == 100
    assert list(chunk_rows) == sorted(set(chunk_rows.tolist()))
    for before, after in zip(data, out, strict=True):  # each example still points at its own rows
        assert [int(chunk_rows[i]) for i in after.chunks] == list(before.chunks)
        assert [int(sentence_rows[i]) for i in after.sentences] == list(before.sentences)
    again = sample_rows(data, 1000, 3000, limit=100)
    assert np.array_equal(again[1], chunk_rows) and np.array_equal(again[2], sentence_rows)  # seeded


def test_models_learned_on_passages_parsed_another_way_are_refitted(learned_tiny: Assistant, pages_cfg: Config) -> None:
    """The same files read by an older parser (another index format) are other passages: the learned models
    fitted on them are stale even though the corpus files did not change."""
    folder = Path(pages_cfg.paths.index_dir) / learn.FOLDER
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["index_format"] == learned_tiny.index.manifest["format"]
    index = learned_tiny.index
    older = dataclasses.replace(index, manifest={**index.manifest, "format": index.manifest["format"] - 1})
    reason = learn.stale_because(pages_cfg, older, folder)
    assert reason is not None and "index_format" in reason


def test_a_stale_reason_names_the_setting_that_changed(learned_tiny: Assistant, pages_cfg: Config) -> None:
    folder = Path(pages_cfg.paths.index_dir) / learn.FOLDER
    reason = learn.stale_because(pages_cfg.replace(rrf_k=30), learned_tiny.index, folder)
    assert reason is not None and "search.rrf_k '60', not '30'" in reason
