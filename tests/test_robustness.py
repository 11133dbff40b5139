"""Whatever a patient types: empty, huge, invisible characters, other languages, markup; property tests."""

from __future__ import annotations

import html
import json
import re
import time
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from qa.answer import format_answer
from qa.assistant import LANGUAGE_NOTE
from qa.chunking import chunk_corpus, chunk_document, count_tokens
from qa.conversation import contextualize
from qa.corpus import clean_inline, load_corpus, parse_text
from qa.embedding import known_words
from qa.query import QueryExpander, clean_question, looks_english
from qa.types import Answer, Chunk, Collection, Document, Hit, Section

REAL_CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GLEEVEC = "Common side effects include diarrhea, nausea, muscle pain"
HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
# tags answer.py itself writes; anything else in the chat's HTML came from text and is a failure
OWN_TAGS = {
    "div",
    "p",
    "blockquote",
    "ul",
    "li",
    "br",
    "mark",
    "em",
    "strong",
    "span",
    "a",
    "details",
    "summary",
    "sub",
}
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Tags(HTMLParser):
    """Collects every tag and attribute the chat's renderer would see."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.depth: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))
        if tag not in ("br",):
            self.depth[tag] = self.depth.get(tag, 0) + 1

    def handle_endtag(self, tag: str) -> None:
        self.depth[tag] = self.depth.get(tag, 0) - 1


def assert_safe_markup(shown: str) -> None:
    """Only the renderer's own tags, balanced; links only to web pages; no Markdown image or link."""
    parser = _Tags()
    parser.feed(shown)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag in OWN_TAGS, (tag, shown)
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src"):
                assert value and re.match(r"^https?://", value), value
    assert all(v == 0 for v in parser.depth.values()), parser.depth
    # Markdown links and images need an unescaped "](": text never brings one
    assert not re.search(r"(?<!\\)\]\(", shown), shown


# --- through the real Assistant -----------------------------------------------------------------------


@pytest.mark.parametrize("message", ["", "   ", "\n\t  \n", "\u200b\u200b", "\u202e\u202c", None])
def test_empty_message_gets_a_prompt_and_no_search(
    real_assistant, monkeypatch: pytest.MonkeyPatch, message: str | None
) -> None:
    def no_search(*args: object, **kwargs: object) -> None:
        raise AssertionError("searched for an empty message")

    monkeypatch.setattr(real_assistant.retriever, "retrieve", no_search)
    answer = real_assistant.ask(message)  # type: ignore[arg-type]
    assert not answer.answerable and answer.passages == ()
    assert answer.html == "<p>Please type a question about treating acute lymphocytic leukemia (ALL) in adults.</p>"
    assert "couldn't find" not in answer.html


def test_very_long_message_is_answered_on_its_first_part(real_assistant) -> None:
    message = "What are the side effects of Gleevec? " + "please tell me more about this " * 3300
    assert len(message) > 100_000
    started = time.perf_counter()
    answer = real_assistant.ask(message)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0
    assert answer.question.startswith("What are the side effects of Gleevec? please tell me")
    assert len(answer.question) <= real_assistant.cfg.search.max_question_chars
    assert "long" in answer.notice and "first" in answer.notice
    assert answer.notice in answer.html or "long" in answer.html


@pytest.mark.parametrize("filler", ["x" * 100_000, "\u200b" * 100_000, "😀" * 100_000, "<b>" * 40_000])
def test_long_message_of_one_kind_of_character(real_assistant, filler: str) -> None:
    started = time.perf_counter()
    answer = real_assistant.ask("What are the side effects of Gleevec? " + filler)
    assert time.perf_counter() - started < 5.0
    assert_safe_markup(answer.html)
    assert len(answer.question) <= real_assistant.cfg.search.max_question_chars


def test_long_message_memory_is_bounded(real_assistant) -> None:
    import tracemalloc

    real_assistant.ask("warm up the caches")
    tracemalloc.start()
    try:
        real_assistant.ask("What are the side effects of Gleevec? " + "more words here " * 6250)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20  # Python-side allocations for one 100,000-character message (about 0.2 MB)


def test_huge_message_work_is_bounded() -> None:
    # ten million characters are cut before any per-character work
    started = time.perf_counter()
    question, note = clean_question("x " * 5_000_000, 2000)
    assert time.perf_counter() - started < 1.0
    assert len(question) <= 2000 and note


