"""Turn hits into the answer a patient sees: quoted passages, the best sentence marked, citations (pure)."""

from __future__ import annotations

import html
import re

from qa.types import Answer, Document, Hit, Passage

DISCLAIMER = (
    "Quoted word for word from the American Cancer Society's pages on treating ALL in adults. "
    "This is information, not medical advice: your cancer care team knows your situation."
)


def citation(doc: Document | None, page: str, section: str) -> str:
    """One readable line: page › section · publisher · last revised · link (each part only when known)."""
    parts = [f"{page} › {section}" if section else page]
    if doc is not None and doc.publisher:
        parts.append(doc.publisher)
    parts.append(f"Last revised {doc.revised}" if doc is not None and doc.revised else "Revision date not given")
    if doc is not None and doc.url:
        parts.append(doc.url)
    return " · ".join(parts)


def to_passage(hit: Hit, doc: Document | None) -> Passage:
    c = hit.chunk
    highlight = ""
    if 0 <= hit.sentence < len(c.sentences):
        s, e = c.sentences[hit.sentence]
        highlight = c.text[s:e]
    return Passage(
        text=c.text, page=c.page, section=c.section, score=hit.score,
        revised=doc.revised if doc else None, url=doc.url if doc else None,
        citation=citation(doc, c.page, c.section), highlight=highlight, chunk_id=c.id,
    )


def _escape(text: str) -> str:
    """Corpus text is shown as text: no HTML or markdown from it is ever interpreted."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", text)


def _quote(p: Passage) -> str:
    """The passage as a markdown blockquote with its best sentence in bold."""
    text = p.text
    if p.highlight and p.highlight in text:
        a = text.index(p.highlight)
        b = a + len(p.highlight)
        lead = p.highlight[: len(p.highlight) - len(p.highlight.lstrip("- "))]
        body = _escape(text[:a]) + _escape(lead) + f"**{_escape(p.highlight[len(lead):])}**" + _escape(text[b:])
    else:
        body = _escape(text)
    lines = []
    for line in body.split("\n"):
        lines.append(">" if not line.strip() else f"> {line}")
    return "\n".join(lines)


def _cite_line(n: int, p: Passage) -> str:
    text = _escape(p.citation if not p.url else p.citation.replace(f" · {p.url}", ""))
    link = f" · [source]({p.url})" if p.url else ""
    return f"<sub>[{n}] {text}{link}</sub>"


def render_markdown(passages: tuple[Passage, ...], shown: int, notice: str = "") -> str:
    """What the chat shows for an answerable question."""
    out = []
    if notice:
        out.append(f"⚠️ **{_escape(notice)}**\n")
    for n, p in enumerate(passages[:shown], start=1):
        out.append(_quote(p))
        out.append(_cite_line(n, p) + "\n")
    more = passages[shown:]
    if more:
        folded = [f"{_quote(p)}\n\n{_cite_line(n, p)}\n" for n, p in enumerate(more, start=shown + 1)]
        out.append(f"<details><summary>More passages ({len(more)})</summary>\n\n" + "\n".join(folded) + "\n</details>\n")
    out.append(f"*{DISCLAIMER}*")
    return "\n".join(out)


def render_not_found(pages: list[str], helpline: str | None, notice: str = "", reason: str = "") -> str:
    """The honest reply when nothing in the pages answers the question."""
    out = []
    if notice:
        out.append(f"⚠️ **{_escape(notice)}**\n")
    out.append("I couldn't find that in these pages." + (f" {reason}" if reason else ""))
    out.append("\nThey cover these topics of treating ALL in adults:\n")
    out.extend(f"- {_escape(p)}" for p in pages)
    ask = "Your cancer care team is the best place to ask about your own situation"
    out.append(f"\n{ask}" + (f", or call the American Cancer Society helpline at {helpline}." if helpline else "."))
    return "\n".join(out)


def format_answer(question: str, query: str, hits: list[Hit] | tuple[Hit, ...], documents: dict[str, Document],
                  answerable: bool, shown: int = 3, notice: str = "", reason: str = "",
                  helpline: str | None = None) -> Answer:
    """Build the Answer: passages with citations and the markdown the chat shows."""
    passages = tuple(to_passage(h, documents.get(h.chunk.doc_id)) for h in hits) if answerable else ()
    if answerable and passages:
        markdown = render_markdown(passages, shown, notice)
    else:
        pages = list(dict.fromkeys(d.title for d in documents.values()))
        markdown = render_not_found(pages, helpline, notice, reason)
    return Answer(question=question, query=query, answerable=bool(answerable and passages), passages=passages,
                  markdown=markdown, notice=notice, reason=reason)
