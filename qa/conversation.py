"""Follow-up questions: decide whether earlier turns should shape the search query (pure functions)."""

from __future__ import annotations

import re

from qa.lexical import words

_TOKEN = re.compile(r"[a-z0-9+]+")
_PRONOUN = re.compile(r"\b(it|its|it's|that|this|these|those|they|them|their|he|she|his|her|one|ones|same)\b", re.I)
_LEAD = re.compile(
    r"^\s*(and|also|so|but|then|what about|how about|and what|and how|what else|anything else|"
    r"is that|is it|are they|does that|does it|do they|will it|will that|can it|can they|how long does|"
    r"how often|why|ok|okay)\b",
    re.I,
)
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


def is_follow_up(question: str, topics: frozenset[str] = TOPICS) -> bool:
    """True for short or pronoun-led questions that lean on the previous turn for their topic.

    A question that names a treatment or drug of its own is searched alone, unless it opens like an
    ellipsis ("and vincristine?", "what about immunotherapy?"), which carries the previous intent over.
    """
    tokens = words(question)
    topical = [w for w in tokens if w not in _GENERIC]
    if not topical:
        return True
    low = " " + " ".join(_TOKEN.findall(question.lower())) + " "
    names_topic = any(f" {t} " in low for t in topics)
    if _LEAD.search(question) and len(topical) <= 3:
        return True
    if _PRONOUN.search(question):
        return len(topical) <= (2 if names_topic else 5)
    return False


def contextualize(question: str, history: list[str] | tuple[str, ...] | None = None,
                  topics: frozenset[str] = TOPICS) -> str:
    """The text to search for: the question, preceded by the topic of the chat when it is a follow-up.

    history holds the earlier user messages, oldest first. A follow-up borrows the (itself resolved)
    previous question; a question that names its own topic is searched as it is.
    """
    history = [h for h in (history or []) if h and h.strip()]
    if not history or not is_follow_up(question, topics):
        return question
    previous = contextualize(history[-1], history[:-1], topics)
    return f"{previous} {question}"