@pytest.mark.parametrize(
    "message",
    [
        "\x00What are\x07 the side\x1b[31m effects of Gleevec?\x7f",  # control characters, an ANSI escape
        "What\u200b are\u200c the\u200d side\u2060 effects\ufeff of Gleevec?",  # zero-width
        "\u202eWhat are the side effects of Gleevec?\u202c",  # right-to-left override
        "\u2067What are the side effects of Gleevec?\u2069\u200f",  # isolates and RTL mark
        "😟😟 What are the side effects of Gleevec? 🙏🏽👨‍👩‍👧",  # emoji, skin tone, ZWJ family
        "What are the side effects of Gleevec (格列卫, Гливек)?",  # mixed scripts
        "Ｗｈａｔ ａｒｅ the side effects of Gleevec?",  # full-width letters (NFKC)
        "What are the side effects of Gleevec?\u2028\u2029\r\n",  # line and paragraph separators
    ],
)
def test_odd_characters_still_find_the_answer(real_assistant, message: str) -> None:
    answer = real_assistant.ask(message)
    assert answer.answerable
    assert GLEEVEC in answer.passages[0].text
    assert not any(unicodedata.category(ch) in HIDDEN_CATEGORIES for ch in answer.question)
    json.dumps(answer.to_dict())


@pytest.mark.parametrize(
    "message",
    [
        "¿Cuáles son los efectos secundarios de la quimioterapia?",
        "Quels sont les effets secondaires de la chimiothérapie ?",
        "Welche Nebenwirkungen hat die Chemotherapie und wie lange dauert sie?",
        "Was sind die Nebenwirkungen von Gleevec?",
        "Quais são os efeitos colaterais da quimioterapia?",
        "Quali sono gli effetti collaterali della chemioterapia?",
        "化疗有哪些副作用？",
        "ما هي الآثار الجانبية للعلاج الكيميائي؟",
        "Какие побочные эффекты у химиотерапии?",
        "हिंदी में उपचार के बारे में बताइए",
    ],
)
def test_non_english_gets_a_polite_note(real_assistant, message: str) -> None:
    answer = real_assistant.ask(message)
    assert LANGUAGE_NOTE in answer.notice
    assert "English" in answer.html
    json.dumps(answer.to_dict())


@pytest.mark.parametrize(
    "message",
    [
        "What are the side effects of Gleevec?",
        "can surgery cure ALL",
        "CAR T-cell CRS?",
        "ALL?",
        "Gleevec",
        "What is the difference between induction and consolidation?",
        "is blinatumomab (Blincyto) safe?",
        "I'm 67, is chemo too hard at my age?",
    ],
)
def test_english_gets_no_language_note(real_assistant, message: str) -> None:
    assert LANGUAGE_NOTE not in real_assistant.ask(message).notice


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert('x')</script>",
        '<img src=x onerror="alert(1)">',
        "[click me](javascript:alert(1))",
        "![tracker](http://evil.example/pixel.png)",
        '<a href="javascript:alert(1)">side effects</a>',
        "<iframe src=//evil.example></iframe>",
        "$$\\href{javascript:alert(1)}{x}$$",
        "**bold** _it_ `code` # heading | table |",
    ],
)
def test_injection_in_the_question_is_never_markup(real_assistant, payload: str) -> None:
    for message in (f"{payload} What are the side effects of Gleevec?", payload):
        answer = real_assistant.ask(message)
        assert_safe_markup(answer.html)
        assert "<script" not in answer.html and "<img" not in answer.html
        assert "<iframe" not in answer.html


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "![p](http://evil.example/p.png)",
        "</blockquote></div><b>out</b>",
    ],
)
def test_injection_in_corpus_text_is_shown_as_text(payload: str) -> None:
    text = f"Side effects can include nausea. {payload} More text here."
    doc = Document(
        id="d",
        title="Page <b>",
        text=text,
        sections=(Section("Sec <i>", 0, len(text)),),
        url="javascript:alert(1)",
        publisher="ACS",
    )
    chunk = Chunk(
        id="d#0",
        doc_id="d",
        text=text,
        start=0,
        end=len(text),
        page=doc.title,
        section="Sec <i>",
        sentences=((0, 32),),
    )
    answer = format_answer(
        "q", "q", [Hit(chunk, 0.9, "hybrid", 0)], {"d": doc}, answerable=True, notice="<script>x</script>"
    )
    assert_safe_markup(answer.html)
    assert payload in html.unescape(answer.html)  # shown as the same characters, as text


# --- property-based: arbitrary text never breaks a stage ----------------------------------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
# markdown-like pieces, so links, emphasis, lists and headings are generated often, not by luck
MARKUPISH = st.lists(
    st.sampled_from(
        [
            "a",
            "Bb",
            " ",
            "Z.",
            "?",
            "!",
            ":",
            "- ",
            "*",
            "_",
            "[",
            "]",
            "(",
            ")",
            "#",
            "\\",
            "`",
            "<",
            ">",
            "/",
            "\n",
            "\n\n",
            "¹",
            "²",
            "](#)",
            "**",
            "Side effects",
        ]
    ),
    max_size=60,
).map("".join)
ANY_TEXT = st.one_of(TEXT, MARKUPISH, st.text(max_size=200))


