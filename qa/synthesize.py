"""Training questions made from the corpus itself: no generative model, no hand-written questions needed.

The query encoder, the reranker and the scope model are fitted on questions that point at known passages. A
maintainer who adds pages will not write thousands of them, and none may be borrowed from another corpus, so
`qa build` makes them from the pages in hand, using what every page has:

- headings and page titles ("Side effects of chemo" -> "what are the side effects of chemo?");
- definitions and labels ("Lymph: Colorless, watery fluid..." -> "what is lymph?", "X is a ..." -> "what is X");
- lead-ins to lists ("Possible side effects include:" -> "what are the possible side effects?");
- the sentences themselves, cut to a few of their rarest words and given a question stem (the inverse cloze
  task of Lee et al. 2019: a passage must be found from part of its own text, not from the whole of it);
- the corpus's own aliases ("imatinib (Gleevec)") and a general lay vocabulary read backwards ("chemotherapy"
  -> "chemo"), so questions use the words patients type;
- typos, and follow-ups whose subject moved into an earlier turn ("what is X?" then "how is it given?").

Each question keeps the sentence it came from as its gold span, so it maps to index rows exactly. Everything is
seeded: the same corpus gives the same questions. The number made is capped (`limit`), which bounds training
time whatever the corpus size; a larger corpus gets a sample spread evenly over its sections.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from qa.lexical import STOPWORDS, words
from qa.types import Chunk, GoldQuestion

_WH = re.compile(r"^(what|how|why|when|which|who|where|is|are|can|could|does|do|should|will)\b", re.I)
_DEFINITION = re.compile(
    r"^(?:An?\s+|The\s+)?(?P<term>[A-Za-z][\w\-+ ()/]{2,60}?)\s+(?P<verb>is|are|was|were|means|refers to)\s+"
    r"(?:an?|the|one|called|also|used|when|any|not)\b", re.I)
_LABEL = re.compile(r"^(?:- )?(?P<term>[A-Z][\w\-+ ()/,]{2,60}?)\s?:\s+(?P<rest>\S.*)")
_LEAD_IN = re.compile(r"^(?P<subject>.{6,140}?)\s+(?:include|includes|including|are|is|may be|can be|may include|"
                      r"can include|might include|are used|are the following|is one of the following)"
                      r"(?:\s+(?:the\s+)?following)?\s*:\s*$", re.I)
_SUBJECT = (r"(?P<subject>(?:(?!(?:can|may|might|could|is|are|will|often|also)\b)[A-Za-z][\w\-+()]*\s+){0,5}"
            r"[A-Za-z][\w\-+()]*)")
_USED = re.compile(r"^" + _SUBJECT + r"\s+(?:is|are|can be|may be|might be)"
                   r"\s+(?:(?:often|sometimes|usually|typically|most often|also|rarely|then)\s+)?"
                   r"(?P<verb>used|given|done|needed|recommended|treated|placed|removed|taken|injected|checked)\b",
                   re.I)
_CAUSE = re.compile(r"^" + _SUBJECT + r"\s+(?:can|may|might|could|often|"
                    r"sometimes|also)?\s*(?:cause|causes|lead to|leads to|increase|increases|lower|lowers|damage|"
                    r"damages|affect|affects|help|helps)\s+(?P<object>.+)", re.I)
_DURATION = re.compile(r"\b(\d+|a few|several|many|one|two|three|four|six)\s+(minutes?|hours?|days?|weeks?|months?|"
                       r"years?)\b", re.I)
_PRONOUNS = ("it", "they", "this")
_STEMS = ("what about", "tell me about", "info on", "", "", "", "", "why", "how", "can", "is", "what")
_LEADING_PRONOUN = re.compile(r"^(it|they|this|these|those|that|he|she|its|their)\b", re.I)
_KEYBOARD = "qwertyuiopasdfghjklzxcvbnm"
# Share of the keyword questions kept: they are the least like a patient's, and with all of them the tuned encoder
# matched no better than the bundled one; a fifth, beside every template question, helped most on the three
# development corpora's dev questions (eval/experiments.md, round 8)
KEYWORD_SHARE = 0.2
VERSION = 2  # bump when the questions made change (the learned models' key records it)
# what patients put around a question, in any disease: the encoder learns to look past it, and the scope model
# sees answerable questions that carry words no page has
_FRAME_BEFORE = ("my doctor said", "i was just diagnosed and", "my mom has this and", "quick question,",
                 "im scared,", "is it true that", "can you explain", "my husband is in treatment,", "worried about",
                 "our son was told", "the nurse mentioned", "please help,", "i read online that", "so confused,")
_FRAME_AFTER = ("is that normal?", "should i be worried?", "what does that mean?", "for my dad", "thanks",
                "in simple words please", "im really scared", "what should we expect?", "is that bad")


@dataclass(frozen=True, slots=True)
class _Sentence:
    """One distinct sentence of the corpus: the chunk it was read from and its place there. Its text is cut when
    asked for, so 100,000 passages' ~460,000 sentences are not all copied (that took ~190 MB)."""

    chunk: Chunk
    n: int  # which of chunk.sentences

    @property
    def text(self) -> str:
        start, end = self.chunk.sentences[self.n]
        return self.chunk.text[start:end]

    @property
    def doc_id(self) -> str:
        return self.chunk.doc_id

    @property
    def page(self) -> str:
        return self.chunk.page

    @property
    def section(self) -> str:
        return self.chunk.section


