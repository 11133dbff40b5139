"""Load corpus/ into cleaned pages: one parser per file type, metadata from corpus/sources.json."""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from collections.abc import Container
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.errors import CorpusError
from qa.types import Collection, Document, Section

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")
MANIFEST = "sources.json"

_LINK = re.compile(r"!?\[([^\]]*)\]\((?:[^()\s]|\([^)]*\))*\)")  # [text](url), images too
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|])")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])")
_FOOTNOTE = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
_NAV_ITEM = re.compile(r"^\s*[-*+]\s+\[[^\]]*\]\([^)]*\)[⁰¹²³⁴⁵⁶⁷⁸⁹]*\s*$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"[a-z]{2}[.!?] +[A-Z]")  # a full stop inside a line, then the next sentence
_KEY_POINT_CHARS = 200  # a summary list's lines are short
_REVISED = re.compile(r"^Last Revised:\s*(.+)$", re.I)
_LINKS_HEAD = {"hyperlinks"}
_REFS_HEAD = {"references"}


def clean_inline(text: str) -> str:
    """Strip markdown a reader should not see: links (keep their text), escapes, emphasis, footnote marks."""
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _ESCAPE.sub(r"\1", text)
    text = _BOLD.sub(r"\2", text)
    text = _ITALIC.sub(r"\1", text)
    text = _FOOTNOTE.sub("", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def is_heading(line: str) -> bool:
    """A standalone short line that does not read like a sentence: a section heading in plain text."""
    s = line.strip()
    if not s or s[0] in "-*+([<>|#" or s[-1] in ".,;:!":
        return False
    if len(s) > 90 or len(s.split()) > 12 or _SENTENCE_END.search(s):
        return False  # too long, or a sentence ran into the next line ("Antibiotics may be given. Drug therapy")
    return s[0].isupper() or s[0].isdigit()


@dataclass
class _Page:
    """Mutable builder for one Document while its file is parsed."""

    title: str
    url: str | None = None
    parts: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    heading: str = ""
    section_start: int = 0
    length: int = 0
    revised: str | None = None
    links: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    nav: list[str] = field(default_factory=list)
    mode: str = "body"  # body | links | refs | done

    def add_paragraph(self, text: str) -> None:
        if self.parts:
            self.length += 2  # the "\n\n" joining paragraphs
        self.parts.append(text)
        self.length += len(text)

    def open_section(self, heading: str) -> None:
        self.close_section()
        self.heading, self.section_start = heading, self.length + (2 if self.parts else 0)

    def close_section(self) -> None:
        if self.length > self.section_start:
            self.sections.append(Section(self._path(self.heading), self.section_start, self.length))

    def _path(self, heading: str) -> str:
        """Nest a heading under the page's own table of contents when the page has one."""
        if not heading or not self.nav or _in_nav(heading, self.nav):
            return heading
        parents = [n for n in self.nav if n.lower() in heading.lower()]
        if parents:
            return f"{parents[0]} › {heading}"
        tops = (s.heading.split(" › ")[0] for s in reversed(self.sections))
        current = next((t for t in tops if _in_nav(t, self.nav)), "")
        return f"{current} › {heading}" if current else heading

    def build(self, doc_id: str, source: str, publisher: str) -> Document:
        self.close_section()
        return Document(
            id=doc_id, title=self.title, text="\n\n".join(self.parts), sections=tuple(self.sections),
            revised=self.revised, url=self.url, source=source, publisher=publisher, links=tuple(self.links),
            references=tuple(self.references), nav=tuple(self.nav),
        )


def _in_nav(heading: str, nav: list[str]) -> bool:
    """True when the heading is one of the contents entries; tolerant of the source's typos (KTM2A/KMT2A)."""
    return any(difflib.SequenceMatcher(None, heading.lower(), n.lower()).ratio() >= 0.9 for n in nav)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _blocks(text: str) -> list[list[str]]:
    """Paragraph blocks: runs of non-blank lines."""
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _key_points(blocks: list[list[str]], titles: Container[str] = ()) -> set[int]:
    """Blocks of a summary list a page puts under a heading, before its text ("Key points" in NCI's pages): a run
    of three or more one-line blocks, some of them heading-like, whose first sentence the page repeats verbatim
    right after the run, where the text it summarises begins. Read as headings, its last line would title
    everything up to the next heading; a list that merely repeats (the same factors for prognosis and for
    treatment) or that follows a sentence is kept."""
    texts = [clean_inline(" ".join(b)) for b in blocks]
    one_line = [len(b) == 1 and len(t) <= _KEY_POINT_CHARS for b, t in zip(blocks, texts, strict=True)]
    first: dict[str, int] = {}
    points: set[int] = set()
    for i, t in enumerate(texts):
        if t in titles:
            first.clear()  # a new page
            continue
        j = first.get(t)
        if j is not None and i - j >= 3 and all(one_line[j:i]) and not points.intersection(range(j, i)) \
                and (j == 0 or is_heading(texts[j - 1]) or texts[j - 1] in titles) and texts[j].endswith(".") \
                and any(is_heading(texts[k]) for k in range(j, i)):
            points.update(range(j, i))
        if one_line[i]:
            first.setdefault(t, i)
    return points


def parse_text(text: str, source: str, meta: dict | None = None) -> list[Document]:
    """Split a plain-text or markdown file into pages and sections, cleaned for reading.

    Pages start at the titles listed in sources.json (or the file is one page); "Hyperlinks" and
    "References" blocks and "Last Revised" lines become metadata; navigation lists of in-page links
    and the manifest's boilerplate lines are dropped; cut-off sentences stay as the source has them.
    """
    meta = meta or {}
    titles = {p["title"]: p.get("url") for p in meta.get("pages", [])}
    drop = [re.compile(p) for p in meta.get("drop_lines", [])]
    markdown = source.endswith(".md")
    pages: list[_Page] = []
    page: _Page | None = None if titles else _Page(title="")

    blocks = _blocks(text.replace("\r\n", "\n").replace("\r", "\n"))
    summary = _key_points(blocks, titles)
    for n, block in enumerate(blocks):
        if n in summary:
            continue  # the page says each of these again where it explains it
        first = clean_inline(block[0])
        md = _MD_HEADING.match(block[0]) if markdown else None
        if titles and len(block) == 1 and first in titles:
            page = _Page(title=first, url=titles[first])
            pages.append(page)
            continue
        if page is None or page.mode == "done":
            continue  # boilerplate before the first page or after a page's "Last Revised" line
        if not pages:
            pages.append(page)
        revised = _REVISED.match(first)
        if revised:
            page.revised, page.mode = revised.group(1).strip(), "done"
            continue
        if len(block) == 1 and first.lower() in _LINKS_HEAD:
            page.mode = "links"
            continue
        if len(block) == 1 and first.lower() in _REFS_HEAD:
            page.mode = "refs"
            continue
        if page.mode == "links":
            urls = [re.sub(r"^\d+\.\s*", "", ln.strip()) for ln in block]
            if all("www." in u or "://" in u for u in urls):
                page.links.extend(urls)
                continue
            page.mode = "refs"  # the source cut the "References" heading
        if page.mode == "refs":
            page.references.append(clean_inline(" ".join(block)))
            continue
        lines = [ln for ln in block if not any(d.search(ln) for d in drop)]
        if not lines:
            continue
        if all(_NAV_ITEM.match(ln) for ln in lines):
            if not page.sections and not page.heading:  # links before the first heading: the page's contents
                page.nav.extend(t for t in (clean_inline(ln.lstrip(" -*+")) for ln in lines) if t not in titles)
            continue
        if md:
            title = clean_inline(md.group(2))
            if len(md.group(1)) == 1 and not page.title:
                page.title = title
            else:
                page.open_section(title)
            lines = lines[1:]
            if not lines:
                continue
        elif not markdown and len(lines) == 1 and is_heading(clean_inline(lines[0])):
            heading = clean_inline(lines[0])
            if not page.title:
                page.title = heading
            else:
                page.open_section(heading)
            continue
        cleaned = [clean_inline(ln) for ln in lines]
        cleaned = ["- " + c.lstrip("-*+ ").strip() if ln.lstrip()[:2] in ("- ", "* ", "+ ") else c
                   for ln, c in zip(lines, cleaned, strict=True)]
        paragraph = "\n".join(c for c in cleaned if c.strip("- "))
        if paragraph:
            page.add_paragraph(paragraph)

    stem = Path(source).stem.replace("_", " ").replace("-", " ").strip().capitalize()
    docs = []
    for p in pages:
        if not p.parts:
            continue
        p.title = p.title or stem
        doc_id = f"{source}#{slugify(p.title)}" if titles else source
        docs.append(p.build(doc_id, source, meta.get("publisher", "")))
    return docs


def _read_manifest(corpus_dir: Path) -> dict:
    path = corpus_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CorpusError(f"{path}: not valid JSON ({e}); fix or remove it") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected an object mapping file names to metadata")
    return data


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The files the corpus is built from, in a stable order."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; set QA_CORPUS_DIR or pass --corpus")
    return sorted(p for p in corpus_dir.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def load_corpus(corpus_dir: Path | str) -> list[Document]:
    """Parse every .txt/.md file under corpus_dir; unreadable files are skipped with a warning."""
    corpus_dir = Path(corpus_dir)
    manifest = _read_manifest(corpus_dir)
    docs: list[Document] = []
    for path in corpus_files(corpus_dir):
        rel = path.relative_to(corpus_dir).as_posix()
        try:
            raw = path.read_bytes()
            if b"\x00" in raw:
                raise ValueError("binary file")
            text = raw.decode("utf-8-sig")
        except (OSError, ValueError) as e:
            reason = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else str(e)
            log.warning("skipping corpus file %s: %s", rel, reason)
            continue
        meta = manifest.get(rel)
        if meta is not None and not isinstance(meta, dict):
            raise CorpusError(f"{corpus_dir / MANIFEST}: the entry for {rel} must be an object")
        parsed = parse_text(text, rel, meta)
        if not parsed:
            log.warning("skipping corpus file %s: no text to index", rel)
        docs.extend(parsed)
    if not docs:
        raise CorpusError(f"no readable .txt or .md pages in {corpus_dir}")
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise CorpusError(f"two pages share the id {dup[0]!r}; give them different titles")
    return docs


def _text_list(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CorpusError(f"{where}: expected a list of strings")
    return tuple(v.strip() for v in value if v.strip())


def load_collection(corpus_dir: Path | str, documents: list[Document]) -> Collection:
    """Who wrote the pages, their helplines and what they are about: corpus/sources.json's "collection" entry and
    each file's "publisher" and "helpline"; where it says nothing, worked out from the page titles. Nothing about
    any particular publisher or disease is written in the code."""
    manifest = _read_manifest(Path(corpus_dir))
    about = manifest.get("collection") or {}
    if not isinstance(about, dict):
        raise CorpusError(f"{Path(corpus_dir) / MANIFEST}: 'collection' must be an object")
    publishers = tuple(dict.fromkeys(d.publisher for d in documents if d.publisher))
    helplines: list[tuple[str, str]] = []
    for name, meta in manifest.items():
        if name.startswith("_") or name == "collection" or not isinstance(meta, dict) or "helpline" not in meta:
            continue
        line = meta["helpline"]
        if not (isinstance(line, dict) and isinstance(line.get("number"), str) and line["number"].strip()):
            raise CorpusError(f"{Path(corpus_dir) / MANIFEST}: {name}: 'helpline' must be "
                              '{"name": "...", "number": "..."}')
        entry = (str(line.get("name") or meta.get("publisher") or "helpline").strip(), line["number"].strip())
        if entry not in helplines:
            helplines.append(entry)
    titles = list(dict.fromkeys(d.title for d in documents))
    topic = str(about.get("topic") or (" and ".join(titles) if len(titles) <= 2 else
                                       f"the {len(titles)} pages listed below")).strip()
    where = f"{Path(corpus_dir) / MANIFEST}: collection"
    collection = Collection(title="", topic=topic, publishers=publishers, helplines=tuple(helplines),
                            examples=_text_list(about.get("examples"), f"{where}.examples"))
    title = str(about.get("title") or f"Questions about {collection.by}").strip()
    return replace(collection, title=title)


def corpus_fingerprint(corpus_dir: Path | str) -> str:
    """sha256 over the names and bytes of every corpus file and the manifest: changes when anything does."""
    corpus_dir = Path(corpus_dir)
    h = hashlib.sha256()
    paths = corpus_files(corpus_dir)
    if (corpus_dir / MANIFEST).exists():
        paths.append(corpus_dir / MANIFEST)
    for path in paths:
        h.update(path.relative_to(corpus_dir).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()
