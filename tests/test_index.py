"""The index on disk: round trip, manifest mismatch -> rebuild, damaged files detected (fake embedder)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from qa.config import Config
from qa.errors import CorpusError, IndexMismatchError, IndexNotFoundError
from qa.index import FILES, build_index, ensure_index, load_index, sentence_text


@pytest.fixture
def saved(tiny_cfg: Config, fake_embedder) -> Config:
    build_index(tiny_cfg, fake_embedder).save(tiny_cfg.paths.index_dir)
    return tiny_cfg


def test_round_trip(tiny_cfg: Config, fake_embedder) -> None:
    built = build_index(tiny_cfg, fake_embedder)
    built.save(tiny_cfg.paths.index_dir)
    loaded = load_index(tiny_cfg, fake_embedder.dim)
    assert loaded.chunks == built.chunks
    assert loaded.documents == built.documents
    assert loaded.dense.ntotal == len(built.chunks) == loaded.manifest["num_chunks"]
    for row in range(len(built.chunks)):
        assert np.allclose(loaded.dense.reconstruct(row), built.dense.reconstruct(row))
    assert np.array_equal(loaded.sentence_owner, built.sentence_owner)
    # row n of the FAISS index is the vector of chunk n
    vector = fake_embedder.embed([built.chunks[2].search_text])[0]
    assert np.allclose(loaded.dense.reconstruct(2), vector)
    assert sorted(p.name for p in tiny_cfg.paths.index_dir.iterdir()) == sorted([*FILES, "manifest.json"])
    assert not [
        p for p in tiny_cfg.paths.index_dir.parent.iterdir() if p.name.startswith(".")
    ]  # no temp folders left


def test_manifest_records_the_inputs(saved: Config) -> None:
    manifest = json.loads((saved.paths.index_dir / "manifest.json").read_text())
    assert manifest["model"] == "fake" and manifest["dim"] == 64
    assert manifest["chunk_tokens"] == saved.indexing.chunk_tokens
    assert manifest["overlap_sentences"] == saved.indexing.overlap_sentences
    assert len(manifest["corpus_sha256"]) == 64
    assert set(manifest["files"]) == set(FILES)
    assert "faiss-cpu" in manifest["versions"]


def test_saving_twice_replaces_the_index(saved: Config, fake_embedder) -> None:
    build_index(saved, fake_embedder).save(saved.paths.index_dir)
    load_index(saved, 64)
    assert [p.name for p in saved.paths.index_dir.parent.iterdir() if p.name.startswith(".")] == []


def test_missing_index_is_not_found(tiny_cfg: Config) -> None:
    with pytest.raises(IndexNotFoundError, match="qa build"):
        load_index(tiny_cfg)


def _change_corpus(cfg: Config) -> Config:
    (cfg.paths.corpus_dir / "shipping.txt").write_text(
        "Shipping information\n\nDelivery times\n\nWe now deliver on Sundays.\n"
    )
    return cfg


MISMATCHES = {
    "changed corpus file": (_change_corpus, "corpus"),
    "added corpus file": (
        lambda c: (c.paths.corpus_dir / "new.md").write_text("# New\n\nA new page. Text.\n") and c,
        "corpus",
    ),
    "other model name": (lambda c: c.replace(model_name="other-model"), "model"),
    "other chunk_tokens": (lambda c: c.replace(chunk_tokens=40), "chunk_tokens"),
    "other overlap": (lambda c: c.replace(overlap_sentences=0), "overlap_sentences"),
}


@pytest.mark.parametrize("case", MISMATCHES)
def test_manifest_mismatch_is_refused(saved: Config, case: str) -> None:
    change, what = MISMATCHES[case]
    cfg = change(saved)
    with pytest.raises(IndexMismatchError, match=what):
        load_index(cfg, 64)


def test_other_dimension_is_refused(saved: Config) -> None:
    with pytest.raises(IndexMismatchError, match="dim"):
        load_index(saved, 384)


@pytest.mark.parametrize("case", MISMATCHES)
def test_ensure_index_rebuilds_on_mismatch(saved: Config, fake_embedder, case: str) -> None:
    change, what = MISMATCHES[case]
    cfg = change(saved)
    index, status = ensure_index(cfg, fake_embedder)
    assert status.startswith("rebuilt") and what in status
    assert load_index(cfg, 64).chunks == index.chunks  # the rebuilt index was saved and now matches
    assert ensure_index(cfg, fake_embedder)[1] == "loaded"


def test_ensure_index_loads_without_embedding_again(saved: Config, fake_embedder) -> None:
    fake_embedder.calls = 0
    _, status = ensure_index(saved, fake_embedder)
    assert status == "loaded" and fake_embedder.calls == 0


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "missing": Path.unlink,
    "truncated": _truncate,
    "corrupt": _flip_byte,
    "empty": lambda p: p.write_bytes(b""),
}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_file_is_detected(saved: Config, name: str, damage: str) -> None:
    DAMAGE[damage](saved.paths.index_dir / name)
    with pytest.raises(IndexMismatchError, match=name):
        load_index(saved, 64)


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "empty"])
def test_damaged_manifest_is_detected(saved: Config, damage: str) -> None:
    DAMAGE[damage](saved.paths.index_dir / "manifest.json")
    with pytest.raises((IndexMismatchError, IndexNotFoundError)):
        load_index(saved, 64)


def test_manifest_missing_means_no_index(saved: Config) -> None:
    (saved.paths.index_dir / "manifest.json").unlink()
    with pytest.raises(IndexNotFoundError):
        load_index(saved, 64)


def test_manifest_that_is_not_an_object_is_damaged(saved: Config) -> None:
    (saved.paths.index_dir / "manifest.json").write_text("[1, 2, 3]")
    with pytest.raises(IndexMismatchError):
        load_index(saved, 64)


@pytest.mark.parametrize("damage", DAMAGE)
def test_ensure_index_rebuilds_a_damaged_index(saved: Config, fake_embedder, damage: str) -> None:
    DAMAGE[damage](saved.paths.index_dir / "dense.faiss")
    index, status = ensure_index(saved, fake_embedder)
    assert status.startswith("rebuilt")
    assert load_index(saved, 64).chunks == index.chunks


def test_empty_corpus_is_a_corpus_error(tmp_path: Path, fake_embedder) -> None:
    (tmp_path / "corpus").mkdir()
    cfg = Config.of(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", model_name="fake")
    with pytest.raises(CorpusError, match="no readable"):
        build_index(cfg, fake_embedder)
    with pytest.raises(CorpusError):
        ensure_index(cfg, fake_embedder)
    assert not (tmp_path / "index").exists()


def test_chunks_over_the_model_limit_are_refused(tiny_cfg: Config, fake_embedder) -> None:
    fake_embedder.max_tokens = 10  # every tiny-corpus chunk is longer than 10 "word pieces" with its prefix
    with pytest.raises(IndexMismatchError, match="lower chunk_tokens"):
        build_index(tiny_cfg, fake_embedder)


def test_vectors_stream_into_the_index_in_batches(tiny_cfg: Config, fake_embedder,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Embedding goes a batch at a time straight into FAISS: row n is still text n, across batch borders, and a
    sentence repeated by overlapping passages is embedded once."""
    from qa import index as index_module

    batches: list[int] = []
    embed = fake_embedder.embed
    monkeypatch.setattr(fake_embedder, "embed", lambda texts: batches.append(len(texts)) or embed(texts))
    monkeypatch.setattr(index_module, "_embed_into_index", functools.partial(index_module._embed_into_index,
                                                                             batch=3))
    built = build_index(tiny_cfg, fake_embedder)
    assert max(batches) <= 3 and len(batches) > 2
    for row, chunk in enumerate(built.chunks):
        assert np.allclose(built.dense.reconstruct(row), embed([chunk.search_text])[0])
    texts = [sentence_text(c, i) for c in built.chunks for i in range(len(c.sentences))]
    assert built.sentences.ntotal == len(texts)
    for row, text in enumerate(texts):
        assert np.allclose(built.sentences.reconstruct(row), embed([text])[0])
    batches.clear()
    monkeypatch.undo()
    monkeypatch.setattr(fake_embedder, "embed", lambda texts: batches.append(len(texts)) or embed(texts))
    built = build_index(tiny_cfg, fake_embedder)  # one batch of everything: repeats are embedded once
    assert sum(batches) - len(built.chunks) == len(set(texts))
    batches.clear()
    repeated = index_module._embed_into_index(fake_embedder, ["a b", "c d", "a b", "e", "c d"], False, "sentences",
                                              batch=3)
    assert batches == [2, 1] and repeated.ntotal == 5  # "c d" in the second batch is the first batch's vector
    assert np.allclose(repeated.reconstruct(2), repeated.reconstruct(0))
    assert np.allclose(repeated.reconstruct(4), embed(["c d"])[0])
    assert np.allclose(repeated.reconstruct(3), embed(["e"])[0])


