"""Plain dataclasses passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """A heading and the span of Document.text it governs."""

    heading: str  # "" for a page's opening text
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One page of the corpus, cleaned for reading."""

    id: str  # "<file relative to corpus/>" or "<file>#<page slug>" when a file holds several pages
    title: str
    text: str  # cleaned text: paragraphs separated by blank lines, list items one per line
    sections: tuple[Section, ...] = ()
    revised: str | None = None  # "Last Revised" date as printed by the source
    url: str | None = None  # from corpus/sources.json; None when unknown
    source: str = ""  # file the page came from, relative to corpus/
    publisher: str = ""  # from corpus/sources.json, e.g. "American Cancer Society"
    links: tuple[str, ...] = ()  # the page's "Hyperlinks" block: metadata, not retrievable text
    references: tuple[str, ...] = ()  # the page's "References" block
    nav: tuple[str, ...] = ()  # the page's own list of in-page links (its table of contents)


@dataclass(frozen=True)
class Collection:
    """What the pages are, for the chat's own wording: from corpus/sources.json, else worked out from the pages."""

    title: str  # the chat's heading, e.g. "Questions about treating ALL in adults"
    topic: str  # what the pages cover, to finish "pages on ...", e.g. "treating acute lymphocytic leukemia in adults"
    publishers: tuple[str, ...] = ()  # who wrote the pages, as sources.json names them
    helplines: tuple[tuple[str, str], ...] = ()  # (whose, number): only what sources.json gives
    examples: tuple[str, ...] = ()  # questions the chat offers to start with

    @property
    def by(self) -> str:
        """ "the American Cancer Society's pages" / "these pages" """
        if len(self.publishers) == 1:
            return f"the {self.publishers[0]}'s pages" if not self.publishers[0].lower().startswith("the ") \
                else f"{self.publishers[0]}'s pages"
        return "these pages"


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned passage inside one section of one page."""

    id: str  # f"{doc_id}#{n}": stable across rebuilds of the same corpus and settings
    doc_id: str
    text: str  # == Document.text[start:end]
    start: int
    end: int
    page: str = ""
    section: str = ""
    sentences: tuple[tuple[int, int], ...] = ()  # sentence spans relative to text

    @property
    def context(self) -> str:
        """Page and section: what a passage is about when its own sentences say "it"."""
        return f"{self.page} > {self.section}" if self.section else self.page

    @property
    def search_text(self) -> str:
        """What both retrievers index: the context, then the passage."""
        return f"{self.context}\n{self.text}"


@dataclass(frozen=True)
class Hit:
    """A chunk a retriever found, with its score in that retriever's scale."""

    chunk: Chunk
    score: float
    retriever: str  # "dense" | "lexical" | "hybrid"
    sentence: int = -1  # index into chunk.sentences of the best-matching sentence, -1 if unknown


@dataclass(frozen=True)
class SearchQuery:
    """One question prepared for search (qa.assistant.Assistant.prepare)."""

    question: str  # as the patient typed it, cleaned
    topic: str  # with a follow-up's earlier question in front
    text: str  # what BM25 sees: the topic with typos corrected and the corpus's other names appended
    dense: str  # what the embedding model sees
    core: str  # the topic with typos corrected and nothing appended: whose words the match features count

    @classmethod
    def plain(cls, text: str) -> SearchQuery:
        """A query searched exactly as written (tests, the baseline)."""
        return cls(text, text, text, text, text)


@dataclass(frozen=True)
class Passage:
    """One shown passage: the corpus's own words and where they come from."""

    text: str
    page: str
    section: str
    score: float
    revised: str | None
    url: str | None
    citation: str  # one readable line: page › section, publisher, last revised, link
    highlight: str = ""  # the sentence that best matches the question (a substring of text)
    chunk_id: str = ""


@dataclass(frozen=True)
class Answer:
    """What the assistant returns for one message."""

    question: str
    query: str  # what was actually searched (after follow-up and alias handling)
    answerable: bool
    passages: tuple[Passage, ...]
    html: str  # what the chat shows: the quoted passages, or the "couldn't find that" reply (qa.answer)
    notice: str = ""  # urgent-symptom notice, or a note about the input ("answered on its first part")
    reason: str = ""  # why it declined, when it did (may be empty: "couldn't find that" says enough)
    declined_by: str = ""  # the abstention check that declined it (qa.abstain.Abstainer.CHECKS), "" if answered
    confidence: float = 0.0  # cosine of the best passage (what the "not in these pages" threshold sees)
    scope_probability: float | None = None  # the scope model's P(not answered here), when it was worked out
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage

    def to_dict(self) -> dict[str, object]:
        """The JSON shape `qa ask --json` prints and the API endpoint returns."""
        return {
            "question": self.question,
            "answerable": self.answerable,
            "notice": self.notice,
            "reason": self.reason,
            "declined_by": self.declined_by,
            "passages": [
                {
                    "text": p.text,
                    "page": p.page,
                    "section": p.section,
                    "score": round(p.score, 4),
                    "revised": p.revised,
                    "url": p.url,
                    "citation": p.citation,
                    "highlight": p.highlight,
                }
                for p in self.passages
            ],
        }


@dataclass(frozen=True)
class GoldQuestion:
    """One line of an evaluation file."""

    id: str
    question: str
    history: tuple[str, ...] = ()
    gold_spans: tuple[str, ...] = ()
    answerable: bool = True
    page: str | None = None
    kind: str = "plain"
    split: str = "dev"
