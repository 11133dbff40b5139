"""Question preparation: input cleaning, language check, follow-ups, typo correction, the corpus's aliases and a
general lay vocabulary, turned into the SearchQuery the retriever takes."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources

from qa.config import Search
from qa.conversation import TOPICS, contextualize, specific_terms
from qa.lexical import DRUG_LIKE, STOPWORDS, words
from qa.types import Chunk, SearchQuery

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

# "X (Y)" where Y is a brand name, short form or lay word: "imatinib (Gleevec)", "lumbar puncture (spinal tap)".
# The look-behind changes no match (a start after a letter could always start one letter earlier) but lets the
# search skip the inside of words: 4x faster over 100,000 passages
_PAREN = re.compile(r"(?<![A-Za-z])((?:[A-Za-z][\w+-]*\s+){0,3}[A-Za-z][\w+-]*)\s+\(([^()]{2,60})\)")
_NOT_ALIAS = re.compile(r"^(from|such|see|or|and|with|due|under|especially|typically|including|similar|for|if|"
                        r"which|as|the|a|an|in|on|to|this|that|these|blockage|complete|note)\b", re.I)


def mine_aliases(texts: list[str]) -> dict[str, set[str]]:
    """Pairs the corpus itself defines with "term (other name)", both directions, lower-cased."""
    pairs: set[tuple[str, str]] = set()
    for text in texts:
        if "(" not in text:  # nothing to find
            continue
        for m in _PAREN.finditer(text):
            left_words, inner = m.group(1).split(), m.group(2)
            names = re.split(r",\s*also known as\s+", inner)
            if any("," in n for n in names):
                continue  # a list in parentheses, not another name
            for name in names:
                name = name.strip()
                if not name or _NOT_ALIAS.match(name) or len(name.split()) > 3 or re.fullmatch(r"[\d\s.,%-]+", name):
                    continue
                core = name.rstrip("s") if name.isupper() or name[:-1].isupper() else name
                if core.isupper() and len(core) >= 2:  # acronym: take as many words as it has letters
                    left = left_words[-len(core):] if len(left_words) >= len(core) else left_words
                    if [w[0].upper() for w in left] != list(core[: len(left)]):
                        continue
                else:
                    left = left_words[-len(name.split()):]
                term = " ".join(left).lower()
                alias = name.lower()
                if term == alias or term in STOPWORDS or len(term) < 3:
                    continue
                if alias in STOPWORDS:
                    continue
                pairs.add((term, alias))
    # Keep only specific names: a pair whose side appears in many passages ("first (induction)",
    # "put back (reinfused)") would drag common words into every query.
    limit = max(3, len(texts) // 10)
    df = _document_frequency({w for pair in pairs for w in pair}, texts, limit)
    aliases: dict[str, set[str]] = {}
    for term, alias in sorted(pairs):
        if df[term] <= limit and df[alias] <= limit:
            aliases.setdefault(alias, set()).add(term)
            aliases.setdefault(term, set()).add(alias)
    return aliases


_TOKEN = re.compile(r"\w+")


def _document_frequency(phrases: set[str], texts: list[str], limit: int) -> dict[str, int]:
    """In how many texts each phrase stands as whole words, counted up to limit + 1 (all the caller asks).

    A whole-word match holds every word of the phrase as a whole word of the text, so only the texts holding
    its rarest word are searched: counting every phrase in every passage took minutes at 20,000 passages."""
    postings: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        for token in set(_TOKEN.findall(text.lower())):
            postings.setdefault(token, []).append(i)
    df: dict[str, int] = {}
    for phrase in phrases:
        tokens = _TOKEN.findall(phrase)
        if not tokens:  # no word to look up ("+"): search every text
            df[phrase] = sum(_contains(t.lower(), phrase) for t in texts)
            continue
        rarest = min(tokens, key=lambda t: len(postings.get(t, ())))
        count = 0
        for i in postings.get(rarest, ()):
            count += _contains(texts[i].lower(), phrase)
            if count > limit:
                break
        df[phrase] = count
    return df


def load_lay_terms() -> dict[str, list[str]]:
    """The general lay vocabulary (qa/data/lay_terms.json): what patients type -> what medical pages say."""
    raw = json.loads(resources.files("qa").joinpath("data/lay_terms.json").read_text(encoding="utf-8"))
    return {k.lower(): v for k, v in raw.items() if not k.startswith("_")}


def _contains(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w+]){re.escape(phrase)}(?![\w+])", text) is not None


@dataclass
class QueryExpander:
    """Adds the corpus's own names for what the patient typed; the patient's words are kept."""

    aliases: dict[str, set[str]]
    lay_terms: dict[str, list[str]]
    vocabulary: set[str]  # lower-case words of the corpus
    known_words: frozenset[str] = field(default_factory=frozenset)  # ordinary English: never "corrected"
    frequency: dict[str, int] = field(default_factory=dict)  # corpus word counts: a tie goes to the commoner word
    bigrams: frozenset[tuple[str, str]] = frozenset()  # adjacent corpus words: a tie goes to the one that fits

    @classmethod
    def from_chunks(cls, chunks: list[Chunk], known_words: frozenset[str] = frozenset()) -> QueryExpander:
        texts = [c.text for c in chunks] + sorted({c.context for c in chunks})
        aliases = mine_aliases(texts)
        # a lay word is worth adding only when the pages use what it stands for
        corpus_text = " " + " ".join(t.lower() for t in texts) + " "
        lay = {k: kept for k, v in load_lay_terms().items()
               if (kept := [t for t in v if all(_contains(corpus_text, w.lower()) for w in t.split())])}
        del corpus_text
        # one text's words at a time, each word kept once (interned): the words of 100,000 passages held as lists
        # took 270 MB at once and pushed that build past 2 GB
        frequency: Counter[str] = Counter()
        pairs: set[tuple[str, str]] = set()
        for text in texts:
            ws = [sys.intern(w) for w in words(text)]
            frequency.update(ws)
            pairs.update(zip(ws, ws[1:], strict=False))
        vocabulary = set(frequency) | {w for phrase in list(aliases) + list(lay) for w in words(phrase)}
        return cls(aliases, lay, vocabulary, known_words, dict(frequency), frozenset(pairs))

    def correct(self, text: str) -> str:
        """Replace words that are neither in the corpus nor ordinary English with the closest corpus word."""
        out = text
        context = words(text)
        for word in dict.fromkeys(re.findall(r"(?<![\w'-])[A-Za-z]{5,}(?![\w'-])", text)):
            low = word.lower()
            if low in self.vocabulary or low in self.known_words or low in STOPWORDS:
                continue
            match = self._closest(low, context)
            if match and abs(len(match) - len(low)) <= 3:
                out = re.sub(rf"\b{re.escape(word)}\b", match, out)
        return out

    def _closest(self, low: str, context: list[str]) -> str | None:
        """The most similar corpus word. Equally similar ones ("relase": release, relapse) are told apart by the
        neighbouring words ("cytokine relase" -> release), then by corpus frequency, then alphabetically, so the
        answer never depends on set order (which changes with every process's hash seed)."""
        from rapidfuzz import fuzz, process
        from rapidfuzz.distance import OSA

        found = process.extract(low, self.vocabulary, scorer=fuzz.ratio, score_cutoff=80, limit=None)
        if not found:
            return None
        top = max(score for _, score, _ in found)
        neighbours = [(context[i - 1] if i else None, context[i + 1] if i + 1 < len(context) else None)
                      for i, w in enumerate(context) if w == low]

        def fits(candidate: str) -> int:
            return sum((before, candidate) in self.bigrams or (candidate, after) in self.bigrams
                       for before, after in neighbours)

        tied = [c for c, score, _ in found if score == top]
        best = min(tied, key=lambda c: (-fits(c), -self.frequency.get(c, 0), c))
        if DRUG_LIKE.search(low) and OSA.distance(low, best) > 2:
            return None  # drug names share endings: "brentuximab" is 80% like "rituximab" but another drug
        return best

    def unknown_names(self, text: str) -> list[str]:
        """Words that are not in the corpus, not ordinary English and not a typo of a corpus word:
        usually a drug or disease the pages never mention ("Kymriah"). Accents are dropped first, so a name
        spelled with one ("Waldenström") is read whole."""
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
        out = []
        for m in re.finditer(r"(?<![\w'-])[A-Za-z][A-Za-z-]{3,}(?![\w'])", text):
            word, low = m.group(0), m.group(0).lower()
            sentence_start = not text[: m.start()].strip() or text[: m.start()].rstrip()[-1] in ".?!"
            named = word[0].isupper() and not sentence_start
            if not (named or DRUG_LIKE.search(low)):
                continue  # ordinary words (plurals, slang, typos) are not evidence of an unknown topic
            parts = [p for p in low.split("-") if p]
            if all(p in self.vocabulary or p in self.known_words or p in STOPWORDS for p in parts):
                continue
            if any(_contains(" " + low + " ", k) for k in self.lay_terms):
                continue
            if self._closest(low, []):
                continue  # a typo of a corpus word
            out.append(word)
        return out

    def expand(self, query: str) -> str:
        """The query with typos corrected and the corpus's aliases and lay synonyms appended."""
        corrected = self.correct(query)
        low = " " + corrected.lower() + " "
        extra: list[str] = []
        for table in (self.lay_terms, self.aliases):
            for phrase, targets in table.items():
                if _contains(low, phrase):
                    extra.extend(t for t in sorted(targets) if not _contains(low, t.lower()) and t not in extra)
        return corrected if not extra else f"{corrected} ({'; '.join(extra)})"


class Preparer:
    """Turns a chat message and its earlier questions into the SearchQuery the retriever takes (pure once built)."""

    def __init__(self, expander: QueryExpander, max_chars: int, use_history: bool = True, expand: bool = True,
                 dense_plain: bool = False) -> None:
        self.expander = expander
        self.max_chars = max_chars
        self.use_history = use_history
        self.expand = expand
        self.dense_plain = dense_plain
        # what a question can be about on its own: treatments, and the corpus's named drugs and procedures
        self.topics = TOPICS | frozenset(t for t in expander.aliases if len(t) > 3)
        self.specific = specific_terms(expander.frequency, expander.known_words)

    @classmethod
    def from_settings(cls, expander: QueryExpander, search: Search) -> Preparer:
        return cls(expander, search.max_question_chars, search.use_history, search.expand_query,
                   search.dense_plain_query)

    def prepare(self, question: str, history: list[str] | tuple[str, ...] | None = None) -> SearchQuery:
        """question is already cleaned (clean_question); history holds the chat's earlier questions, oldest first."""
        past = [clean_question(h, self.max_chars)[0] for h in (history or [])]
        topic = (contextualize(question, past, self.topics, self.specific, self.expander.correct)
                 if self.use_history else question)
        if not self.expand:
            return SearchQuery(question, topic, topic, topic, topic)
        core = self.expander.correct(topic)
        text = self.expander.expand(topic)
        return SearchQuery(question, topic, text, topic if self.dense_plain else text, core)