@pytest.mark.parametrize("n", [50, 20_500])  # flat, then HNSW (over EXACT_LIMIT)
def test_gather_reads_the_rows_asked_for(n: int) -> None:
    from qa.index import faiss_type, gather, make_faiss_index

    vectors = np.random.default_rng(0).standard_normal((n, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # as every stored vector is: inner product = cosine
    index = make_faiss_index(vectors)
    rows = np.array(sorted({0, 1, 7, n // 2, n - 1}), dtype=np.int64)
    assert np.allclose(gather(index, rows, block=16), vectors[rows], atol=2e-3)  # HNSW keeps 16-bit floats
    assert gather(index, np.zeros(0, np.int64)).shape == (0, 8)
    assert type(index).__name__ == {"flat-ip": "IndexFlatIP", "hnsw-fp16-ip": "IndexHNSWSQ"}[faiss_type(n)]
    _, found = index.search(vectors[rows], 1)
    assert found[:, 0].tolist() == rows.tolist()  # each vector finds itself first


def test_vectors_set_aside_come_back_unchanged(tiny_cfg: Config, fake_embedder, tmp_path: Path) -> None:
    """While the encoder trains the FAISS indexes wait on disk (out of memory); they come back the same, the
    files go, and a failure inside still brings them back."""
    aside = tmp_path / "aside"
    aside.mkdir()
    built = build_index(tiny_cfg, fake_embedder)
    dense = [built.dense.reconstruct(r) for r in range(built.dense.ntotal)]
    sentences = [built.sentences.reconstruct(r) for r in range(built.sentences.ntotal)]
    with built.vectors_set_aside(aside):
        assert built.dense is None and built.sentences is None
        assert len(list(aside.iterdir())) == 2
    assert np.array_equal(np.array(dense), np.array([built.dense.reconstruct(r) for r in range(len(dense))]))
    assert np.array_equal(np.array(sentences),
                          np.array([built.sentences.reconstruct(r) for r in range(len(sentences))]))
    with pytest.raises(RuntimeError), built.vectors_set_aside(aside):
        raise RuntimeError("training failed")
    assert built.dense.ntotal == len(dense) and built.sentences.ntotal == len(sentences)
    assert list(aside.iterdir()) == []