def corpus_sentences(chunks: list[Chunk]) -> list[_Sentence]:
    """Every sentence once (overlapping chunks repeat some), in corpus order."""
    seen: dict[str, set[int]] = {}  # by document: absolute offsets in Document.text, the same across chunks
    out: list[_Sentence] = []
    for c in chunks:
        starts = seen.setdefault(c.doc_id, set())
        for n, (s, _) in enumerate(c.sentences):
            if c.start + s not in starts:
                starts.add(c.start + s)
                out.append(_Sentence(c, n))
    return out


def document_frequency(chunks: list[Chunk]) -> Counter[str]:
    """In how many passages each word appears (its rarity decides which words a short question keeps)."""
    df: Counter[str] = Counter()
    for c in chunks:
        df.update(set(words(c.text)))
    return df


def lay_rewrites(lay_terms: dict[str, list[str]]) -> dict[str, str]:
    """The lay vocabulary read backwards (medical phrase -> the first lay phrase that names it), for questions
    written the way patients type. Only single clean targets are reversed: "chemotherapy" -> "chemo"."""
    out: dict[str, str] = {}
    for lay, targets in lay_terms.items():
        for target in targets:
            t = target.lower()
            if t != lay and len(t) > 3 and t not in out and " or " not in t:
                out[t] = lay
    return out


def _typo(word: str, rng: random.Random) -> str:
    """One realistic slip: a dropped, doubled, swapped or substituted letter."""
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    if kind == 2:
        return word[:i - 1] + word[i] + word[i - 1] + word[i + 1:]
    return word[:i] + rng.choice(_KEYBOARD) + word[i + 1:]


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" -:;,.")
    return text


def _heading_topic(heading: str) -> str:
    """The last part of a nested heading, without trailing punctuation or parenthesised asides."""
    topic = re.sub(r"\s*\([^)]*\)", "", heading.split(" › ")[-1])
    return _clean(topic).rstrip("?")


