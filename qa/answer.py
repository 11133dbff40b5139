"""Turn hits into the answer a patient sees: quoted passages, the best sentence marked, citations (pure)."""

from __future__ import annotations

import html
import re
from itertools import groupby

from qa.safety import urgent_notice
from qa.types import Answer, Collection, Document, Hit, Passage

PLAIN = Collection(title="Questions about these pages", topic="the pages listed below")


def disclaimer(collection: Collection) -> str:
    return (f"Quoted word for word from {collection.by} on {collection.topic}. "
            "This is information, not medical advice: your care team knows your situation.")

# Characters that mean something to HTML, Markdown or the chat's LaTeX renderer. Each becomes a numeric
# entity, which all those layers show as the plain character: corpus or patient text never becomes markup.
_SPECIAL = re.compile(r"[&<>\"'\\`*_\[\]#|~$]")
_BULLET = re.compile(r"^\s*(?:[-*•])\s+")
# private-use characters bracket the highlighted sentence while the text is escaped and split into blocks
_OPEN, _CLOSE = "\ue000", "\ue001"


def escape_html(text: str) -> str:
    """Text shown as text in the chat's Markdown/HTML: no tag, emphasis, link or formula can come from it."""
    return _SPECIAL.sub(lambda m: f"&#{ord(m.group())};", text)


def citation(doc: Document | None, page: str, section: str) -> str:
    """One readable line: page › section · publisher · last revised · link (each part only when known)."""
    parts = [f"{page} › {section}" if section else page]
    if doc is not None and doc.publisher:
        parts.append(doc.publisher)
    revised = doc.revised if doc is not None else None
    parts.append(f"Last revised {revised}" if revised else "Revision date not given")
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


def _marked(p: Passage) -> str:
    """The passage text with the highlighted sentence bracketed (a list item's '- ' stays outside)."""
    text, hl = p.text, p.highlight.strip()
    if not hl or hl not in text:
        return text
    hl = _BULLET.sub("", hl)
    a = text.index(hl)
    return f"{text[:a]}{_OPEN}{hl}{_CLOSE}{text[a + len(hl):]}"


def _lines_html(lines: list[str], open_mark: bool) -> tuple[list[str], bool]:
    """Escape lines and turn the brackets into <mark>, closing and reopening it at line ends."""
    out = []
    for line in lines:
        body = escape_html(line)
        if open_mark:
            body = "<mark>" + body
        body = body.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")
        open_mark = body.rfind("<mark>") > body.rfind("</mark>")
        if open_mark:
            body += "</mark>"
        out.append(body)
    return out, open_mark


def _quote(p: Passage) -> str:
    """The passage as an HTML blockquote of paragraphs and lists; the words are the corpus's own."""
    blocks: list[str] = []
    open_mark = False
    for para in re.split(r"\n\s*\n", _marked(p).strip()):
        lines = [line for line in para.split("\n") if line.strip()]
        # runs of "- item" lines become a list, other runs a paragraph with line breaks
        for is_list, group in groupby(lines, key=lambda line: bool(_BULLET.match(line))):
            run = list(group)
            if is_list:
                items, open_mark = _lines_html([_BULLET.sub("", line) for line in run], open_mark)
                blocks.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
            else:
                texts, open_mark = _lines_html(run, open_mark)
                blocks.append("<p>" + "<br>".join(texts) + "</p>")
    return "<blockquote>" + "".join(blocks) + "</blockquote>"


def _safe_url(url: str | None) -> str | None:
    """Only web links are shown as links (a javascript: URL in sources.json must never become one)."""
    return url if url and re.match(r"^https?://[^\s\"'<>]+$", url) else None


def _cite_line(n: int, p: Passage) -> str:
    text = p.citation.replace(f" · {p.url}", "") if p.url else p.citation
    url = _safe_url(p.url)
    link = (f' · <a href="{escape_html(url)}" target="_blank" rel="noopener noreferrer">'
            "read the page (opens in a new tab)</a>") if url else ""
    return f'<p class="qa-cite"><span class="qa-num">[{n}]</span> {escape_html(text)}{link}</p>'


