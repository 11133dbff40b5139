"""Follow-up questions: decide whether earlier turns should shape the search query (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping

from qa.lexical import words

_TOKEN = re.compile(r"[a-z0-9+]+")
_PRONOUN = re.compile(r"\b(it|its|it's|that|this|these|those|they|them|their|he|she|his|her|one|ones|same)\b", re.I)
# openings of a short question that lean on the chat: an ellipsis that carries the previous intent over ("and
# vincristine?", "what about immunotherapy?") or a pronoun ("can it come back?")
_LEAD = re.compile(
    r"^\s*(and|also|so|but|then|what about|how about|and what|and how|what else|anything else|ok|okay|"
    r"is that|is it|are they|does that|does it|do they|will it|will that|can it|can they)\b",
    re.I,
)
# openings that lean on the chat only when the question names no subject of its own ("why?", "how often?",
# but not "how long does chemotherapy last for ALL")
_ASKING = re.compile(r"^\s*(how long does|how often|why)\b", re.I)
# words that carry no topic of their own in a follow-up ("what are its side effects?" names no drug)
_GENERIC = frozenset(
    """side effects effect common serious long last lasts take takes taken often work works
    much many given give used use help helps safe risks risk happen happens start starts done
    same different else more mean means normal bad worse better usually""".split()
)


# treatments and phases a question can be about on its own
TOPICS = frozenset(
    """chemo chemotherapy radiation transplant surgery immunotherapy hospice trial maintenance induction
    consolidation targeted antibody antibodies palliative car""".split()
)


def is_follow_up(question: str, topics: frozenset[str] = TOPICS, specific: frozenset[str] = frozenset()) -> bool:
    """True for short or pronoun-led questions that lean on the previous turn for their topic.

    A question that names a treatment or drug of its own is searched alone, unless it opens like an
    ellipsis ("and vincristine?", "what about immunotherapy?"), which carries the previous intent over.
    Nor is one whose pronoun points back to a topic or a `specific` term it names itself ("what is an Ommaya
    reservoir and how do they put it in", "burkitt lymphoma in africa, is it caused by a virus"): asked after
    another question, those were searched as that question's follow-up.
    """
    tokens = words(question)
    topical = [w for w in tokens if w not in _GENERIC]
    if not topical:
        return True
    low = " " + " ".join(_TOKEN.findall(question.lower())) + " "
    # where the question names something: topics may be phrases; specific terms are words (a set lookup per
    # word: a large corpus has tens of thousands of them)
    named = [at for t in topics if (at := low.find(f" {t} ")) >= 0]
    names_topic = bool(named)
    named += [m.start() - 1 for m in re.finditer(r"\S+", low) if m.group() in specific]
    if _LEAD.search(question) and len(topical) <= 3:
        return True
    if _ASKING.search(question) and len(topical) <= 3 and not named:
        return True
    pronoun = _PRONOUN.search(low)
    if pronoun:
        if named and min(named) < pronoun.start():
            return False
        return len(topical) <= (2 if names_topic else 5)
    return False


def specific_terms(frequency: Mapping[str, int], ordinary: Collection[str], share: float = 0.1) -> frozenset[str]:
    """The corpus's rarer technical words (a subtype, a test, a drug: not ordinary English, at most `share` as
    frequent as its commonest such word, which names what the pages are about): a question that names one
    carries its own topic. Words of three letters or fewer are left out (too often a short form of anything)."""
    technical = {w: n for w, n in frequency.items() if len(w) > 3 and w not in ordinary}
    top = max(technical.values(), default=0)
    return frozenset(w for w, n in technical.items() if n <= share * top)


def contextualize(question: str, history: list[str] | tuple[str, ...] | None = None,
                  topics: frozenset[str] = TOPICS, specific: frozenset[str] = frozenset(),
                  spell: Callable[[str], str] | None = None) -> str:
    """The text to search for: the question, preceded by the topic of the chat when it is a follow-up.

    history holds the earlier user messages, oldest first. A follow-up borrows the (itself resolved)
    previous question; a question that names its own topic is searched as it is. `spell` corrects a
    question's typos before the decision ("burkits lymphoma" names a subtype); what is searched keeps them.
    """
    history = [h for h in (history or []) if h and h.strip()]
    if not history or not is_follow_up(spell(question) if spell else question, topics, specific):
        return question
    previous = contextualize(history[-1], history[:-1], topics, specific, spell)
    return f"{previous} {question}"