class _Maker:
    """Holds the corpus statistics and the random generator while questions are made."""

    def __init__(self, chunks: list[Chunk], aliases: dict[str, set[str]], lay_terms: dict[str, list[str]],
                 seed: int) -> None:
        self.rng = random.Random(seed)
        self.df = document_frequency(chunks)
        self.n = max(len(chunks), 1)
        self.aliases = {k: sorted(v) for k, v in aliases.items()}
        self.lay = lay_rewrites(lay_terms)
        # compiled once: every made question is tried against every phrase
        self._lay_patterns = [(re.compile(rf"\b{re.escape(p)}\b"), lay) for p, lay in self.lay.items()]
        self._alias_patterns = [(re.compile(rf"(?<![\w-]){re.escape(t)}(?![\w-])"), others)
                                for t, others in self.aliases.items()]

    def idf(self, word: str) -> float:
        return math.log((self.n + 1) / (self.df.get(word, 0) + 1)) + 1.0

    def keywords(self, text: str, keep: int) -> list[str]:
        """The `keep` rarest content words of text, in their original order."""
        tokens = [w for w in re.findall(r"[A-Za-z0-9][\w\-+]*", text) if w.lower() not in STOPWORDS]
        if len(tokens) <= keep:
            return tokens
        ranked = sorted(range(len(tokens)), key=lambda i: (-self.idf(tokens[i].lower()), i))[:keep]
        return [tokens[i] for i in sorted(ranked)]

    def patient_words(self, query: str) -> str:
        """Swap medical words for the lay words or other names patients use (each swap with some chance)."""
        low = query.lower()
        for pattern, lay in self._lay_patterns:
            if pattern.search(low) and self.rng.random() < 0.6:
                low = pattern.sub(lay, low)
        for pattern, others in self._alias_patterns:
            if pattern.search(low) and self.rng.random() < 0.5:
                low = pattern.sub(self.rng.choice(others), low)
        return low

    def noisy(self, query: str) -> str:
        """Lower case, sometimes no question mark, a typo in a long word, words patients put around a question."""
        q = query.lower() if self.rng.random() < 0.7 else query
        frame = self.rng.random()
        if frame < 0.15:
            q = f"{self.rng.choice(_FRAME_BEFORE)} {q}"
        elif frame < 0.3:
            q = f"{q.rstrip('?')}? {self.rng.choice(_FRAME_AFTER)}"
        if self.rng.random() < 0.4:
            q = q.rstrip("?")
        long_words = [w for w in re.findall(r"[a-z]{6,}", q)]
        if long_words and self.rng.random() < 0.2:
            w = self.rng.choice(long_words)
            q = q.replace(w, _typo(w, self.rng), 1)
        return q


def _questions_for(s: _Sentence, m: _Maker, variants: int) -> list[tuple[str, str]]:
    """(question, kind) pairs that the sentence answers: its template questions and `variants` keyword ones."""
    text = s.text.lstrip("- ").strip()
    out: list[tuple[str, str]] = []
    label = _LABEL.match(text)
    if label and len(label.group("term").split()) <= 7:
        term = _clean(label.group("term"))
        out.append((m.rng.choice([f"what is {term}?", f"what does {term} mean?", f"{term}?",
                                  f"tell me about {term}"]), "label"))
    definition = _DEFINITION.match(text)
    if definition and len(definition.group("term").split()) <= 6:
        term = _clean(definition.group("term"))
        verb = "are" if definition.group("verb").lower() in ("are", "were") else "is"
        out.append((m.rng.choice([f"what {verb} {term}?", f"what does {term} mean?", f"define {term}"]),
                    "definition"))
    lead = _LEAD_IN.match(text)
    if lead:
        subject = _clean(lead.group("subject"))
        if not _WH.match(subject):
            out.append((m.rng.choice([f"what are the {subject}?", f"{subject}?", f"list of {subject}"])
                        if len(subject.split()) <= 8 else " ".join(m.keywords(subject, 5)) + "?", "lead-in"))
    used = _USED.match(text)
    if used and not out:
        subject, verb = _clean(used.group("subject")), used.group("verb").lower()
        stem = {"used": "why is", "given": "how is", "done": "how is", "needed": "when is",
                "recommended": "when is", "taken": "how is"}.get(verb, "why is")
        out.append((f"{stem} {subject} {verb}?", "use"))
    cause = _CAUSE.match(text)
    if cause and not out and len(cause.group("subject").split()) <= 5:
        obj = " ".join(m.keywords(cause.group("object"), 3))
        if obj:
            out.append((f"can {_clean(cause.group('subject'))} cause {obj}?", "effect"))
    if _DURATION.search(text) and s.section:
        out.append((f"how long does {_heading_topic(s.section).lower()} last?", "duration"))
    # the inverse cloze task: part of the sentence, a few of its rarer words, with a question stem; a sentence
    # that opens with a pronoun gets its section's subject, as a patient would name it
    topic = _heading_topic(s.section or s.page)
    for _ in range(variants):
        keep = m.rng.choice((2, 3, 3, 4, 4, 5, 6))
        pool = m.keywords(text, keep + 2)
        keys = sorted(m.rng.sample(range(len(pool)), min(keep, len(pool))))
        picked = [pool[i] for i in keys]
        if _LEADING_PRONOUN.match(text) or m.rng.random() < 0.25:
            picked = m.keywords(topic, 3) + picked
        if len(picked) >= 2:
            stem = m.rng.choice(_STEMS)
            out.append(((f"{stem} " if stem else "") + " ".join(picked), "keywords"))
    return out