def _notice_html(notice: str) -> str:
    """The urgent notice as a prominent alert; any other note (a long message cut) as a plain line."""
    urgent = urgent_notice()
    out = []
    if notice.startswith(urgent):
        text = escape_html(urgent)
        out.append(f'<div class="qa-urgent" role="alert"><strong>⚠ Urgent:</strong> {text}</div>')
        notice = notice[len(urgent):].strip()
    if notice:
        out.append(f'<p class="qa-note">{escape_html(notice)}</p>')
    return "".join(out)


def _passage_html(n: int, p: Passage) -> str:
    return f'<div class="qa-passage">{_quote(p)}{_cite_line(n, p)}</div>'


def render_passages(passages: tuple[Passage, ...], shown: int, notice: str = "", collection: Collection = PLAIN) -> str:
    """What the chat shows for an answerable question: one HTML block (no blank line: no Markdown in it)."""
    out = ['<div class="qa-answer">']
    if notice:
        out.append(_notice_html(notice))
    out.append(f'<p class="qa-intro">{escape_html(f"From {collection.by}, best match first:")}</p>')
    out.extend(_passage_html(n, p) for n, p in enumerate(passages[:shown], start=1))
    more = passages[shown:]
    if more:
        folded = "".join(_passage_html(n, p) for n, p in enumerate(more, start=shown + 1))
        summary = f"<summary>More passages ({len(more)})</summary>"
        out.append(f'<details class="qa-more">{summary}{folded}</details>')
    out.append(f'<p class="qa-disclaimer"><em>{escape_html(disclaimer(collection))}</em></p>')
    out.append("</div>")
    return "\n".join(out)


def render_not_found(pages: list[str], collection: Collection = PLAIN, notice: str = "", reason: str = "") -> str:
    """The honest, kind reply when nothing in the pages answers the question: what the pages do cover, and where
    to ask instead (the care team; the publisher's helpline when sources.json gives one). HTML, like a reply."""
    out = ['<div class="qa-answer qa-declined">']
    if notice:
        out.append(_notice_html(notice))
    sorry = "I'm sorry. I couldn't find that in these pages." + (f" {reason}" if reason else "")
    out.append(f"<p>{escape_html(sorry)}</p>")
    out.append(f"<p>{escape_html(f'I can only quote {collection.by} on {collection.topic}. They cover:')}</p>")
    out.append("<ul>" + "".join(f"<li>{escape_html(p)}</li>" for p in pages) + "</ul>")
    out.append("<p>You could try asking in other words, for example naming the treatment or the drug.</p>")
    calls = [f"the {name} at {number}" for name, number in collection.helplines]
    ask = "For anything else, and for your own situation, your care team is the best place to ask"
    out.append(f"<p>{escape_html(ask + (', or call ' + ' or '.join(calls) + '.' if calls else '.'))}</p>")
    out.append("</div>")
    return "\n".join(out)


def to_text(html_fragment: str) -> str:
    """What a reader sees of a reply, for a terminal: tags dropped (list items as "- "), entities decoded."""
    text = re.sub(r"<li>", "\n- ", html_fragment)
    text = re.sub(r"</(p|div|ul|blockquote)>|<br>", "\n", text)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\n\s*\n+", "\n\n", text).strip()


def format_answer(question: str, query: str, hits: list[Hit] | tuple[Hit, ...],
                  documents: dict[str, Document], answerable: bool, shown: int = 3, notice: str = "",
                  reason: str = "", collection: Collection = PLAIN) -> Answer:
    """Build the Answer: passages with citations and the HTML the chat shows."""
    passages = tuple(to_passage(h, documents.get(h.chunk.doc_id)) for h in hits) if answerable else ()
    if answerable and passages:
        shown_html = render_passages(passages, shown, notice, collection)
    else:
        pages = list(dict.fromkeys(d.title for d in documents.values()))
        shown_html = render_not_found(pages, collection, notice, reason)
    return Answer(question=question, query=query, answerable=bool(answerable and passages), passages=passages,
                  html=shown_html, notice=notice, reason=reason)