@PROPERTY
@given(ANY_TEXT)
def test_clean_inline_is_total_and_tidy(text: str) -> None:
    out = clean_inline(text)
    assert isinstance(out, str)
    assert out == out.strip()
    assert not re.search(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]", out)
    assert "  " not in out and "\t" not in out


@PROPERTY
@given(st.one_of(TEXT, MARKUPISH), st.sampled_from([20, 60, 120]), st.integers(0, 2))
def test_parse_and_chunk_arbitrary_text(text: str, size: int, overlap: int) -> None:
    for doc in parse_text(text, "any.txt") + parse_text(text, "any.md"):
        previous_end = -1
        for i, chunk in enumerate(chunk_document(doc, size, overlap)):
            assert chunk.text == doc.text[chunk.start : chunk.end]
            assert chunk.text.strip() == chunk.text and chunk.text
            assert chunk.id == f"{doc.id}#{i}"
            assert count_tokens(chunk.text) <= size or len(chunk.text.split()) == 1  # one overlong "word"
            assert chunk.end > previous_end or overlap
            previous_end = chunk.end


@PROPERTY
@given(st.one_of(TEXT, st.text(max_size=5000)), st.integers(1, 3000))
@example("0 0", 2)  # a hard cut that ended on a space once kept it (found by a fresh clone's CI)
def test_clean_question_is_bounded_visible_and_stable(text: str, max_chars: int) -> None:
    question, note = clean_question(text, max_chars)
    assert len(question) <= max_chars
    assert question == question.strip()
    assert not any(unicodedata.category(ch) in HIDDEN_CATEGORIES for ch in question)
    question.encode("utf-8")  # no lone surrogates reach the tokenizer or JSON
    assert clean_question(question, max_chars)[0] == question
    assert not note or "long" in note


@PROPERTY
@given(TEXT, st.lists(TEXT, max_size=4))
def test_contextualize_keeps_the_question(question: str, history: list[str]) -> None:
    out = contextualize(question, history)
    assert isinstance(out, str) and out.endswith(question)


@pytest.fixture(scope="module")
def expander() -> QueryExpander:
    return QueryExpander.from_chunks(chunk_corpus(load_corpus(REAL_CORPUS)), known_words("all-MiniLM-L6-v2"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ANY_TEXT)
def test_query_expansion_is_total(expander: QueryExpander, text: str) -> None:
    query = expander.expand(text)
    assert isinstance(query, str)
    assert query.startswith(expander.correct(text))
    looks_english(text)


PASSAGE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=200
)


@st.composite
def hits_and_docs(draw: st.DrawFn) -> tuple[list[Hit], dict[str, Document]]:
    docs: dict[str, Document] = {}
    hits = []
    for n in range(draw(st.integers(0, 5))):
        text = draw(st.one_of(PASSAGE_TEXT, MARKUPISH.filter(bool)))
        doc_id = f"page{n % 2}"
        docs.setdefault(
            doc_id,
            Document(
                id=doc_id,
                title=draw(PASSAGE_TEXT),
                text=text,
                revised=draw(st.none() | PASSAGE_TEXT),
                url=draw(st.none() | PASSAGE_TEXT),
                publisher=draw(st.sampled_from(["", "American Cancer Society"])),
            ),
        )
        cut = draw(st.integers(0, len(text)))
        sentences = ((0, cut),) if cut else ()
        chunk = Chunk(
            id=f"{doc_id}#{n}",
            doc_id=doc_id,
            text=text,
            start=0,
            end=len(text),
            page=docs[doc_id].title,
            section=draw(st.sampled_from(["", "Side effects", "<b>x</b>"])),
            sentences=sentences,
        )
        hits.append(Hit(chunk, draw(st.floats(-1, 1)), "hybrid", draw(st.integers(-1, 1))))
    return hits, docs


@settings(max_examples=80, deadline=None)
@given(hits_and_docs(), st.booleans(), TEXT, TEXT, st.integers(1, 5))
def test_format_answer_is_total_and_well_formed(
    data: tuple[list[Hit], dict[str, Document]], answerable: bool, notice: str, reason: str, shown: int
) -> None:
    hits, docs = data
    answer = format_answer(
        "question",
        "query",
        hits,
        docs,
        answerable,
        shown=shown,
        notice=notice,
        reason=reason,
        collection=Collection("T", "the topic", ("Publisher",), (("Publisher helpline", "1-800-227-2345"),)),
    )
    assert isinstance(answer, Answer)
    assert answer.answerable == (answerable and bool(hits))
    assert len(answer.passages) == (len(hits) if answer.answerable else 0)
    json.dumps(answer.to_dict())
    assert answer.html.strip()
    assert_safe_markup(answer.html)
    if answer.answerable:
        assert "not medical advice" in answer.html
    else:
        assert "1-800-227-2345" in answer.html