def _heading_questions(chunks: list[Chunk], m: _Maker) -> list[tuple[str, str, str, str]]:
    """(question, span, doc_id, kind) for page titles and section headings: answered by the section's opening."""
    out: list[tuple[str, str, str, str]] = []
    opening: dict[tuple[str, str], Chunk] = {}
    for c in chunks:
        opening.setdefault((c.doc_id, c.section), c)
    for (doc_id, section), c in opening.items():
        if not c.sentences:
            continue
        s, e = c.sentences[0]
        span = c.text[s:e]
        if span.rstrip().endswith(":") and len(c.sentences) > 1:  # a lead-in: its list comes next
            s, e = c.sentences[1]
            span = c.text[s:e]
        topic = _heading_topic(section) if section else _clean(c.page)
        if not topic or len(topic.split()) > 14:
            continue
        if section.rstrip().endswith("?") or _WH.match(topic):
            q = topic + "?"
        else:
            q = m.rng.choice([f"what about {topic}?", f"{topic}", f"tell me about {topic}",
                              f"what should I know about {topic}?", f"{topic} info"])
        out.append((q, span, doc_id, "heading"))
    return out


# How patients ask about one aspect of a subject; {t} is the subject. Treatments and conditions are asked about
# differently ("how is it given?" vs "what are the symptoms?"), so each intent says which kind it suits.
INTENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "side effects": ("treatment", ("what are the side effects of {t}?", "does {t} have side effects",
                                   "what problems can {t} cause?", "is {t} hard on the body")),
    "purpose": ("treatment", ("what is {t} for?", "why is {t} used?", "why would they do {t}", "what does {t} do?")),
    "how given": ("treatment", ("how is {t} given?", "how do they do {t}?", "what happens during {t}?")),
    "how long": ("treatment", ("how long does {t} take?", "how long does {t} last?", "how often is {t} given?")),
    "who gets": ("treatment", ("who gets {t}?", "who should have {t}?", "is {t} right for everyone?")),
    "symptoms": ("condition", ("what are the symptoms of {t}?", "what signs of {t} should i look for",
                               "how do i know if i have {t}")),
    "tests": ("condition", ("what tests are done for {t}?", "how do they check for {t}?", "how is {t} diagnosed?")),
    "outlook": ("any", ("what is the outlook for {t}?", "can {t} be cured?", "what are the chances with {t}?")),
    "risk": ("condition", ("who is at risk of {t}?", "what causes {t}?", "what raises the risk of {t}?")),
    "stages": ("condition", ("what are the stages of {t}?", "how do they tell how far {t} has spread?")),
    "treatment": ("condition", ("how is {t} treated?", "what are the treatment options for {t}?",
                                "what treatments are there for {t}")),
}
# the words of a sentence that carry an intent, and the words of a heading that name one (an "aspect" heading:
# its subject is the page's)
_CUES = {
    "side effects": re.compile(r"\b(side effects?|can cause|may cause|might cause|can lead to|damage|toxicit\w+|"
                               r"complications?)\b", re.I),
    "purpose": re.compile(r"\b(used to|is used|are used|used for|given to|goal|aim|purpose|in order to)\b", re.I),
    "how given": re.compile(r"\b(injected|infused|taken by mouth|into a vein|intravenous\w*|is done|are done|"
                            r"is given|are given|placed|inserted)\b", re.I),
    "how long": _DURATION,
    "who gets": re.compile(r"\b(people|patients|adults|children|those|anyone) (who|with|whose)\b|\bcandidates?\b",
                           re.I),
    "outlook": re.compile(r"\b(prognosis|chance of recovery|cured?|remission|survival|outlook)\b", re.I),
}
_ASPECTS = {
    "symptoms": re.compile(r"\b(signs?|symptoms?)\b", re.I),
    "tests": re.compile(r"\b(diagnos\w*|tests?)\b", re.I),
    "outlook": re.compile(r"\b(prognosis|outlook|recovery|survival)\b", re.I),
    "risk": re.compile(r"\b(risk factors?|causes?|risks?)\b", re.I),
    "stages": re.compile(r"\b(stages?|staging)\b", re.I),
    "side effects": re.compile(r"\bside effects?\b", re.I),
    "treatment": re.compile(r"\b(treatment options?|treating|types of treatment)\b", re.I),
}
_TREATMENT = re.compile(r"\b(therap\w*|treatments?|chemo\w*|surgery|transplants?|radiation|drugs?|medicines?|"
                        r"immunotherapy|antibod\w+|care|trials?|transfusions?|catheters?|\w+(mab|nib|cel))\b", re.I)
_GENERIC_HEADING = frozenset("""what it is are side effects effect possible more information about other types how
    given risks risk benefits overview introduction treatment treatments options option general key points the of
    and for to in with during after before this these that your you a an diagnosis tests test signs symptoms
    prognosis recovery stages stage staging factors clinical trials""".split())


def page_subject(title: str) -> str:
    """The subject of a page from its title: "Chemotherapy for Acute Lymphocytic Leukemia (ALL)" -> "chemotherapy",
    "Adult Hodgkin Lymphoma Treatment (PDQ) - Patient Version" -> "adult hodgkin lymphoma"."""
    core = re.sub(r"\s*\([^)]*\)", "", title.split(" - ")[0])
    core = re.split(r"\s+(?:for|of|in)\s+", core, maxsplit=1)[0]
    core = re.sub(r"\s+(treatment|treatments|drugs)$", "", core.strip(), flags=re.I)
    return core.lower().strip()


def section_subject(page: str, section: str) -> tuple[str, str | None]:
    """(subject, aspect): the most specific heading of the section path that names something, else the page's
    subject with the aspect the heading names ("Signs and symptoms" on a lymphoma page -> the lymphoma, symptoms)."""
    parts = [p for p in section.split(" › ") if p]
    aspect = next((a for a, pattern in _ASPECTS.items() for p in parts[-1:] if pattern.search(p)), None)
    for part in reversed(parts):
        topic = _heading_topic(part)
        content = [w for w in re.findall(r"[a-z0-9-]+", topic.lower()) if w not in _GENERIC_HEADING]
        if content and len(topic.split()) <= 7 and not _WH.match(topic):
            return topic.lower(), aspect
    return page_subject(page), aspect


def _intent_questions(sentences: list[_Sentence], m: _Maker) -> list[tuple[str, tuple[str, ...], str, str]]:
    """(question, spans, doc_id, kind): per section, what a patient would ask about its subject. An aspect
    heading's question ("what are the symptoms of X?") is answered by the section's opening sentences; otherwise
    each intent's question is answered by the section's sentences that carry its words."""
    sections: dict[tuple[str, str], list[_Sentence]] = {}
    for s in sentences:
        sections.setdefault((s.doc_id, s.section), []).append(s)
    out = []
    for (doc_id, section), members in sections.items():
        subject, aspect = section_subject(members[0].page, section)
        if not subject:
            continue
        kind_of_subject = "treatment" if _TREATMENT.search(subject) else "condition"
        groups: dict[str, list[str]] = {}
        if aspect:
            groups[aspect] = [s.text for s in members[:4]]
        for intent, cue in _CUES.items():
            if INTENTS[intent][0] in (kind_of_subject, "any"):
                found = [s.text for s in members if cue.search(s.text)]
                if found:
                    groups.setdefault(intent, found)
        for intent, spans in groups.items():
            templates = INTENTS[intent][1]
            for template in m.rng.sample(templates, min(2, len(templates))):
                out.append((template.format(t=subject), tuple(spans[:8]), doc_id, f"intent:{intent}"))
    return out


def _follow_up(question: str, m: _Maker) -> tuple[str, list[str]] | None:
    """Move a named subject into an earlier turn: ("how is it given?", ["what is imatinib?"])."""
    names = [t for t in m.aliases if re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", question.lower())]
    if not names:
        return None
    name = max(names, key=len)
    pronoun = m.rng.choice(_PRONOUNS)
    rest = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w-])", pronoun, question.lower(), count=1)
    if len(words(rest)) < 1:
        return None
    return rest, [m.rng.choice([f"what is {name}?", f"tell me about {name}", f"{name}?"])]


def synthesize(chunks: list[Chunk], aliases: dict[str, set[str]] | None = None,
               lay_terms: dict[str, list[str]] | None = None, limit: int = 4000, seed: int = 0,
               keyword_share: float = KEYWORD_SHARE) -> list[GoldQuestion]:
    """Training questions for the corpus: at most `limit`, seeded, each with the sentences that answer it."""
    m = _Maker(chunks, aliases or {}, lay_terms or {}, seed)
    rows: list[tuple[str, list[str], tuple[str, ...], str, str]] = []  # question, history, spans, doc_id, kind
    for q, span, doc_id, kind in _heading_questions(chunks, m):
        rows.append((q, [], (span,), doc_id, kind))
    sentences = corpus_sentences(chunks)
    for q, spans, doc_id, kind in _intent_questions(sentences, m):
        rows.append((q, [], spans, doc_id, kind))
    # spread the budget evenly: about limit / sentences questions each (at least one, at most 12); a corpus larger
    # than the budget is sampled at the end, so every section keeps its share
    per_sentence = max(1, min(12, round(limit * 1.15 / max(len(sentences), 1))))
    if len(sentences) > 2 * limit:  # a large corpus: questions from a seeded sample, in corpus order (bounded time)
        sentences = [sentences[i] for i in sorted(m.rng.sample(range(len(sentences)), 2 * limit))]
    for s in sentences:
        if len(words(s.text)) < 3:
            continue
        made = _questions_for(s, m, variants=max(1, per_sentence - 1))
        m.rng.shuffle(made)
        for q, kind in made[:per_sentence]:
            rows.append((q, [], (s.text,), s.doc_id, kind))
    if len(rows) > 3 * limit:  # a large corpus has questions for every section; `limit` are kept at the end, so
        # only a seeded sample is worded (wording all took minutes at 100,000 passages)
        rows = [rows[i] for i in sorted(m.rng.sample(range(len(rows)), 3 * limit))]
    out: list[GoldQuestion] = []
    seen: set[str] = set()
    for n, (q, history, spans, doc_id, kind) in enumerate(rows):
        if m.rng.random() < 0.12:
            follow = _follow_up(q, m)
            if follow:
                q, history = follow
                kind = "followup"
        if kind != "followup":
            q = m.noisy(m.patient_words(q))
        q = re.sub(r"\s+", " ", q).strip()
        key = q.lower() + "|" + spans[0]
        if len(words(q)) < 1 or key in seen:
            continue
        seen.add(key)
        out.append(GoldQuestion(id=f"synth-{n}", question=q, history=tuple(history), gold_spans=spans,
                                answerable=True, page=doc_id, kind=kind, split="synthetic"))
    if keyword_share < 1.0:
        keyword = [q for q in out if q.kind == "keywords"]
        keep = set(id(q) for q in m.rng.sample(keyword, int(len(keyword) * keyword_share)))
        out = [q for q in out if q.kind != "keywords" or id(q) in keep]
    if len(out) > limit:
        out = sorted(m.rng.sample(out, limit), key=lambda g: int(g.id.split("-")[1]))
    return out


def kinds(questions: Iterable[GoldQuestion]) -> dict[str, int]:
    """How many questions of each kind were made (recorded in the index manifest)."""
    return dict(sorted(Counter(q.kind for q in questions).items()))


def example_questions(chunks: list[Chunk], n: int = 5, min_sentences: int = 3) -> tuple[str, ...]:
    """Questions the chat can offer to start with, from the pages' headings: headings that are questions first,
    then "Tell me about <heading>" for sections of some length, one page at a time so every page gets a turn."""
    sentences: Counter[tuple[str, str]] = Counter()
    for c in chunks:
        sentences[(c.page, c.section)] += len(c.sentences)
    if min_sentences > 1 and not any(count >= min_sentences for count in sentences.values()):
        return example_questions(chunks, n, 1)  # pages of short sections: any heading will do
    per_page: dict[str, list[str]] = {}
    seen: set[str] = set()
    for (page, section), count in sentences.items():
        topic = _heading_topic(section) if section else ""
        if not topic or topic.lower() in seen or not 1 <= len(topic.split()) <= 8 or count < min_sentences:
            continue
        seen.add(topic.lower())
        if section.rstrip().endswith("?"):
            per_page.setdefault(page, []).insert(0, topic + "?")
        elif not _WH.match(topic):
            # "Stem Cell Transplant" -> "stem cell transplant"; acronyms ("CAR", "HLA") keep their capitals
            lowered = " ".join(w if sum(ch.isupper() for ch in w) > 1 else w.lower() for w in topic.split())
            per_page.setdefault(page, []).append(f"Tell me about {lowered}")
    out: list[str] = []
    queues = list(per_page.values())
    while len(out) < n and any(queues):
        for queue in queues:
            if queue and len(out) < n:
                out.append(queue.pop(0))
    return tuple(out)
